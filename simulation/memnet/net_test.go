// Tests of the in-memory network: link rules, hosts going down, drops, and the wire encoding
// of calls. Method: a tiny handler that records what it served; no timing is asserted.
package memnet

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoalmq/shoal/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type echo struct{ served int }

func (e *echo) Admit(_ context.Context, t protocol.MessageType, body []byte) func(context.Context) (any, error) {
	e.served++
	var req protocol.MetadataRequest
	err := protocol.Unmarshal(body, &req)
	return func(context.Context) (any, error) {
		if err != nil {
			return nil, err
		}
		if len(req.Topics) == 0 {
			return nil, protocol.Errorf(protocol.ErrUnknownTopic, "no topic")
		}
		return &protocol.MetadataResponse{Topics: []protocol.TopicMetadata{{Name: req.Topics[0]}}}, nil
	}
}

// transports returns the gossip transports of hosts a and b, shut down when the test ends.
func transports(t *testing.T, n *Network) (ta, tb *Transport) {
	t.Helper()
	ta, err := n.NewTransport("a")
	if err != nil {
		t.Fatal(err)
	}
	tb, err = n.NewTransport("b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ta.Shutdown(); _ = tb.Shutdown() })
	return ta, tb
}

func newTestNet() (*Network, *echo) {
	n := New(rand.New(rand.NewPCG(1, 2)))
	n.AddHost("a", "10.0.0.1:7946", "10.0.0.1:7070")
	n.AddHost("b", "10.0.0.2:7946", "10.0.0.2:7070")
	e := &echo{}
	n.SetHandler("b", e)
	return n, e
}

func TestCallThroughLinkRules(t *testing.T) {
	n, e := newTestNet()
	ctx := context.Background()
	c, err := n.Dial(ctx, "a", "10.0.0.2:7070")
	if err != nil {
		t.Fatal(err)
	}
	var resp protocol.MetadataResponse
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, &resp); err != nil || resp.Topics[0].Name != "t" {
		t.Fatalf("call: %v %+v", err, resp)
	}
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{}, &resp); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("a broker error crosses as its sentinel: %v", err)
	}
	// Two overlapping blocks: the link opens when both are undone.
	n.Block("a", "b")
	n.Block("a", "b")
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrAnswerLost) {
		t.Fatalf("blocked request: %v", err)
	}
	n.Unblock("a", "b")
	served := e.served
	n.Block("b", "a")
	n.Unblock("a", "b")
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); !errors.Is(err, ErrAnswerLost) || e.served != served+1 {
		t.Fatalf("blocked answer: %v (served %d, was %d)", err, e.served, served)
	}
	n.HealLinks()
	n.SetDown("b", true)
	n.SetDown("b", false)
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("a connection across a restart: %v", err)
	}
	if _, err := n.Dial(ctx, "a", "10.0.0.9:7070"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial an unknown address: %v", err)
	}
}

func TestDropAll(t *testing.T) {
	n, e := newTestNet()
	n.SetKnobs(Knobs{DropPercent: 100})
	ctx := context.Background()
	if _, err := n.Dial(ctx, "a", "10.0.0.2:7070"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial at 100%% drop: %v", err)
	}
	n.SetKnobs(Knobs{})
	c, err := n.Dial(ctx, "a", "10.0.0.2:7070")
	if err != nil {
		t.Fatal(err)
	}
	n.SetKnobs(Knobs{DropPercent: 100})
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); !errors.Is(err, ErrUnreachable) || e.served != 0 {
		t.Fatalf("call at 100%% drop: %v, served %d", err, e.served)
	}
	if st := n.Stats(); st.CallsDropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGossipPacketsAndStreams(t *testing.T) {
	n, _ := newTestNet()
	ta, tb := transports(t, n)
	if ip, port, _ := ta.FinalAdvertiseAddr("", 0); ip.String() != "10.0.0.1" || port != 7946 {
		t.Fatalf("advertised %v:%d", ip, port)
	}
	if _, err := ta.WriteToAddress([]byte("ping"), memberlist.Address{Addr: "10.0.0.2:7946"}); err != nil {
		t.Fatal(err)
	}
	if p := <-tb.PacketCh(); string(p.Buf) != "ping" || p.From.String() != "10.0.0.1:7946" {
		t.Fatalf("packet %q from %v", p.Buf, p.From)
	}
	n.Block("a", "b")
	_, _ = ta.WriteToAddress([]byte("lost"), memberlist.Address{Addr: "10.0.0.2:7946"})
	if len(tb.PacketCh()) != 0 {
		t.Fatal("a packet crossed a blocked link")
	}
	if _, err := ta.DialAddressTimeout(memberlist.Address{Addr: "10.0.0.2:7946"}, 0); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("stream across a blocked link: %v", err)
	}
	n.Unblock("a", "b")
	conn, err := ta.DialAddressTimeout(memberlist.Address{Addr: "10.0.0.2:7946"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := <-tb.StreamCh()
	go func() { _, _ = conn.Write([]byte("hi")) }()
	buf := make([]byte, 2)
	if _, err := peer.Read(buf); err != nil || string(buf) != "hi" || peer.RemoteAddr().String() != "10.0.0.1:7946" {
		t.Fatalf("stream read %q %v from %v", buf, err, peer.RemoteAddr())
	}
	n.Block("b", "a")
	if _, err := peer.Write([]byte("x")); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("write on a cut stream: %v", err)
	}
	_ = conn.Close()
}

func TestPauseHoldsMessagesUntilResume(t *testing.T) {
	n, e := newTestNet()
	ctx := context.Background()
	c, err := n.Dial(ctx, "a", "10.0.0.2:7070")
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := transports(t, n)
	n.Pause("b")
	// A call to a paused host waits: with a deadline it times out before the host served it.
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Call(short, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); !errors.Is(err, context.Canceled) || e.served != 0 {
		t.Fatalf("call to a paused host: %v, served %d", err, e.served)
	}
	// A packet waits too, and a stream is refused.
	_, _ = ta.WriteToAddress([]byte("late"), memberlist.Address{Addr: "10.0.0.2:7946"})
	if len(tb.PacketCh()) != 0 {
		t.Fatal("a packet reached a paused host")
	}
	if _, err := ta.DialAddressTimeout(memberlist.Address{Addr: "10.0.0.2:7946"}, 0); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("stream to a paused host: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil)
	}()
	n.Resume("b")
	if err := <-done; err != nil {
		t.Fatalf("a held call after the resume: %v", err)
	}
	if p := <-tb.PacketCh(); string(p.Buf) != "late" {
		t.Fatalf("held packet %q", p.Buf)
	}
	if st := n.Stats(); st.Held < 2 {
		t.Fatalf("held %d messages, want at least 2", st.Held)
	}
	n.Resume("b") // resuming a running host does nothing
}

func TestDuplicateAndSlow(t *testing.T) {
	n, e := newTestNet()
	ctx := context.Background()
	c, err := n.Dial(ctx, "a", "10.0.0.2:7070")
	if err != nil {
		t.Fatal(err)
	}
	n.SetKnobs(Knobs{DuplicatePercent: 100})
	// Only replication (peer) requests are handed over twice: a client's request never is.
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); err != nil || e.served != 1 {
		t.Fatalf("a client call at 100%% duplicate: %v, served %d", err, e.served)
	}
	_ = c.Call(ctx, protocol.TypeReplicate, &protocol.MetadataRequest{Topics: []string{"t"}}, nil)
	if e.served != 3 {
		t.Fatalf("a replication call at 100%% duplicate served %d times, want 2", e.served-1)
	}
	ta, tb := transports(t, n)
	_, _ = ta.WriteToAddress([]byte("twice"), memberlist.Address{Addr: "10.0.0.2:7946"})
	for range 2 {
		if p := <-tb.PacketCh(); string(p.Buf) != "twice" {
			t.Fatalf("packet %q", p.Buf)
		}
	}
	// A slow link: a call whose deadline is shorter than the link's delay never reaches b.
	n.SetKnobs(Knobs{})
	served := e.served
	n.Slow("a", "b", time.Hour)
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := c.Call(short, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); !errors.Is(err, context.DeadlineExceeded) || e.served != served {
		t.Fatalf("a call across a slow link: %v, served %d", err, e.served-served)
	}
	n.Unslow("a", "b", time.Hour)
	if err := c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil); err != nil {
		t.Fatalf("after Unslow: %v", err)
	}
}

func TestPausedSenderThatGoesDownLosesItsHeldMessages(t *testing.T) {
	n, e := newTestNet()
	ctx := context.Background()
	c, err := n.Dial(ctx, "a", "10.0.0.2:7070")
	if err != nil {
		t.Fatal(err)
	}
	n.Pause("a")
	done := make(chan error, 1)
	go func() {
		done <- c.Call(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, nil)
	}()
	for n.Stats().Held == 0 { // the call is held: it waits for a's resume
		runtime.Gosched()
	}
	n.SetDown("a", true) // a crashes while paused: what it had not sent dies with it
	n.SetDown("a", false)
	n.Resume("a")
	if err := <-done; !errors.Is(err, ErrClosed) || e.served != 0 {
		t.Fatalf("a held call of a sender that went down: %v, served %d", err, e.served)
	}
}
