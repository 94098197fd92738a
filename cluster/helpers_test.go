// Test helpers shared by this package's tests: nodes on 127.0.0.1:0 under the local gossip
// profile, a log handler that records what the package logs (so tests can wait on a log line
// and check its fields), condition waits with deadlines (STYLE principle 17) and goleak.
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testNode returns a valid config for a node named id on 127.0.0.1:0, local profile.
func testNode(id, clusterID string, join ...string) Config {
	return Config{
		NodeID:      id,
		ClusterID:   clusterID,
		GossipAddr:  "127.0.0.1:0",
		BrokerAddr:  "broker-" + id + ".test:7070",
		HTTPAddr:    "http-" + id + ".test:7071",
		Join:        join,
		Profile:     ProfileLocal,
		ProtocolMin: 1,
		ProtocolMax: 2,
	}
}

// start starts a node with cfg, its logs going to logs (which may be nil: a fresh one), and
// shuts it down when the test ends.
func start(t *testing.T, cfg Config, logs *testLogs) *Membership {
	t.Helper()
	if logs == nil {
		logs = newTestLogs(t)
	}
	cfg.Logger = logs.logger()
	m, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// verifyNoLeaks checks for leaked goroutines when the test ends, after every Shutdown that the
// test registered (cleanups run last-in first-out, so call this first). NB(cluster):
// memberlist's Shutdown does not wait for its probe goroutine, which finishes the probe in
// flight (up to a probe interval, longer while its health score is degraded) before it sees
// the stop; so first wait, with a deadline, for memberlist's goroutines to end, then let
// goleak look at everything.
func verifyNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(15 * time.Second)
		for memberlistGoroutines() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		goleak.VerifyNone(t)
	})
}

// memberlistGoroutines counts the goroutines running memberlist code.
func memberlistGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/hashicorp/memberlist.") {
			n++
		}
	}
	return n
}

// waitFor polls cond until it returns ok or the deadline passes; then it fails the test with
// what cond last reported.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (ok bool, got string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: want %s, got %s", within, what, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitEvent reads m's events until one satisfies match, and returns it.
func awaitEvent(t *testing.T, m *Membership, within time.Duration, what string, match func(Event) bool) Event {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				t.Fatalf("%s: events closed before %s; saw %v", m.LocalID(), what, seen)
			}
			if match(ev) {
				return ev
			}
			seen = append(seen, ev.Member.String())
		case <-timer.C:
			t.Fatalf("%s: no event %s within %v; saw %v", m.LocalID(), what, within, seen)
		}
	}
}

// waitJoined waits for m to join.
func waitJoined(t *testing.T, m *Membership, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := m.WaitJoined(ctx); err != nil {
		t.Fatalf("%s: not joined: %v", m.LocalID(), err)
	}
}

// stateOfMember returns what m thinks of member id ("unknown" if nothing).
func stateOfMember(m *Membership, id string) (Member, string) {
	for _, x := range m.Members() {
		if x.ID == id {
			return x, x.State.String()
		}
	}
	return Member{}, "unknown"
}

// seesAll reports whether every node sees every other as alive; got lists each view.
func seesAll(nodes ...*Membership) (bool, string) {
	ok := true
	var views []string
	for _, n := range nodes {
		var parts []string
		for _, other := range nodes {
			_, state := stateOfMember(n, other.LocalID())
			parts = append(parts, other.LocalID()+"="+state)
			ok = ok && state == "alive"
		}
		views = append(views, n.LocalID()+" sees ["+strings.Join(parts, " ")+"]")
	}
	return ok, strings.Join(views, "; ")
}

// freeAddr returns a 127.0.0.1 address where nothing listens (for a little while).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// logRecord is one recorded log line.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r logRecord) String() string { return fmt.Sprintf("%s %s %v", r.level, r.msg, r.attrs) }

// testLogs records the records of the loggers it hands out, and forwards those at INFO and
// above (every one with SHOAL_TEST_DEBUG=1) to t.Log while the test runs (memberlist may log after Shutdown, when t.Log would
// panic).
type testLogs struct {
	t       *testing.T
	mu      sync.Mutex
	records []logRecord
	done    bool
}

func newTestLogs(t *testing.T) *testLogs {
	l := &testLogs{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l *testLogs) logger() *slog.Logger { return slog.New(&testHandler{logs: l}) }

// find returns the records at level or above whose message contains msg.
func (l *testLogs) find(level slog.Level, msg string) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		if r.level >= level && strings.Contains(r.msg, msg) {
			out = append(out, r)
		}
	}
	return out
}

// debugLogs: SHOAL_TEST_DEBUG=1 forwards DEBUG records too (memberlist's chatter).
var debugLogs = os.Getenv("SHOAL_TEST_DEBUG") != ""

type testHandler struct {
	logs  *testLogs
	attrs []slog.Attr
}

func (h *testHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *testHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	add := func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	l := h.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil
	}
	l.records = append(l.records, rec)
	if r.Level >= slog.LevelInfo || debugLogs {
		l.t.Log(rec.String())
	}
	return nil
}

func (h *testHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &testHandler{logs: h.logs, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *testHandler) WithGroup(string) slog.Handler { return h }
