// Randomised safety test of the replication core: a seeded swarm of faults over the scenario
// harness's network, checked after every step.
//
// Method: for each seed, 3 or 5 replicas run a few hundred random steps: ticks, proposals at
// whoever leads, deliveries in random order, drops, duplicates, crashes (losing unsynced batches
// and restarting unclean, as under fsync interval), isolation and disagreeing membership views.
// After every step the harness checks one leader per epoch and identical logs below the commit
// points; this test also remembers every batch that was ever below some replica's commit point
// and fails if any replica later holds a different batch at that offset (a committed record
// lost or rewritten). Then all faults heal and the cluster must converge: one leader, every
// remembered committed batch in its log. A failure prints the seed; rerun one seed with
// `go test ./actors/replication -run TestRandomSafety/seed=N -v`.
package replication

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRandomSafety(t *testing.T) {
	seeds := 300
	if s := os.Getenv("SHOAL_SEEDS"); s != "" {
		seeds, _ = strconv.Atoi(s)
	}
	if testing.Short() {
		seeds = 50
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			if err := runRandom(uint64(seed)); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		})
	}
}

type randomRun struct {
	n         *network
	rng       *rand.Rand
	committed map[Offset]string // offset → batch bytes once committed anywhere
	always    bool
}

func runRandom(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ids := []NodeID{"n1", "n2", "n3"}
	if rng.IntN(2) == 0 {
		ids = append(ids, "n4", "n5")
	}
	// Half the seeds run under fsync always (every write durable at once, crashes lose nothing),
	// half under interval (durable when synced; crashes lose the unsynced tail and restart
	// unclean).
	always := rng.IntN(2) == 0
	n := &network{}
	if rng.IntN(2) == 0 {
		n.maxAppendBytes = 1 // one batch per append: more interleavings
	}
	if err := n.addReplicas(ids, ids, !always); err != nil {
		return err
	}
	rr := &randomRun{n: n, rng: rng, committed: map[Offset]string{}, always: always}
	for step := range 1000 {
		if err := rr.step(); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if err := rr.check(); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
	}
	return rr.converge()
}

func (rr *randomRun) step() error {
	n, rng := rr.n, rr.rng
	n.out = &strings.Builder{}
	id := n.ids[rng.IntN(len(n.ids))]
	switch k := rng.IntN(100); {
	case k < 30:
		n.nodes[id].r.Tick()
	case k < 45:
		if n.nodes[id].r.IsLeader() {
			return n.propose(id, 1+rng.IntN(3))
		}
	case k < 75:
		rr.deliverOne(false)
	case k < 80:
		rr.deliverOne(true)
	case k < 88:
		nd := n.nodes[id]
		nd.log.synced = len(nd.log.batches)
		nd.r.Durable(nd.log.end)
	case k < 91:
		if err := n.crash(id, !rr.always, !rr.always); err != nil {
			return err
		}
	case k < 92:
		if r := n.nodes[id].r; r.IsLeader() {
			r.TransferLeadership(n.ids[rng.IntN(len(n.ids))])
		}
	case k < 95:
		n.isolated = map[NodeID]bool{}
		if rng.IntN(2) == 0 {
			n.isolated[id] = true
		}
	default:
		var view []NodeID
		for _, other := range n.ids {
			if rng.IntN(4) != 0 {
				view = append(view, other)
			}
		}
		n.nodes[id].r.SetAlive(view)
	}
	return n.processReady()
}

// deliverOne delivers (or with dup, delivers twice) one random queued message, or drops it.
func (rr *randomRun) deliverOne(dup bool) {
	n := rr.n
	if len(n.queue) == 0 {
		return
	}
	i := rr.rng.IntN(len(n.queue))
	m := n.queue[i]
	if !dup {
		n.queue = slices.Delete(n.queue, i, i+1)
	}
	if n.isolated[m.From] || n.isolated[m.To] || rr.rng.IntN(10) == 0 {
		return
	}
	if err := n.nodes[m.To].r.Step(m); err != nil {
		panic(err)
	}
}

// check remembers every committed batch and fails when one changes.
func (rr *randomRun) check() error {
	for _, id := range rr.n.ids {
		nd := rr.n.nodes[id]
		c := nd.r.commit
		for j, base := range nd.log.bases {
			if base >= c {
				break
			}
			b := string(nd.log.batches[j])
			if old, ok := rr.committed[base]; ok && old != b {
				return fmt.Errorf("%s holds %s at committed offset %d, was %s", id,
					describeBatches([]byte(b)), base, describeBatches([]byte(old)))
			}
			rr.committed[base] = b
		}
	}
	return nil
}

// converge heals everything and runs until one leader holds every committed batch.
func (rr *randomRun) converge() error {
	n := rr.n
	n.isolated = map[NodeID]bool{}
	for _, id := range n.ids {
		n.nodes[id].r.SetAlive(n.ids)
	}
	for round := range 400 {
		for _, id := range n.ids {
			nd := n.nodes[id]
			nd.log.synced = len(nd.log.batches)
			nd.r.Durable(nd.log.end)
			nd.r.Tick()
		}
		if err := n.processReady(); err != nil {
			return err
		}
		for len(n.queue) > 0 {
			if os.Getenv("SHOAL_TRACE") != "" && round > 390 {
				fmt.Println(n.queue[0])
			}
			rr.deliverOne(false)
			if err := n.processReady(); err != nil {
				return err
			}
		}
		if err := rr.check(); err != nil {
			return fmt.Errorf("converging, round %d: %w", round, err)
		}
		if leader := rr.leader(); leader != nil && rr.holdsCommitted(leader) {
			return nil
		}
	}
	n.out = &strings.Builder{}
	n.printStatus()
	return fmt.Errorf("no converged leader after 400 rounds of healing:\n%s", n.out)
}

func (rr *randomRun) leader() *node {
	var found *node
	for _, id := range rr.n.ids {
		if nd := rr.n.nodes[id]; nd.r.IsLeader() {
			if found == nil || found.r.epoch < nd.r.epoch {
				found = nd
			}
		}
	}
	return found
}

func (rr *randomRun) holdsCommitted(nd *node) bool {
	for base, b := range rr.committed {
		i := slices.Index(nd.log.bases, base)
		if i < 0 || string(nd.log.batches[i]) != b {
			return false
		}
	}
	return nd.r.commit == nd.log.end
}
