// Scenario tests of the replication core, as etcd's raft interaction tests: each file in
// testdata/scripts/ is a script of commands on a small network of replicas with in-memory logs, and the
// golden output below each command is what the replicas did (log writes, promises, messages).
//
// Method: the harness applies every Ready in order (writes, then the promise, then the
// messages go into a queue) and delivers messages only when a script says so, so every
// interleaving in a script is chosen by its author. After every command it checks the safety
// invariants itself, whatever the script prints: at most one leader per epoch, and every two
// replicas hold identical logs below the smaller of their commit points; a violation fails the
// test. Rewrite the golden output with `go test ./actors/replication -run TestInteraction -rewrite`
// and read the diff.
//
// Commands:
//
//	add-replicas ids=(..) [voters=(..)] [manual-sync]  replicas; bootstrap voters default to ids
//	tick [ids=(..)] [n=N]                      N ticks on the given (default: all) replicas
//	alive ids=(..) set=(..)                    membership view of the given replicas
//	gone ids=(..) set=(..)                     the nodes an operator removed for good
//	leader-committed [ids=(..)]                whether each leads with its predecessor's log committed
//	propose id=n1 [records=N]                  the leader appends a data batch
//	deliver [from=x] [to=y] [type=t] [drop]     deliver (or drop) the queued messages that match
//	stabilize                                  deliver everything until nothing is queued
//	sync [ids=(..)]                            make the logs durable (for manual-sync replicas)
//	crash id=x [lose-unsynced] [unclean]       restart from the log (dropping unsynced batches)
//	  [keep-batches=N]                         ... keeping only its first N batches (a power loss
//	                                           under fsync=interval: what it reported durable is lost)
//	isolate id=x / heal                        drop every message to or from x / stop dropping
//	set-desired id=x set=(..) [learners=(..)]  the leader's desired replica set
//	transfer id=x to=y                         the leader x hands its leadership to y
//	status / log                               print every replica's state / log
package replication

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		n := &network{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := n.run(d)
			if err != nil {
				t.Fatalf("%s: %v", d.Pos, err)
			}
			if err := n.checkSafety(); err != nil {
				t.Fatalf("%s: safety: %v\n%s", d.Pos, err, out)
			}
			return out
		})
	})
}

type node struct {
	r          *Replica
	log        *memLog
	manualSync bool
	commit     Offset // last commit point printed
}

type network struct {
	nodes    map[NodeID]*node
	ids      []NodeID
	queue    []Message
	isolated map[NodeID]bool
	leaders  map[Epoch]NodeID // every leader ever seen, per epoch
	// maxAppendBytes for new replicas (0: the default); 1 sends one batch per message.
	maxAppendBytes int
	out            *strings.Builder
}

func (n *network) run(d *datadriven.TestData) (string, error) {
	n.out = &strings.Builder{}
	var err error
	switch d.Cmd {
	case "add-replicas":
		voters := ids(d, "ids")
		if d.HasArg("voters") {
			voters = ids(d, "voters")
		}
		err = n.addReplicas(ids(d, "ids"), voters, d.HasArg("manual-sync"))
	case "tick":
		for range intArg(d, "n", 1) {
			for _, id := range n.pick(d) {
				n.nodes[id].r.Tick()
				if err := n.processReady(); err != nil {
					return "", err
				}
			}
		}
	case "alive":
		for _, id := range n.pick(d) {
			n.nodes[id].r.SetAlive(ids(d, "set"))
		}
	case "leader-committed":
		for _, id := range n.pick(d) {
			fmt.Fprintf(n.out, "%s: %v\n", id, n.nodes[id].r.LeaderCommitted())
		}
	case "gone":
		for _, id := range n.pick(d) {
			n.nodes[id].r.SetGone(ids(d, "set"))
		}
	case "propose":
		if perr := n.propose(NodeID(strArg(d, "id")), intArg(d, "records", 1)); perr != nil {
			fmt.Fprintf(n.out, "error: %v\n", perr)
		}
	case "deliver":
		err = n.deliver(strArg(d, "from"), strArg(d, "to"), strArg(d, "type"), d.HasArg("drop"))
	case "stabilize":
		err = n.stabilize()
	case "sync":
		for _, id := range n.pick(d) {
			nd := n.nodes[id]
			nd.log.synced = len(nd.log.batches)
			nd.r.Durable(nd.log.end)
		}
	case "crash":
		id, lose := NodeID(strArg(d, "id")), d.HasArg("lose-unsynced")
		if d.HasArg("keep-batches") { // the crash loses what it synced past them too
			nd := n.nodes[id]
			nd.log.synced, lose = min(nd.log.synced, intArg(d, "keep-batches", 0)), true
		}
		err = n.crash(id, lose, d.HasArg("unclean"))
	case "isolate":
		n.isolated[NodeID(strArg(d, "id"))] = true
	case "heal":
		n.isolated = map[NodeID]bool{}
	case "transfer":
		if !n.nodes[NodeID(strArg(d, "id"))].r.TransferLeadership(NodeID(strArg(d, "to"))) {
			fmt.Fprintf(n.out, "transfer refused\n")
		}
	case "set-desired":
		n.nodes[NodeID(strArg(d, "id"))].r.SetDesired(Config{Voters: ids(d, "set"), Learners: ids(d, "learners")})
	case "status":
		n.printStatus()
	case "log":
		for _, id := range n.ids {
			fmt.Fprintf(n.out, "%s: %s\n", id, n.nodes[id].log.describe())
		}
	default:
		return "", fmt.Errorf("unknown command %q", d.Cmd)
	}
	if err != nil {
		return "", err
	}
	if err := n.processReady(); err != nil {
		return "", err
	}
	if n.out.Len() == 0 {
		return "ok\n", nil
	}
	return n.out.String(), nil
}

func (n *network) addReplicas(list, voters []NodeID, manual bool) error {
	if n.nodes == nil {
		n.nodes, n.isolated, n.leaders = map[NodeID]*node{}, map[NodeID]bool{}, map[Epoch]NodeID{}
	}
	for _, id := range list {
		nd := &node{log: &memLog{}, manualSync: manual}
		r, err := New(Options{ID: id, Bootstrap: Config{Voters: voters}, Log: nd.log, ElectionTicks: 4, MaxAppendBytes: n.maxAppendBytes})
		if err != nil {
			return err
		}
		nd.r = r
		n.nodes[id] = nd
		n.ids = append(n.ids, id)
	}
	slices.Sort(n.ids)
	return nil
}

func (n *network) pick(d *datadriven.TestData) []NodeID {
	if d.HasArg("ids") {
		return ids(d, "ids")
	}
	if d.HasArg("id") {
		return []NodeID{NodeID(strArg(d, "id"))}
	}
	return n.ids
}

func (n *network) propose(id NodeID, records int) error {
	nd := n.nodes[id]
	if !nd.r.IsLeader() {
		return fmt.Errorf("%s is not the leader", id)
	}
	b := dataBatch(nd.log.end, nd.r.Status().Epoch, records)
	if err := nd.log.apply(LogWrite{Batch: b}); err != nil {
		return err
	}
	nd.r.Appended(nd.log.end)
	if !nd.manualSync {
		nd.log.synced = len(nd.log.batches)
		nd.r.Durable(nd.log.end)
	}
	return nil
}

// processReady applies every replica's Ready in order until none has anything left.
func (n *network) processReady() error {
	for progress := true; progress; {
		progress = false
		for _, id := range n.ids {
			nd := n.nodes[id]
			if !nd.r.HasReady() {
				continue
			}
			progress = true
			if err := n.apply(id, nd, nd.r.Ready()); err != nil {
				return err
			}
			nd.r.Advance()
			if !nd.manualSync && nd.log.synced < len(nd.log.batches) {
				nd.log.synced = len(nd.log.batches)
				nd.r.Durable(nd.log.end)
			}
		}
	}
	return nil
}

func (n *network) apply(id NodeID, nd *node, rd Ready) error {
	for _, w := range rd.Writes {
		if err := nd.log.apply(w); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if w.Truncate {
			fmt.Fprintf(n.out, "%s: truncate to %d\n", id, w.To)
		} else {
			fmt.Fprintf(n.out, "%s: append %s\n", id, describeBatches(w.Batch))
		}
	}
	if rd.Promise != 0 {
		nd.log.promised = rd.Promise
		fmt.Fprintf(n.out, "%s: promise %d\n", id, rd.Promise)
	}
	for _, m := range rd.Messages {
		fmt.Fprintf(n.out, "  %s\n", m)
		n.queue = append(n.queue, m)
	}
	if rd.Commit != nd.commit {
		nd.commit = rd.Commit
		fmt.Fprintf(n.out, "%s: commit %d\n", id, rd.Commit)
	}
	if st := nd.r.Status(); st.Role == RoleLeader {
		if other, ok := n.leaders[st.Epoch]; ok && other != id {
			return fmt.Errorf("two leaders in epoch %d: %s and %s", st.Epoch, other, id)
		}
		n.leaders[st.Epoch] = id
	}
	return nil
}

func (n *network) deliver(from, to, typ string, drop bool) error {
	queue := n.queue
	n.queue = nil
	for _, m := range queue {
		match := (from == "" || string(m.From) == from) && (to == "" || string(m.To) == to) &&
			(typ == "" || m.Type.String() == typ)
		switch {
		case !match:
			n.queue = append(n.queue, m)
		case drop || n.isolated[m.From] || n.isolated[m.To]:
			fmt.Fprintf(n.out, "dropped %s\n", m)
		default:
			if err := n.nodes[m.To].r.Step(m); err != nil {
				return err
			}
			if err := n.processReady(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *network) stabilize() error {
	for i := 0; len(n.queue) > 0; i++ {
		if i > 1000 {
			return fmt.Errorf("no quiescence after 1000 rounds")
		}
		if err := n.deliver("", "", "", false); err != nil {
			return err
		}
	}
	return nil
}

// crash restarts a replica from its log, as a shell would after a crash.
func (n *network) crash(id NodeID, loseUnsynced, unclean bool) error {
	nd := n.nodes[id]
	if loseUnsynced {
		keep := nd.log.synced
		end := nd.log.syncedEnd()
		nd.log.batches, nd.log.bases, nd.log.end = nd.log.batches[:keep], nd.log.bases[:keep], end
	}
	nd.log.synced = len(nd.log.batches)
	old := nd.r.opts
	r, err := New(Options{ID: id, Bootstrap: old.Bootstrap, Configs: nd.log.configs(), Log: nd.log,
		LogEnd: nd.log.end, DurableEnd: nd.log.end, History: nd.log.history(),
		PromisedEpoch: nd.log.promised, Unclean: unclean, ElectionTicks: old.ElectionTicks, MaxAppendBytes: old.MaxAppendBytes})
	if err != nil {
		return err
	}
	nd.r, nd.commit = r, 0
	n.queue = slices.DeleteFunc(n.queue, func(m Message) bool { return m.To == id })
	fmt.Fprintf(n.out, "%s: restarted with log %s\n", id, nd.log.describe())
	return nil
}

func (n *network) printStatus() {
	for _, id := range n.ids {
		s := n.nodes[id].r.Status()
		fmt.Fprintf(n.out, "%s: %s epoch=%d leader=%s commit=%d end=%d durable=%d %s", id, s.Role, s.Epoch,
			orDash(s.Leader), s.Commit, s.LogEnd, s.Durable, s.Config)
		if s.Unclean {
			n.out.WriteString(" unclean")
		}
		if s.Role == RoleLeader {
			fmt.Fprintf(n.out, " in-sync=%v", s.InSync())
		}
		n.out.WriteString("\n")
	}
}

// checkSafety: every two replicas agree below the smaller of their commit points.
func (n *network) checkSafety() error {
	for i, a := range n.ids {
		for _, b := range n.ids[i+1:] {
			la, lb := n.nodes[a].log, n.nodes[b].log
			c := min(n.nodes[a].r.commit, n.nodes[b].r.commit)
			for j := 0; j < len(la.batches) && j < len(lb.batches) && la.bases[j] < c; j++ {
				if string(la.batches[j]) != string(lb.batches[j]) {
					return fmt.Errorf("%s and %s differ at offset %d below commit %d: %s vs %s", a, b,
						la.bases[j], c, describeBatches(la.batches[j]), describeBatches(lb.batches[j]))
				}
			}
		}
	}
	return nil
}

func orDash(id NodeID) string {
	if id == "" {
		return "-"
	}
	return string(id)
}

func ids(d *datadriven.TestData, key string) []NodeID {
	arg, ok := d.Arg(key)
	if !ok {
		return nil
	}
	out := make([]NodeID, len(arg.Vals))
	for i, v := range arg.Vals {
		out[i] = NodeID(v)
	}
	return out
}

func strArg(d *datadriven.TestData, key string) string {
	arg, ok := d.Arg(key)
	if !ok || len(arg.Vals) == 0 {
		return ""
	}
	return arg.Vals[0]
}

func intArg(d *datadriven.TestData, key string, def int) int {
	s := strArg(d, key)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("%s=%q: %v", key, s, err))
	}
	return v
}
