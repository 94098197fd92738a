package actors

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/shoalmq/shoal/actors/group"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/protocol/resp"
)

// Consumer-group commands of the Redis front: each becomes a group.Command planned and logged
// by the partition's leader (actors/partition's Group), and its result becomes Redis's reply.

// dlqSuffix names a topic's dead-letter stream: <topic>.dlq.
const dlqSuffix = ".dlq"

// errNoKeyXGroup is Redis's reply to an XGROUP subcommand on a missing key.
const errNoKeyXGroup = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."

// missingKeyReply is what a command answers when its key names no stream; ok false when the
// command is not a group or info command.
func missingKeyReply(cmd resp.Command) (resp.Value, bool) {
	switch c := cmd.(type) {
	case *resp.XGroupCreate, *resp.XGroupSetID, *resp.XGroupDestroy, *resp.XGroupCreateConsumer, *resp.XGroupDelConsumer:
		return resp.ErrorText(errNoKeyXGroup), true
	case *resp.XReadGroup:
		return resp.ErrorText(fmt.Sprintf("NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP with GROUP option", c.Streams[0].Key, c.Group)), true
	case *resp.XAck:
		return resp.Int(0), true
	case *resp.XPending:
		return resp.ErrorText(fmt.Sprintf("NOGROUP No such key '%s' or consumer group '%s'", c.Key, c.Group)), true
	case *resp.XClaim:
		return resp.ErrorText(fmt.Sprintf("NOGROUP No such key '%s' or consumer group '%s'", c.Key, c.Group)), true
	case *resp.XAutoClaim:
		return resp.ErrorText(fmt.Sprintf("NOGROUP No such key '%s' or consumer group '%s'", c.Key, c.Group)), true
	case *resp.XInfoStream, *resp.XInfoGroups, *resp.XInfoConsumers, *resp.XSetID:
		return resp.ErrorText("ERR no such key"), true
	case *resp.XLen:
		return resp.Int(0), true
	case *resp.XRange:
		return resp.Array(), true
	case *resp.XDel, *resp.XTrim:
		return resp.Int(0), true
	}
	return resp.Value{}, false
}

// groupCommand translates a RESP group command for one stream; ok false for other commands.
func groupCommand(cmd resp.Command) (group.Command, bool) {
	switch c := cmd.(type) {
	case *resp.XGroupCreate:
		return group.CreateGroup{Key: c.Key, Group: c.Group, ID: c.Start.ID, FromLast: c.Start.Last,
			HasEntriesRead: c.EntriesRead != -1, EntriesRead: c.EntriesRead, MaxDeliveries: c.MaxDeliveries}, true
	case *resp.XGroupSetID:
		return group.SetGroupID{Key: c.Key, Group: c.Group, ID: c.Start.ID, FromLast: c.Start.Last,
			HasEntriesRead: c.EntriesRead != -1, EntriesRead: c.EntriesRead}, true
	case *resp.XGroupDestroy:
		return group.DestroyGroup{Key: c.Key, Group: c.Group}, true
	case *resp.XGroupCreateConsumer:
		return group.CreateConsumer{Key: c.Key, Group: c.Group, Consumer: c.Consumer}, true
	case *resp.XGroupDelConsumer:
		return group.DeleteConsumer{Key: c.Key, Group: c.Group, Consumer: c.Consumer}, true
	case *resp.XReadGroup:
		s := c.Streams[0]
		return group.ReadGroup{Key: s.Key, Group: c.Group, Consumer: c.Consumer, Count: c.Count,
			New: s.From == resp.ReadUndelivered, After: s.ID, NoAck: c.NoAck,
			Claim: c.ClaimMinIdleMs >= 0, ClaimMinIdleMs: max(c.ClaimMinIdleMs, 0)}, true
	case *resp.XAck:
		return group.Ack{Key: c.Key, Group: c.Group, IDs: c.IDs}, true
	case *resp.XPending:
		if !c.Extended {
			return group.PendingSummary{Key: c.Key, Group: c.Group}, true
		}
		return group.PendingRange{Key: c.Key, Group: c.Group, MinIdleMs: c.MinIdleMs, Start: c.Start, End: c.End,
			Count: c.Count, HasConsumer: c.HasConsumer, Consumer: c.Consumer}, true
	case *resp.XClaim:
		cl := group.Claim{Key: c.Key, Group: c.Group, Consumer: c.Consumer, MinIdleMs: c.MinIdleMs, IDs: c.IDs,
			HasRetryCount: c.RetryCount >= 0, RetryCount: c.RetryCount, Force: c.Force, JustID: c.JustID,
			HasLastID: !c.LastID.IsZero(), LastID: c.LastID}
		if c.Delivery.Set {
			cl.DeliveryTime, cl.DeliveryTimeMs = group.DeliveryTimeAt, c.Delivery.Ms
			if c.Delivery.Idle {
				cl.DeliveryTime = group.DeliveryTimeIdle
			}
		}
		return cl, true
	case *resp.XAutoClaim:
		return group.AutoClaim{Key: c.Key, Group: c.Group, Consumer: c.Consumer, MinIdleMs: c.MinIdleMs,
			Start: c.Start, Count: min(c.Count, group.MaxCount), JustID: c.JustID}, true
	case *resp.XInfoGroups:
		return group.InfoGroups{Key: c.Key}, true
	case *resp.XInfoConsumers:
		return group.InfoConsumers{Key: c.Key, Group: c.Group}, true
	}
	return nil, false
}

// redisGroupLocal runs a group or XINFO command on the partition this node leads.
func (b *Broker) redisGroupLocal(ctx context.Context, p *partition.Partition, cmd resp.Command, proto int) (resp.Value, bool) {
	if c, ok := cmd.(*resp.XInfoStream); ok {
		return b.redisXInfoStream(ctx, p, c, proto), true
	}
	gc, ok := groupCommand(cmd)
	if !ok {
		return resp.Value{}, false
	}
	if rc, ok := cmd.(*resp.XReadGroup); ok && rc.Block && rc.Streams[0].From == resp.ReadUndelivered {
		return b.redisBlockingReadGroup(ctx, p, rc, gc.(group.ReadGroup), proto), true
	}
	res, err := b.runGroup(ctx, p, gc)
	if err != nil {
		return redisError(err), true
	}
	return groupReply(p, cmd, res, proto), true
}

// runGroup plans, logs and applies gc on p. A plan that dead-letters entries first writes them
// to the dead-letter stream (and only then logs the ack), so an entry is never acked without
// being in the dead-letter stream; a crash in between delivers it to the dead-letter stream
// twice at worst.
func (b *Broker) runGroup(ctx context.Context, p *partition.Partition, gc group.Command) (group.Result, error) {
	written := map[batch.ID]bool{}
	for attempt := 0; ; attempt++ {
		var pending []group.DeadLetter
		res, err := p.Group(ctx, func(s *group.State, st group.Stream, nowMs int64) (*group.Entry, any, error) {
			plan, err := s.Plan(gc, st, nowMs)
			if err != nil {
				return nil, nil, err
			}
			for _, d := range deadLettersOf(plan.Result) {
				if !written[d.ID] {
					pending = append(pending, d)
				}
			}
			if len(pending) > 0 && attempt < 3 {
				return nil, nil, nil // write the dead letters first
			}
			return plan.Entry, plan.Result, nil
		})
		if err != nil {
			return nil, err
		}
		if len(pending) == 0 || attempt >= 3 {
			r, _ := res.(group.Result)
			return r, nil
		}
		if err := b.writeDeadLetters(ctx, p, pending); err != nil {
			return nil, err
		}
		for _, d := range pending {
			written[d.ID] = true
		}
	}
}

func deadLettersOf(r group.Result) []group.DeadLetter {
	switch r := r.(type) {
	case *group.ReadResult:
		return r.DeadLetters
	case *group.ClaimResult:
		return r.DeadLetters
	case *group.AutoClaimResult:
		return r.DeadLetters
	}
	return nil
}

// writeDeadLetters copies the dead-lettered entries to <topic>.dlq (acks quorum), with the
// group, consumer, delivery count and original id as extra fields.
func (b *Broker) writeDeadLetters(ctx context.Context, p *partition.Partition, dead []group.DeadLetter) error {
	dlq := p.Topic() + dlqSuffix
	t, err := b.ensureTopic(ctx, dlq)
	if err != nil {
		return fmt.Errorf("create the dead-letter stream %s: %w", dlq, err)
	}
	bb := batch.NewBuilder(4096)
	bb.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	for _, d := range dead {
		headers := []batch.HeaderPair{
			{Field: []byte("dlq-group"), Value: []byte(d.Group)},
			{Field: []byte("dlq-consumer"), Value: []byte(d.Owner)},
			{Field: []byte("dlq-deliveries"), Value: strconv.AppendInt(nil, d.DeliveryCount, 10)},
			{Field: []byte("dlq-id"), Value: []byte(d.ID.String())},
			{Field: []byte("dlq-stream"), Value: []byte(p.Topic())},
		}
		var key, value []byte
		if r, ok, err := p.RecordByID(d.ID); err == nil && ok {
			key, value = r.Key, r.Value
			for h := r.Headers(); h.Next(); {
				headers = append(headers, batch.HeaderPair{Field: h.Field(), Value: h.Value()})
			}
		}
		if err := bb.Add(batch.ID{}, time.Now().UnixMilli(), key, value, headers); err != nil {
			return fmt.Errorf("dead letter %v: %w", d.ID, err)
		}
	}
	data, err := bb.Finish()
	if err != nil {
		return err
	}
	req := &protocol.ProduceRequest{Topic: dlq, Acks: protocol.AcksQuorum, Batches: []protocol.ProducePartition{{Partition: 0, Batch: data}}}
	var out protocol.ProduceResponse
	err = b.onLeader(ctx, dlq, 0, protocol.TypeProduce, req, &out, func(q *partition.Partition) error {
		_, err := q.Produce(ctx, data, protocol.AcksQuorum)
		return err
	})
	if err == nil && len(out.Results) > 0 && out.Results[0].Error.Code != protocol.CodeOK {
		err = out.Results[0].Error.Err()
	}
	_ = t
	if err != nil {
		return fmt.Errorf("write to the dead-letter stream %s: %w", dlq, err)
	}
	return nil
}

// redisBlockingReadGroup is XREADGROUP ... BLOCK ms on ">": it reads, and while nothing is new
// waits for the commit point to move (or the timeout).
func (b *Broker) redisBlockingReadGroup(ctx context.Context, p *partition.Partition, c *resp.XReadGroup, rg group.ReadGroup, proto int) resp.Value {
	t := time.NewTimer(blockDuration(c.BlockMs))
	defer t.Stop()
	for {
		_, changed := p.Watch()
		res, err := b.runGroup(ctx, p, rg)
		if err != nil {
			return redisError(err)
		}
		if r, ok := res.(*group.ReadResult); !ok || len(r.Entries) > 0 {
			return groupReply(p, c, res, proto)
		}
		select {
		case <-changed:
		case <-t.C:
			return resp.NullArray
		case <-ctx.Done():
			return resp.NullArray
		case <-p.Done():
			return redisError(p.Err())
		}
	}
}

// groupReply is Redis's reply to a group command's result.
func groupReply(p *partition.Partition, cmd resp.Command, res group.Result, proto int) resp.Value {
	switch r := res.(type) {
	case group.OK:
		return resp.OK
	case group.Destroyed:
		return boolInt(r.Destroyed)
	case group.ConsumerCreated:
		return boolInt(r.Created)
	case group.ConsumerDeleted:
		return resp.Int(r.Pending)
	case group.Acked:
		return resp.Int(r.Acked)
	case *group.ReadResult:
		c := cmd.(*resp.XReadGroup)
		key := c.Streams[0].Key
		if c.Streams[0].From == resp.ReadUndelivered && len(r.Entries) == 0 {
			return resp.NullArray
		}
		ids := make([]batch.ID, len(r.Entries))
		for i, d := range r.Entries {
			ids[i] = d.ID
		}
		found := entriesByIDs(p, ids)
		entries := make([]resp.Value, 0, len(r.Entries))
		for i, d := range r.Entries {
			v := found[i]
			if !d.Exists || v.Kind() == 0 {
				v = resp.Array(resp.BulkID(d.ID), resp.NullArray)
			}
			if c.ClaimMinIdleMs >= 0 {
				v = resp.Array(append(v.Elems(), resp.Int(d.IdleMs), resp.Int(d.DeliveryCount))...)
			}
			entries = append(entries, v)
		}
		return streamsReply(proto, resp.BulkString(key), resp.Array(entries...))
	case group.PendingSummaryResult:
		if r.Count == 0 {
			return resp.Array(resp.Int(0), resp.Null, resp.Null, resp.NullArray)
		}
		consumers := make([]resp.Value, len(r.Consumers))
		for i, c := range r.Consumers {
			consumers[i] = resp.Array(resp.BulkString(c.Name), resp.BulkString(strconv.FormatInt(c.Count, 10)))
		}
		return resp.Array(resp.Int(r.Count), resp.BulkID(r.Min), resp.BulkID(r.Max), resp.Array(consumers...))
	case group.PendingRangeResult:
		out := make([]resp.Value, len(r.Entries))
		for i, e := range r.Entries {
			out[i] = resp.Array(resp.BulkID(e.ID), resp.BulkString(e.Consumer), resp.Int(e.IdleMs), resp.Int(e.DeliveryCount))
		}
		return resp.Array(out...)
	case *group.ClaimResult:
		return claimedReply(p, r.Claimed, cmd.(*resp.XClaim).JustID)
	case *group.AutoClaimResult:
		deleted := make([]resp.Value, len(r.Deleted))
		for i, id := range r.Deleted {
			deleted[i] = resp.BulkID(id)
		}
		return resp.Array(resp.BulkID(r.Next), claimedReply(p, r.Claimed, cmd.(*resp.XAutoClaim).JustID), resp.Array(deleted...))
	case group.GroupsResult:
		out := make([]resp.Value, len(r.Groups))
		for i, g := range r.Groups {
			out[i] = resp.Map(groupInfoFields(g)...)
		}
		return resp.Array(out...)
	case group.ConsumersResult:
		out := make([]resp.Value, len(r.Consumers))
		for i, c := range r.Consumers {
			out[i] = resp.Map(resp.BulkString("name"), resp.BulkString(c.Name), resp.BulkString("pending"), resp.Int(c.Pending),
				resp.BulkString("idle"), resp.Int(c.IdleMs))
		}
		return resp.Array(out...)
	}
	return resp.ErrorText(fmt.Sprintf("ERR no reply for %T", res))
}

func groupInfoFields(g group.GroupInfo) []resp.Value {
	entriesRead, lag := resp.Null, resp.Null
	if g.EntriesRead != group.EntriesReadUnknown {
		entriesRead = resp.Int(g.EntriesRead)
	}
	if g.LagKnown {
		lag = resp.Int(g.Lag)
	}
	return []resp.Value{resp.BulkString("name"), resp.BulkString(g.Name), resp.BulkString("consumers"), resp.Int(g.Consumers),
		resp.BulkString("pending"), resp.Int(g.Pending), resp.BulkString("last-delivered-id"), resp.BulkID(g.LastDeliveredID),
		resp.BulkString("entries-read"), entriesRead, resp.BulkString("lag"), lag}
}

func claimedReply(p *partition.Partition, claimed []group.ClaimedEntry, justID bool) resp.Value {
	out := make([]resp.Value, 0, len(claimed))
	if justID {
		for _, c := range claimed {
			out = append(out, resp.BulkID(c.ID))
		}
		return resp.Array(out...)
	}
	ids := make([]batch.ID, len(claimed))
	for i, c := range claimed {
		ids[i] = c.ID
	}
	for _, v := range entriesByIDs(p, ids) {
		if v.Kind() != 0 {
			out = append(out, v)
		}
	}
	return resp.Array(out...)
}

// entriesByIDs returns the live entries with the given ids as Redis replies them, in the order of
// ids; the zero Value where an id is not (or no longer) in the stream.
func entriesByIDs(p *partition.Partition, ids []batch.ID) []resp.Value {
	out := make([]resp.Value, len(ids))
	_ = p.RecordsByIDs(ids, func(i int, r batch.Record, ok bool) {
		if ok {
			out[i] = entryValue(r)
		}
	})
	return out
}

// streamsReply is XREAD's and XREADGROUP's reply shape: a map of key to entries in RESP3, an
// array of [key, entries] pairs in RESP2. kv alternates keys and entry arrays.
func streamsReply(proto int, kv ...resp.Value) resp.Value {
	if proto == 3 {
		return resp.Map(kv...)
	}
	pairs := make([]resp.Value, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, resp.Array(kv[i], kv[i+1]))
	}
	return resp.Array(pairs...)
}

// streamPairs returns the keys and entry arrays of a streamsReply, alternating.
func streamPairs(v resp.Value) []resp.Value {
	if v.Kind() == resp.KindMap {
		return v.Elems()
	}
	var kv []resp.Value
	for _, pair := range v.Elems() {
		kv = append(kv, pair.Elems()...)
	}
	return kv
}

func boolInt(b bool) resp.Value {
	if b {
		return resp.Int(1)
	}
	return resp.Int(0)
}

// redisXReadGroup is XREADGROUP over one or more keys.
func (b *Broker) redisXReadGroup(ctx context.Context, c *resp.XReadGroup, args [][]byte, proto int) resp.Value {
	if len(c.Streams) == 1 {
		s := c.Streams[0]
		v := b.redisOnLeader(ctx, s.Key, redisPartition, args, proto, false, func(p *partition.Partition) resp.Value {
			v, _ := b.redisGroupLocal(ctx, p, c, proto)
			return v
		})
		if v.Kind() == resp.KindNull {
			v, _ = missingKeyReply(c)
		}
		return v
	}
	return b.redisMultiRead(ctx, c.Streams, c.Block, c.BlockMs, proto, func(ctx context.Context, s resp.ReadStream, block bool) resp.Value {
		one := *c
		one.Streams, one.Block = []resp.ReadStream{s}, block
		return b.redisXReadGroup(ctx, &one, xreadGroupArgs(&one), proto)
	})
}

// xreadGroupArgs are the words of an XREADGROUP of one stream, for forwarding.
func xreadGroupArgs(c *resp.XReadGroup) [][]byte {
	args := [][]byte{[]byte("XREADGROUP"), []byte("GROUP"), []byte(c.Group), []byte(c.Consumer)}
	if c.Count > 0 {
		args = append(args, []byte("COUNT"), strconv.AppendInt(nil, c.Count, 10))
	}
	if c.Block {
		args = append(args, []byte("BLOCK"), strconv.AppendInt(nil, c.BlockMs, 10))
	}
	if c.ClaimMinIdleMs >= 0 {
		args = append(args, []byte("CLAIM"), strconv.AppendInt(nil, c.ClaimMinIdleMs, 10))
	}
	if c.NoAck {
		args = append(args, []byte("NOACK"))
	}
	s := c.Streams[0]
	return append(args, []byte("STREAMS"), []byte(s.Key), readPositionArg(s))
}

// redisXInfoStream is XINFO STREAM [FULL [COUNT n]] (Redis 7.0's fields).
func (b *Broker) redisXInfoStream(ctx context.Context, p *partition.Partition, c *resp.XInfoStream, proto int) resp.Value {
	info, err := p.StreamInfo()
	if err != nil {
		return redisError(err)
	}
	// Shoal keeps no radix tree; the two figures are the record count in Redis's default
	// node size (100 entries), for tools that show them.
	nodes := int64(math.Ceil(float64(info.Length) / 100))
	fields := []resp.Value{
		resp.BulkString("length"), resp.Int(int64(info.Length)),
		resp.BulkString("radix-tree-keys"), resp.Int(nodes),
		resp.BulkString("radix-tree-nodes"), resp.Int(nodes + 1),
		resp.BulkString("last-generated-id"), resp.BulkID(info.LastID),
		resp.BulkString("max-deleted-entry-id"), resp.BulkID(info.MaxDeletedID),
		resp.BulkString("entries-added"), resp.Int(int64(info.EntriesAdded)),
		resp.BulkString("recorded-first-entry-id"), resp.BulkID(info.FirstID),
	}
	if !c.Full {
		first, last := resp.Null, resp.Null
		if info.Length > 0 {
			if v, ok := firstCommitted(p); ok {
				first = v
			}
			if v, ok, err := lastCommitted(p); err == nil && ok {
				last = v
			}
		}
		fields = append(fields, resp.BulkString("groups"), resp.Int(int64(info.Groups)),
			resp.BulkString("first-entry"), first, resp.BulkString("last-entry"), last)
		return resp.Map(fields...)
	}
	count := c.Count
	if count == 0 {
		count = group.MaxCount
	}
	entries := b.redisXRange(p, &resp.XRange{Start: batch.ID{}, End: batch.MaxID, Count: count})
	res, err := b.runGroup(ctx, p, group.InfoStreamFull{Key: c.Key, Count: c.Count})
	if err != nil {
		return redisError(err)
	}
	full, _ := res.(group.StreamFullResult)
	groups := make([]resp.Value, len(full.Groups))
	for i, g := range full.Groups {
		pel := make([]resp.Value, len(g.Pending))
		for j, e := range g.Pending {
			pel[j] = resp.Array(resp.BulkID(e.ID), resp.BulkString(e.Consumer), resp.Int(e.DeliveryMs), resp.Int(e.DeliveryCount))
		}
		consumers := make([]resp.Value, len(g.Consumers))
		for j, cf := range g.Consumers {
			cpel := make([]resp.Value, len(cf.Pending))
			for k, e := range cf.Pending {
				cpel[k] = resp.Array(resp.BulkID(e.ID), resp.Int(e.DeliveryMs), resp.Int(e.DeliveryCount))
			}
			consumers[j] = resp.Map(resp.BulkString("name"), resp.BulkString(cf.Name), resp.BulkString("seen-time"), resp.Int(cf.SeenMs),
				resp.BulkString("pel-count"), resp.Int(cf.PELCount), resp.BulkString("pending"), resp.Array(cpel...))
		}
		gf := groupInfoFields(g.GroupInfo)
		gf = []resp.Value{gf[0], gf[1], gf[6], gf[7], gf[8], gf[9], gf[10], gf[11],
			resp.BulkString("pel-count"), resp.Int(g.PELCount), resp.BulkString("pending"), resp.Array(pel...),
			resp.BulkString("consumers"), resp.Array(consumers...)}
		groups[i] = resp.Map(gf...)
	}
	fields = append(fields, resp.BulkString("entries"), entries, resp.BulkString("groups"), resp.Array(groups...))
	return resp.Map(fields...)
}

// firstCommitted returns the first committed live entry.
func firstCommitted(p *partition.Partition) (resp.Value, bool) {
	var first resp.Value
	found := false
	_ = scanCommitted(p, p.LogStart(), p.HighWatermark(), func(r batch.Record) bool {
		first, found = entryValue(r), true
		return false
	})
	return first, found
}
