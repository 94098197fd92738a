// Scenario tests of Membership with real memberlist instances on 127.0.0.1 (local gossip
// profile): a cluster forms and every node sees every other's metadata; a join retries until a
// seed appears; a crash is seen as dead and a leave as left; operator mistakes are refused with
// errors that name what differs; a member that died and was forgotten is found again by the
// re-join loop. Every wait is a condition with a deadline; every test ends with goleak.
package cluster

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Bounds for the local profile on one host. Detection takes well under a second (doc.go);
// the bounds leave room for a loaded CI machine and -race.
const (
	joinWithin   = 5 * time.Second
	detectWithin = 5 * time.Second
)

func TestThreeNodesFormACluster(t *testing.T) {
	verifyNoLeaks(t)
	a := start(t, testNode("a", "c1"), nil)
	b := start(t, testNode("b", "", a.GossipAddr()), nil) // no cluster id: adopts c1
	c := start(t, testNode("c", "c1", b.GossipAddr()), nil)
	select {
	case <-a.Joined():
	default:
		t.Fatal("a first node's Joined is not closed at Start")
	}
	for _, n := range []*Membership{b, c} {
		waitJoined(t, n, joinWithin)
	}
	if got := b.ClusterID(); got != "c1" {
		t.Errorf("b.ClusterID() = %q after joining, want the adopted %q", got, "c1")
	}
	waitFor(t, joinWithin, "every node sees every node alive", func() (bool, string) { return seesAll(a, b, c) })
	// Metadata reaches everyone, b's adopted cluster id included (it is re-advertised).
	for _, viewer := range []*Membership{a, b, c} {
		waitFor(t, joinWithin, viewer.LocalID()+" sees everyone's metadata", func() (bool, string) {
			got := viewer.Members()
			want := []Member{wantMember(a), wantMember(b), wantMember(c)}
			if len(got) != len(want) {
				return false, fmtMembers(got)
			}
			for i := range want {
				if got[i] != want[i] {
					return false, fmtMembers(got)
				}
			}
			return true, ""
		})
	}
	// The first event on a node is itself, alive.
	select {
	case ev := <-c.Events():
		if ev.Member.ID != "c" || ev.Member.State != StateAlive {
			t.Errorf("c's first event = %+v, want c alive", ev)
		}
	default:
		t.Error("c has no event queued")
	}
}

// wantMember is what every node should know about n once the cluster has settled.
func wantMember(n *Membership) Member {
	cfg := testNode(n.LocalID(), "")
	return Member{ID: n.LocalID(), ClusterID: "c1", GossipAddr: n.GossipAddr(), BrokerAddr: cfg.BrokerAddr,
		HTTPAddr: cfg.HTTPAddr, State: StateAlive, ProtocolMin: 1, ProtocolMax: 2}
}

func fmtMembers(ms []Member) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, strings.TrimPrefix(strings.ReplaceAll(
			strings.ReplaceAll(slog.AnyValue(m).String(), "\n", " "), "  ", " "), "cluster."))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func TestJoinRetriesUntilASeedAppears(t *testing.T) {
	verifyNoLeaks(t)
	seedAddr := freeAddr(t)
	logs := newTestLogs(t)
	b := start(t, testNode("b", "", seedAddr), logs)
	// Two failed attempts, each logged at WARN with the seed, the error and the hint.
	waitFor(t, joinWithin, "two failed joins logged", func() (bool, string) {
		got := logs.find(slog.LevelWarn, "cannot join the cluster")
		return len(got) >= 2, fmt2(got)
	})
	failure := logs.find(slog.LevelWarn, "cannot join the cluster")[0]
	if failure.attrs["seed"] != seedAddr || !strings.Contains(failure.attrs["error"], "refused") ||
		!strings.Contains(failure.attrs["hint"], "gossip addresses") {
		t.Errorf("failed join logged as %v; want the seed %s, the connection error and the hint", failure, seedAddr)
	}
	select {
	case <-b.Joined():
		t.Fatal("joined with no node at the seed address")
	default:
	}
	cfg := testNode("a", "c1")
	cfg.GossipAddr = seedAddr
	a := start(t, cfg, nil)
	waitJoined(t, b, joinWithin)
	waitFor(t, joinWithin, "a and b see each other", func() (bool, string) { return seesAll(a, b) })
	if b.ClusterID() != "c1" || b.JoinErr() != nil {
		t.Errorf("b: ClusterID %q JoinErr %v, want c1 and nil", b.ClusterID(), b.JoinErr())
	}
}

func fmt2(rs []logRecord) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.String())
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// threeNodes starts a settled cluster a, b, c.
func threeNodes(t *testing.T) (a, b, c *Membership) {
	t.Helper()
	a = start(t, testNode("a", "c1"), nil)
	b = start(t, testNode("b", "c1", a.GossipAddr()), nil)
	c = start(t, testNode("c", "c1", a.GossipAddr()), nil)
	waitFor(t, joinWithin, "every node sees every node alive", func() (bool, string) { return seesAll(a, b, c) })
	return a, b, c
}

func TestCrashIsSeenAsDead(t *testing.T) {
	verifyNoLeaks(t)
	a, b, c := threeNodes(t)
	crashed := time.Now()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for range c.Events() { // Shutdown closed it: this ends
	}
	for _, survivor := range []*Membership{a, b} {
		ev := awaitEvent(t, survivor, detectWithin, "c dead", func(ev Event) bool {
			return ev.Member.ID == "c" && ev.Member.State != StateAlive
		})
		if ev.Member.State != StateDead {
			t.Errorf("%s: c is %v after a crash, want dead", survivor.LocalID(), ev.Member.State)
		}
		t.Logf("%s saw c dead after %v", survivor.LocalID(), time.Since(crashed).Round(time.Millisecond))
		if m, state := stateOfMember(survivor, "c"); state != "dead" || m.BrokerAddr == "" {
			t.Errorf("%s: Members() has c as %+v, want it kept as dead with its addresses", survivor.LocalID(), m)
		}
	}
	// Forget drops it; an alive member is not forgotten.
	a.Forget("c")
	a.Forget("b")
	if _, state := stateOfMember(a, "c"); state != "unknown" {
		t.Errorf("after Forget(c), a has c as %s", state)
	}
	if _, state := stateOfMember(a, "b"); state != "alive" {
		t.Errorf("after Forget(b) of an alive member, a has b as %s, want alive", state)
	}
}

func TestLeaveIsSeenAsLeft(t *testing.T) {
	verifyNoLeaks(t)
	a, b, c := threeNodes(t)
	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	for range c.Events() { // Leave closed it: this ends
	}
	if err := c.Leave(time.Second); err != nil {
		t.Errorf("a second Leave: %v, want nil", err)
	}
	for _, survivor := range []*Membership{a, b} {
		ev := awaitEvent(t, survivor, detectWithin, "c gone", func(ev Event) bool {
			return ev.Member.ID == "c" && ev.Member.State.Gone()
		})
		if ev.Member.State != StateLeft {
			t.Errorf("%s: c is %v after Leave, want left", survivor.LocalID(), ev.Member.State)
		}
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name     string
		stranger func(seed string) Config
		want     []string // in the joiner's error and in the seed's LastRefusal
	}{
		{"duplicate node id", func(seed string) Config { return testNode("b", "c1", seed) },
			[]string{`id "b"`, "give every node its own node id"}},
		{"cluster id mismatch", func(seed string) Config { return testNode("x", "other", seed) },
			[]string{`"c1"`, `"other"`}},
		{"protocol versions do not overlap", func(seed string) Config {
			cfg := testNode("x", "c1", seed)
			cfg.ProtocolMin, cfg.ProtocolMax = 3, 4
			return cfg
		}, []string{"1..2", "3..4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			verifyNoLeaks(t)
			a := start(t, testNode("a", "c1"), nil)
			b := start(t, testNode("b", "c1", a.GossipAddr()), nil)
			waitFor(t, joinWithin, "a and b see each other", func() (bool, string) { return seesAll(a, b) })
			stranger := start(t, tc.stranger(a.GossipAddr()), nil)
			waitFor(t, joinWithin, "the stranger's join refused", func() (bool, string) {
				err := stranger.JoinErr()
				return err != nil, "JoinErr() = nil"
			})
			err := stranger.WaitJoined(t.Context())
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("WaitJoined = %v, want an error wrapping ErrRefused", err)
			}
			// The seed refuses too, after it has sent its state (memberlist's order), so wait.
			waitFor(t, joinWithin, "the seed reports refusing the stranger", func() (bool, string) {
				return a.LastRefusal() != nil, "LastRefusal() = nil"
			})
			checkMentions(t, "seed's refusal", a.LastRefusal().Error(), tc.want)
			checkMentions(t, "joiner's error", err.Error(), append(tc.want, b.GossipAddr()))
			checkMentions(t, "seed's refusal", a.LastRefusal().Error(), []string{stranger.GossipAddr()})
			// The stranger is not a member; b is still the one at its address.
			if m, _ := stateOfMember(a, stranger.LocalID()); m.GossipAddr == stranger.GossipAddr() {
				t.Errorf("a lists the refused stranger: %+v", m)
			}
			if m, state := stateOfMember(a, "b"); state != "alive" || m.GossipAddr != b.GossipAddr() {
				t.Errorf("a has b as %+v, want alive at %s", m, b.GossipAddr())
			}
		})
	}
}

func checkMentions(t *testing.T, what, text string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s %q does not mention %s", what, text, w)
		}
	}
}

// TestRejoinFindsAForgottenMember: b crashes, a declares it dead, and after memberlist's
// GossipToTheDeadTime a's memberlist forgets it. b restarts at the same address with no seeds,
// so only a's re-join loop (which keeps the addresses of dead members) can bring the two
// together again.
func TestRejoinFindsAForgottenMember(t *testing.T) {
	verifyNoLeaks(t)
	acfg := testNode("a", "c1")
	acfg.RejoinInterval = 200 * time.Millisecond
	a := start(t, acfg, nil)
	b := start(t, testNode("b", "c1", a.GossipAddr()), nil)
	waitFor(t, joinWithin, "a and b see each other", func() (bool, string) { return seesAll(a, b) })
	addr := b.GossipAddr()
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	awaitEvent(t, a, detectWithin, "b dead", func(ev Event) bool { return ev.Member.ID == "b" && ev.Member.State == StateDead })
	// Not a synchronisation: the scenario needs memberlist to have forgotten b, and memberlist
	// does that GossipToTheDeadTime after the death (checked at each probe round) without
	// telling anyone.
	ml := testNode("a", "c1").memberlistConfig()
	time.Sleep(ml.GossipToTheDeadTime + 2*ml.ProbeInterval)

	bcfg := testNode("b", "c1") // no seeds: b alone cannot find a
	bcfg.GossipAddr = addr
	b2 := start(t, bcfg, nil)
	waitFor(t, joinWithin, "a and the restarted b see each other", func() (bool, string) { return seesAll(a, b2) })
}
