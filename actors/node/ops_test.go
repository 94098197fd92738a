// Operator decisions (checkAdmin) on a node's cluster state built by hand: the view gossip
// gives, the catalog's topics and other nodes' announcements; each case asks for a drain or a
// removal and checks the catalog change or the refusal.
package node

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
)

// A node dead past --dead-grace is forgotten by gossip (neither alive nor eligible), but the
// catalog's replica sets and the leaders' announcements still name it until it is removed:
// `cluster remove --force` must take it (it answered "is not a member of this cluster": the
// cluster simulator's finding 4). A name nobody knows is still refused.
func TestRemoveANodeGossipForgot(t *testing.T) {
	n := &Node{cluster: newClusterState(0)}
	n.cluster.view.Store(&View{Alive: []string{"n1", "n2", "n3"}, Eligible: []string{"n1", "n2", "n3"}})
	r := routes{"t": &Topic{Settings: TopicSettings{Name: "t", Partitions: 2, Replication: 3,
		Assignment: [][]string{{"n1", "n2", "n4"}, {"n2", "n3", "n1"}}}}}
	n.routes.Store(&r)
	n.cluster.leaders["t/1"] = announced{notice: protocol.LeaderNotice{Topic: "t", Partition: 1, Leader: "n2",
		Epoch: 4, Replicas: []string{"n2", "n3", "n5"}}}

	for _, tc := range []struct {
		node, why string
	}{
		{"n4", "the catalog's replica set of t/0 names it"},
		{"n5", "n2's announcement of t/1 names it"},
	} {
		change, err := n.checkAdmin(protocol.ClusterAdminRequest{Op: protocol.AdminRemove, Node: tc.node, Force: true})
		if err != nil || change == nil || change.Node != tc.node || change.State != NodeRemoved {
			t.Errorf("remove --force %s (%s): change %+v, err %v; want it removed", tc.node, tc.why, change, err)
		}
	}
	_, err := n.checkAdmin(protocol.ClusterAdminRequest{Op: protocol.AdminRemove, Node: "n9", Force: true})
	if err == nil || !strings.Contains(err.Error(), "is not a member of this cluster") {
		t.Errorf("remove --force n9 (nobody names it): err %v, want 'is not a member of this cluster'", err)
	}
}

func TestMoveTargetAvoidsFlappingMembers(t *testing.T) {
	for _, tc := range []struct {
		name                              string
		placed, steady, current, flapping []string
		want                              []string
	}{
		{"no flapping member", []string{"n1", "n2", "n5"}, nil, []string{"n1", "n2", "n4"}, nil, []string{"n1", "n2", "n5"}},
		// n4 drains: placement wants n2, which flaps: move to n6 instead of waiting for n2.
		{"onto a flapping member", []string{"n5", "n1", "n2"}, []string{"n5", "n1", "n6"}, []string{"n5", "n1", "n4"}, []string{"n2"},
			[]string{"n5", "n1", "n6"}},
		{"a flapping member that holds a replica already", []string{"n5", "n1", "n2"}, []string{"n5", "n1", "n6"}, []string{"n5", "n1", "n2"}, []string{"n2"},
			[]string{"n5", "n1", "n2"}},
		{"too few steady members: heal only", []string{"n5", "n1", "n2"}, []string{"n5", "n1"}, []string{"n5", "n1", "n4"}, []string{"n2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steady := func() []string { return tc.steady }
			if got := moveTarget(tc.placed, steady, tc.current, tc.flapping, 3); !slices.Equal(got, tc.want) {
				t.Fatalf("moveTarget = %v, want %v", got, tc.want)
			}
		})
	}
}

// Only a leader's append starts a replica this node does not host, and not one from a leader
// older than the one whose replica set dropped this node's last replica of it: a stale
// candidate's promise request or a stale leader's append must not (seed 33).
func TestOnlyAnAppendStartsAReplica(t *testing.T) {
	n := &Node{cluster: newClusterState(0)}
	for _, typ := range []replication.MessageType{replication.MsgAppend, replication.MsgAppendResp, replication.MsgPromise,
		replication.MsgPromiseResp, replication.MsgFetch, replication.MsgFetchResp} {
		want := typ == replication.MsgAppend
		if got := n.startsReplica(protocol.ReplicaMessage{Topic: "t", Type: uint8(typ), Epoch: 3}); got != want {
			t.Errorf("a %s starts a replica: %v, want %v", typ, got, want)
		}
	}
	n.noteDropped("t", 0, 5)
	for _, tc := range []struct {
		epoch uint64
		want  bool
	}{{4, false}, {5, true}, {6, true}} {
		m := protocol.ReplicaMessage{Topic: "t", Partition: 0, Type: uint8(replication.MsgAppend), Epoch: tc.epoch}
		if got := n.startsReplica(m); got != tc.want {
			t.Errorf("after dropping the replica at epoch 5, an append of epoch %d starts one: %v, want %v", tc.epoch, got, tc.want)
		}
	}
	if !n.startsReplica(protocol.ReplicaMessage{Topic: "t", Partition: 1, Type: uint8(replication.MsgAppend), Epoch: 1}) {
		t.Error("another partition's append was refused")
	}
}
