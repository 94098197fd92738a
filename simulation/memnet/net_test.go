// Tests of the in-memory network: link rules, hosts going down, drops, and the wire encoding
// of calls. Method: a tiny handler that records what it served; no timing is asserted.
package memnet

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

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
	ta, err := n.NewTransport("a")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := n.NewTransport("b")
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Shutdown()
	defer tb.Shutdown()
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
