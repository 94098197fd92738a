package simulation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/resp"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/memnet"
)

// errReplyError wraps a Redis error reply.
var errReplyError = errors.New("error reply")

// simGroup is the consumer group the workload reads every partition with.
const simGroup = "g"

// groupClaimIdle is the idle time after which a group consumer claims another's pending entries
// (XAUTOCLAIM): entries a consumer left unacknowledged, or whose delivery it never heard of.
const groupClaimIdle = 300 * time.Millisecond

// command sends one Redis command for partition p to node, which must lead p (as the Go
// client, the workload routes by metadata), and returns the reply. A Redis error reply is an
// error.
func (r *clusterRun) command(ctx context.Context, p int, node string, args ...string) (resp.Value, error) {
	words := make([][]byte, len(args))
	for i, a := range args {
		words[i] = []byte(a)
	}
	var out protocol.CommandResponse
	if err := r.call(ctx, node, protocol.TypeCommand, &protocol.CommandRequest{Partition: int32(p), Args: words, Proto: 3}, &out); err != nil {
		return resp.Value{}, err
	}
	v, _, err := resp.ParseReply(out.Reply)
	if err != nil {
		return resp.Value{}, fmt.Errorf("%s: a reply that does not parse: %w", args[0], err)
	}
	if v.IsError() {
		return v, fmt.Errorf("%w: %s", errReplyError, v.Text())
	}
	return v, nil
}

// createGroups creates the group on every partition (reading from the start of the stream).
func (r *clusterRun) createGroups(deadline time.Time) error {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0))
	for p := range r.cfg.Partitions {
		if err := waitUntil(deadline, func() error {
			leader := r.lookupLeader(p, rng)
			if leader == "" {
				return fmt.Errorf("no leader of partition %d known", p)
			}
			ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
			defer cancel()
			_, err := r.command(ctx, p, leader, "XGROUP", "CREATE", simTopic, simGroup, "0")
			if err != nil && strings.Contains(err.Error(), "BUSYGROUP") {
				return nil // a retry after an answer that was lost
			}
			return err
		}); err != nil {
			return fmt.Errorf("create the group on partition %d: %w", p, err)
		}
	}
	return nil
}

// groupConsumer reads partition p through the group as consumers c1 and c2 in turn: new
// entries with XREADGROUP, now and then another consumer's idle ones with XAUTOCLAIM, and
// acknowledges most of what it got (the rest stays pending, to be claimed).
func (r *clusterRun) groupConsumer(ctx context.Context, p int, rng *rand.Rand) {
	leader := ""
	for ctx.Err() == nil {
		pause(ctx, r.faults.PollEvery/2+time.Duration(rng.Int64N(int64(r.faults.PollEvery)+1)))
		if leader == "" {
			if leader = r.lookupLeader(p, rng); leader == "" {
				continue
			}
		}
		node := leader
		consumer := fmt.Sprintf("c%d", 1+rng.IntN(2))
		var ids []string
		var ok bool
		if rng.IntN(6) == 0 {
			ids, ok = r.groupRead(p, node, consumer, false, "XAUTOCLAIM", simTopic, simGroup, consumer,
				strconv.FormatInt(groupClaimIdle.Milliseconds(), 10), "0", "COUNT", "10")
		} else {
			ids, ok = r.groupRead(p, node, consumer, true, "XREADGROUP", "GROUP", simGroup, consumer,
				"COUNT", strconv.Itoa(1+rng.IntN(8)), "STREAMS", simTopic, ">")
		}
		if !ok {
			leader = ""
			continue
		}
		var ack []string
		for _, id := range ids {
			if rng.IntN(8) != 0 {
				ack = append(ack, id)
			}
		}
		if len(ack) > 0 && !r.groupAck(p, node, ack) {
			leader = ""
		}
	}
}

// groupRead runs one XREADGROUP (isNew: with ">") or XAUTOCLAIM, records it, and returns the
// stream ids delivered.
func (r *clusterRun) groupRead(p int, node, consumer string, isNew bool, args ...string) ([]string, bool) {
	r.mu.Lock()
	invoke := r.now()
	op := r.hist.Invoke(check.Op{Kind: check.GroupRead, Partition: p, Invoke: invoke})
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	v, err := r.command(ctx, p, node, args...)
	if err != nil {
		r.complete(op, commandFailure(err))
		return nil, false
	}
	var entries []resp.Value
	if isNew {
		kv := v.Elems() // {stream: [entry...]}, or null when nothing is new
		for i := 0; i+1 < len(kv); i += 2 {
			entries = append(entries, kv[i+1].Elems()...)
		}
	} else if parts := v.Elems(); len(parts) >= 2 { // [next cursor, [entry...], [deleted ids]]
		entries = parts[1].Elems()
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if f := e.Elems(); len(f) > 0 {
			ids = append(ids, string(f[0].Bytes()))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.hist.Complete(op, now, check.OK)
	r.chk.GroupRead(invoke, now, p, consumer, isNew, ids)
	return ids, true
}

// groupAck acknowledges ids on partition p's group through node, and records it.
func (r *clusterRun) groupAck(p int, node string, ids []string) bool {
	r.mu.Lock()
	op := r.hist.Invoke(check.Op{Kind: check.GroupAck, Partition: p, Invoke: r.now()})
	r.chk.GroupAckInvoked(p, ids)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	if _, err := r.command(ctx, p, node, append([]string{"XACK", simTopic, simGroup}, ids...)...); err != nil {
		r.complete(op, commandFailure(err))
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.hist.Complete(op, now, check.OK)
	r.chk.GroupAcked(now, p, ids)
	return true
}

// commandFailure classifies a failed group command for the history's counts (the checker
// counts every XACK sent as a possible acknowledgement, whatever its result): unreachable or
// an error reply is a failure, anything else (a lost answer, a timeout) indeterminate.
func commandFailure(err error) check.Result {
	if errors.Is(err, memnet.ErrUnreachable) || errors.Is(err, memnet.ErrClosed) || errors.Is(err, errReplyError) ||
		errors.Is(err, protocol.ErrNotLeader) {
		return check.Failed
	}
	return check.Unknown
}

// groupFinal checks partition p's group on its healed leader: its last-delivered id, its
// pending entries and the stream's ids.
func (r *clusterRun) groupFinal(p int, leader string) {
	fail := func(what string, err error) {
		r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: p,
			Detail: fmt.Sprintf("the healed leader %s does not answer %s: %v", leader, what, err)})
	}
	// A command is retried for a while: the client's connection may be one the leader's
	// restart broke (it is dialled again), or the leader may not have committed its
	// predecessor's log yet (TRYAGAIN).
	deadline := time.Now().Add(5 * clusterCallTimeout)
	command := func(args ...string) (v resp.Value, err error) {
		err = waitUntil(deadline, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
			defer cancel()
			v, err = r.command(ctx, p, leader, args...)
			return err
		})
		return v, err
	}
	info, err := command("XINFO", "GROUPS", simTopic)
	if err != nil {
		fail("XINFO GROUPS", err)
		return
	}
	last := ""
	for _, g := range info.Elems() {
		f := g.Elems()
		fields := map[string]resp.Value{}
		for i := 0; i+1 < len(f); i += 2 {
			fields[string(f[i].Bytes())] = f[i+1]
		}
		if string(fields["name"].Bytes()) == simGroup {
			last = string(fields["last-delivered-id"].Bytes())
		}
	}
	if last == "" {
		fail("XINFO GROUPS with the group", fmt.Errorf("group %q missing", simGroup))
		return
	}
	pend, err := command("XPENDING", simTopic, simGroup, "-", "+", "10000")
	if err != nil {
		fail("XPENDING", err)
		return
	}
	pending := map[string]bool{}
	for _, e := range pend.Elems() {
		if f := e.Elems(); len(f) > 0 {
			pending[string(f[0].Bytes())] = true
		}
	}
	all, err := command("XRANGE", simTopic, "-", "+")
	if err != nil {
		fail("XRANGE", err)
		return
	}
	var log []string
	for _, e := range all.Elems() {
		if f := e.Elems(); len(f) > 0 {
			log = append(log, string(f[0].Bytes()))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chk.GroupFinal(r.now(), p, last, pending, log)
}
