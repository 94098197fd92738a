// Table tests of the view, the part of the package that memberlist's delegates call: the
// refusal checks (checkAlive, checkMerge) and the bounded event channel. No network: peers are
// built by hand, as the delegates would copy them out of memberlist. Each case states the peer
// and the substrings its refusal must contain (none: accepted).
package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// Addresses of the local node and of the members of the test view.
const (
	addrA = "10.0.0.1:7946"
	addrB = "10.0.0.2:7946"
	addrC = "10.0.0.3:7946"
	addrX = "10.0.0.9:7946"
)

// node builds a peer as the delegates would: id at addr in cluster, speaking pmin..pmax.
func node(id, addr, cluster string, pmin, pmax uint16) peer {
	return peer{id: id, gossipAddr: addr, state: StateAlive, meta: nodeMeta{ClusterID: cluster,
		BrokerAddr: id + ":7070", HTTPAddr: id + ":7071", ProtocolMin: pmin, ProtocolMax: pmax}}
}

func withState(p peer, s State) peer { p.state = s; return p }

// testView is node a of cluster clusterID (versions 1..2) that has seen itself and the members.
func testView(clusterID string, members ...peer) *view {
	self := node("a", addrA, clusterID, 1, 2)
	v := newView("a", self.meta, slog.New(slog.NewTextHandler(io.Discard, nil)))
	v.sawAlive(self)
	for _, m := range members {
		if m.state.Gone() {
			v.sawGone(m)
		} else {
			v.sawAlive(m)
		}
	}
	return v
}

func TestCheckAlive(t *testing.T) {
	b := node("b", addrB, "c1", 1, 2)
	cases := []struct {
		name    string
		members []peer
		peer    peer
		refused []string
	}{
		{"this node itself", nil, node("a", addrA, "c1", 1, 2), nil},
		{"a known member", []peer{b}, b, nil},
		{"a new member", nil, b, nil},
		{"a member of no cluster yet (joining)", nil, node("b", addrB, "", 1, 2), nil},
		{"this node's id at another address", nil, node("a", addrX, "c1", 1, 2), []string{`"a"`, addrA, addrX}},
		{"an alive member's id at another address", []peer{b}, node("b", addrX, "c1", 1, 2), []string{`"b"`, addrB, addrX}},
		{"a dead member back at another address", []peer{withState(b, StateDead)}, node("b", addrX, "c1", 1, 2), nil},
		{"another cluster", nil, node("x", addrX, "other", 1, 2), []string{`"c1"`, `"other"`, "x@" + addrX}},
		{"versions above", nil, node("x", addrX, "c1", 3, 4), []string{"1..2", "3..4", "x@" + addrX}},
		{"versions overlapping", nil, node("x", addrX, "c1", 2, 5), nil},
		{"versions outside the cluster's intersection", []peer{node("b", addrB, "c1", 2, 3)},
			node("x", addrX, "c1", 1, 1), []string{"2..2", "1..1"}},
		{"a member's own new range is not checked against its old one", []peer{node("b", addrB, "c1", 1, 1)},
			node("b", addrB, "c1", 2, 2), nil},
		{"unreadable metadata", nil, peer{id: "x", gossipAddr: addrX, metaErr: errors.New("bad bytes")},
			[]string{`"x"`, addrX, "bad bytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := testView("c1", tc.members...)
			checkRefusal(t, v.checkAlive(tc.peer), tc.refused)
		})
	}
}

func TestCheckMerge(t *testing.T) {
	b, c := node("b", addrB, "c1", 1, 2), node("c", addrC, "c1", 1, 2)
	cases := []struct {
		name      string
		clusterID string // of this node
		peers     []peer
		refused   []string
		retry     bool   // errNoClusterID: not a refusal
		adopted   string // the cluster id afterwards
	}{
		{"same cluster", "c1", []peer{b, c}, nil, false, "c1"},
		{"a joiner with no cluster id", "c1", []peer{node("x", addrX, "", 1, 2)}, nil, false, "c1"},
		{"adopt the other side's id", "", []peer{b, c, node("x", addrX, "", 1, 2)}, nil, false, "c1"},
		{"nothing to adopt", "", []peer{node("x", addrX, "", 1, 2)}, nil, true, ""},
		{"another cluster", "c1", []peer{node("x", addrX, "c2", 1, 2)}, []string{`"c1"`, `"c2"`, "x@" + addrX}, false, "c1"},
		{"the other side mixes ids", "", []peer{b, node("x", addrX, "c2", 1, 2)}, []string{`"c1"`, `"c2"`}, false, ""},
		{"an invalid id is not adopted", "", []peer{node("x", addrX, "bad id", 1, 2)}, []string{`"bad id"`}, false, ""},
		{"dead peers do not count", "c1", []peer{b, withState(node("x", addrX, "c2", 7, 7), StateDead)}, nil, false, "c1"},
		{"versions do not overlap", "c1", []peer{node("x", addrX, "c1", 3, 4), node("y", addrC, "c1", 2, 4)},
			[]string{"1..2", "3..4", "x@" + addrX, "y@" + addrC}, false, "c1"},
		{"the other side uses this node's id", "c1", []peer{node("a", addrX, "c1", 1, 2)}, []string{`"a"`, addrX}, false, "c1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := testView(tc.clusterID)
			err := v.checkMerge(tc.peers)
			if tc.retry {
				if !errors.Is(err, errNoClusterID) {
					t.Fatalf("checkMerge = %v, want errNoClusterID (retry later)", err)
				}
			} else {
				checkRefusal(t, err, tc.refused)
			}
			if got := v.getClusterID(); got != tc.adopted {
				t.Errorf("cluster id afterwards = %q, want %q", got, tc.adopted)
			}
		})
	}
}

// checkRefusal: want nil means err must be nil; otherwise err wraps ErrRefused and contains each.
func checkRefusal(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v; want accepted", err)
		}
		return
	}
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want a refusal (ErrRefused) mentioning %q", err, want)
	}
	checkMentions(t, "refusal", err.Error(), want)
}

func TestAdoptionSignalsTheMetadataChange(t *testing.T) {
	v := testView("")
	if err := v.checkMerge([]peer{node("b", addrB, "c1", 1, 2)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.metaChanged:
	default:
		t.Fatal("adopting a cluster id did not signal metaChanged")
	}
	if got := v.localMeta().ClusterID; got != "c1" {
		t.Errorf("advertised cluster id = %q, want c1", got)
	}
}

// TestRefusalInJoinError: the join loop finds its merge refusal inside memberlist's Join
// error, whose text is all that survives of it.
func TestRefusalInJoinError(t *testing.T) {
	v := testView("c1")
	refusal := v.checkMerge([]peer{node("x", addrX, "c2", 1, 2)})
	joinErr := fmt.Errorf("1 error occurred:\n\t* failed to join %s: %v\n\n", addrX, refusal)
	if got := v.refusalIn(joinErr); got != refusal {
		t.Errorf("refusalIn = %v, want %v", got, refusal)
	}
	if got := v.refusalIn(errors.New("failed to join: connection refused")); got != nil {
		t.Errorf("refusalIn(connection refused) = %v, want nil", got)
	}
}

// TestEventsOverflowSetsResync fills the channel without reading it: the events past its
// capacity are dropped, and the next one delivered after the reader catches up says Resync.
func TestEventsOverflowSetsResync(t *testing.T) {
	v := testView("c1") // one event queued: a, alive
	b := node("b", addrB, "c1", 1, 2)
	for i := range EventsCapacity + 10 {
		b.meta.BrokerAddr = fmt.Sprintf("b:%d", i)
		v.sawAlive(b)
	}
	if got := len(v.events); got != EventsCapacity {
		t.Fatalf("queued %d events, want the capacity %d", got, EventsCapacity)
	}
	for range EventsCapacity {
		if ev := <-v.events; ev.Resync {
			t.Fatalf("event %+v before any drop has Resync", ev)
		}
	}
	v.sawGone(b)
	v.sawAlive(b)
	first, second := <-v.events, <-v.events
	if !first.Resync || first.Member.State != StateDead {
		t.Errorf("first event after the drops = %+v, want b dead with Resync", first)
	}
	if second.Resync {
		t.Errorf("second event after the drops = %+v, want no Resync", second)
	}
	// Members has the full picture: b alive with its latest metadata.
	if m, _ := findMember(v.membersSorted(), "b"); m.BrokerAddr != fmt.Sprintf("b:%d", EventsCapacity+9) || m.State != StateAlive {
		t.Errorf("Members has b as %+v", m)
	}
}

func TestUnchangedMemberEmitsNothing(t *testing.T) {
	v := testView("c1")
	<-v.events // a
	b := node("b", addrB, "c1", 1, 2)
	v.sawAlive(b)
	v.sawAlive(b)
	if got := len(v.events); got != 1 {
		t.Errorf("two identical notifications queued %d events, want 1", got)
	}
}

func TestForgetAndGoneAddrs(t *testing.T) {
	b, c := node("b", addrB, "c1", 1, 2), node("c", addrC, "c1", 1, 2)
	v := testView("c1", b, withState(c, StateDead), withState(node("d", addrX, "c1", 1, 2), StateLeft))
	if got, want := strings.Join(v.goneAddrs(), " "), addrC+" "+addrX; got != want {
		t.Errorf("goneAddrs = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		id   string
		want bool
	}{{"a", false}, {"b", false}, {"c", true}, {"d", true}, {"nobody", false}} {
		if got := v.forget(tc.id); got != tc.want {
			t.Errorf("forget(%s) = %v, want %v", tc.id, got, tc.want)
		}
	}
	var ids []string
	for _, m := range v.membersSorted() {
		ids = append(ids, m.ID)
	}
	if got := strings.Join(ids, " "); got != "a b" {
		t.Errorf("members after forgetting = %s, want a b", got)
	}
}

func TestLeavingMemberIsLeftNotDead(t *testing.T) {
	v := testView("c1")
	b := node("b", addrB, "c1", 1, 2)
	v.sawAlive(b)
	v.sawGone(b)
	if m, _ := findMember(v.membersSorted(), "b"); m.State != StateDead {
		t.Errorf("gone without the leaving flag: %v, want dead", m.State)
	}
	b.meta.Leaving = true
	v.sawAlive(b)
	v.sawGone(b)
	if m, _ := findMember(v.membersSorted(), "b"); m.State != StateLeft {
		t.Errorf("gone with the leaving flag: %v, want left", m.State)
	}
}

func findMember(ms []Member, id string) (Member, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateAlive: "alive", StateSuspect: "suspect", StateDead: "dead", StateLeft: "left", 9: "state(9)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", s, got, want)
		}
	}
}
