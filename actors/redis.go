package actors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shoalmq/shoal/actors/group"
	"github.com/shoalmq/shoal/actors/node"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/protocol/resp"
	"github.com/shoalmq/shoal/storage"
)

// The Redis front's commands run here. A stream key is a topic; the front addresses its
// partition 0 (a topic the front creates has one partition). A command is run by the node that
// leads the partition: any other node forwards the command's words (protocol.CommandRequest)
// and relays the leader's encoded reply, so a plain Redis client works against any node.

// Limits of the Redis front.
const (
	// maxRangeBytes bounds the record bytes of one XRANGE/XREAD reply without COUNT.
	maxRangeBytes = 64 << 20
	// maxBlock bounds XREAD/XREADGROUP BLOCK (0 = "forever" waits this long, then answers null).
	maxBlock = 24 * time.Hour
)

// redisPartition is the partition the Redis front addresses in a topic.
const redisPartition = 0

// RedisCommand runs one parsed Redis data command (args are its words, for forwarding; proto the
// connection's RESP version). The part that must keep a connection's order (handing XADD's
// record to its partition) runs before RedisCommand returns; the returned function waits for
// the reply and respects ctx.
func (b *Broker) RedisCommand(ctx context.Context, cmd resp.Command, args [][]byte, proto int) func(context.Context) resp.Value {
	switch c := cmd.(type) {
	case *resp.XAdd:
		return b.redisXAdd(ctx, c, args, proto)
	case *resp.Del:
		return func(ctx context.Context) resp.Value { return b.redisDel(ctx, c) }
	case *resp.Exists:
		return func(context.Context) resp.Value { return b.redisExists(c) }
	case *resp.Type:
		return func(context.Context) resp.Value { return b.redisType(c) }
	case *resp.Keys:
		return func(context.Context) resp.Value { return b.redisKeys(c) }
	case *resp.Scan:
		return func(context.Context) resp.Value { return b.redisScan(c) }
	case *resp.XRead:
		return func(ctx context.Context) resp.Value { return b.redisXRead(ctx, c, proto) }
	case *resp.XReadGroup:
		return func(ctx context.Context) resp.Value { return b.redisXReadGroup(ctx, c, args, proto) }
	}
	keys := cmd.Keys()
	if len(keys) != 1 {
		return func(context.Context) resp.Value {
			return resp.ErrorText(fmt.Sprintf("ERR command '%s' is not supported by Shoal", cmd.Name()))
		}
	}
	create := false
	if c, ok := cmd.(*resp.XGroupCreate); ok {
		create = c.MkStream
	}
	return func(ctx context.Context) resp.Value {
		v := b.redisOnLeader(ctx, keys[0], redisPartition, args, proto, create, func(p *partition.Partition) resp.Value {
			return b.redisLocal(ctx, p, cmd, proto)
		})
		if v.Kind() == resp.KindNull {
			if missing, ok := missingKeyReply(cmd); ok {
				return missing
			}
		}
		return v
	}
}

// RedisForwarded serves a command another node forwarded: it runs it here (this node must lead
// the partition) and encodes the reply.
func (b *Broker) redisForwarded(ctx context.Context, req *protocol.CommandRequest) (*protocol.CommandResponse, error) {
	cmd, err := resp.Parse(req.Args)
	if err != nil {
		return &protocol.CommandResponse{Reply: resp.AppendValue(nil, resp.ErrorValue(err), int(req.Proto))}, nil
	}
	keys := cmd.Keys()
	if len(keys) != 1 {
		return nil, protocol.Errorf(protocol.ErrInvalidArgument, "a forwarded command names one key; %s names %d", cmd.Name(), len(keys))
	}
	p, err := b.localPartition(keys[0], req.Partition)
	if err != nil {
		return nil, err
	}
	if !p.Leadership().IsLeader && b.cluster != nil {
		return nil, protocol.Errorf(protocol.ErrNotLeader, "node %s does not lead %s/%d", b.cfg.NodeID, keys[0], req.Partition)
	}
	var v resp.Value
	if x, ok := cmd.(*resp.XAdd); ok {
		v = b.redisXAddLocal(ctx, p, x)(ctx)
	} else {
		v = b.redisLocal(ctx, p, cmd, int(req.Proto))
	}
	if v.IsError() && isRouteErrorText(v.Text()) {
		// The leadership moved while it ran: the forwarding node retries elsewhere.
		return nil, protocol.Errorf(protocol.ErrNotLeader, "%s", v.Text())
	}
	return &protocol.CommandResponse{Reply: resp.AppendValue(nil, v, int(req.Proto))}, nil
}

// redisOnLeader runs local on the leader of key's partition, here or (forwarding args) on the
// node that leads it. A missing key is missing(): what the command answers for no stream.
func (b *Broker) redisOnLeader(ctx context.Context, key string, part int32, args [][]byte, proto int, create bool,
	local func(p *partition.Partition) resp.Value) resp.Value {
	if v, ok := b.redisTopic(ctx, key, create); !ok {
		return v
	}
	var out resp.Value
	var fwd protocol.CommandResponse
	err := b.onLeader(ctx, key, part, protocol.TypeCommand, &protocol.CommandRequest{Partition: part, Args: args, Proto: uint8(proto)}, &fwd,
		func(p *partition.Partition) error {
			out = local(p)
			if out.IsError() && isRouteErrorText(out.Text()) {
				return protocol.Errorf(protocol.ErrNotLeader, "%s", out.Text())
			}
			return nil
		})
	switch {
	case err != nil:
		return redisError(err)
	case fwd.Reply != nil:
		v, _, err := resp.ParseReply(fwd.Reply)
		if err != nil {
			return resp.ErrorText("ERR the partition leader's reply does not parse: " + oneLine(err))
		}
		return v
	}
	return out
}

// redisTopic checks a key names a topic the front may use; ok false comes with the reply.
// create makes the topic when it is missing (XADD, XGROUP CREATE MKSTREAM).
func (b *Broker) redisTopic(ctx context.Context, key string, create bool) (resp.Value, bool) {
	if strings.HasPrefix(key, "__") {
		return resp.ErrorText(fmt.Sprintf("ERR the key '%s' is reserved by Shoal (names starting with __)", key)), false
	}
	if err := node.ValidateTopicName(key); err != nil {
		return resp.ErrorText(fmt.Sprintf("ERR the key '%s' cannot name a Shoal stream: %v", key, err)), false
	}
	if _, ok := b.node.Topic(key); ok {
		return resp.Value{}, true
	}
	if !create {
		return resp.Null, false
	}
	if _, err := b.ensureTopic(ctx, key); err != nil {
		return redisError(err), false
	}
	return resp.Value{}, true
}

// redisLocal runs a single-key command on the partition this node leads.
func (b *Broker) redisLocal(ctx context.Context, p *partition.Partition, cmd resp.Command, proto int) resp.Value {
	switch c := cmd.(type) {
	case *resp.XLen:
		info, err := p.StreamInfo()
		if err != nil {
			return redisError(err)
		}
		return resp.Int(int64(info.Length))
	case *resp.XRange:
		return b.redisXRange(p, c)
	case *resp.XDel:
		n, err := p.Delete(ctx, c.IDs)
		if err != nil {
			return redisError(err)
		}
		return resp.Int(int64(n))
	case *resp.XTrim:
		n, err := p.Trim(ctx, storageTrim(c.Trim))
		if err != nil {
			return redisError(err)
		}
		return resp.Int(int64(n))
	case *resp.XRead:
		return b.redisXReadLocal(ctx, p, c, proto)
	case *resp.XSetID:
		if err := p.SetID(ctx, batch.SetIDValue{LastID: c.LastID, EntriesAdded: c.EntriesAdded, MaxDeletedID: c.MaxDeletedID}); err != nil {
			return redisError(err)
		}
		return resp.OK
	}
	if v, ok := b.redisGroupLocal(ctx, p, cmd, proto); ok {
		return v
	}
	return resp.ErrorText(fmt.Sprintf("ERR command '%s' is not supported by Shoal", cmd.Name()))
}

// redisXAdd hands the record to the partition now (keeping the connection's order when this node
// leads it) and returns the wait for its id.
func (b *Broker) redisXAdd(ctx context.Context, c *resp.XAdd, args [][]byte, proto int) func(context.Context) resp.Value {
	if v, ok := b.redisTopic(ctx, c.Key, !c.NoMkStream); !ok {
		return func(context.Context) resp.Value { return v }
	}
	if p, err := b.localPartition(c.Key, redisPartition); err == nil && (b.cluster == nil || p.Leadership().IsLeader) {
		wait := b.redisXAddLocal(ctx, p, c)
		return func(ctx context.Context) resp.Value {
			v := wait(ctx)
			if v.IsError() && isRouteErrorText(v.Text()) {
				return b.redisOnLeader(ctx, c.Key, redisPartition, args, proto, false, func(p *partition.Partition) resp.Value {
					return b.redisXAddLocal(ctx, p, c)(ctx)
				})
			}
			return v
		}
	}
	return func(ctx context.Context) resp.Value {
		return b.redisOnLeader(ctx, c.Key, redisPartition, args, proto, false, func(p *partition.Partition) resp.Value {
			return b.redisXAddLocal(ctx, p, c)(ctx)
		})
	}
}

// redisXAddLocal appends XADD's record on this node's partition (acks quorum) and trims after.
func (b *Broker) redisXAddLocal(ctx context.Context, p *partition.Partition, c *resp.XAdd) func(context.Context) resp.Value {
	data, err := xaddBatch(p, c, time.Now().UnixMilli())
	if err != nil {
		return func(context.Context) resp.Value { return redisError(err) }
	}
	pending, err := p.Submit(data, protocol.AcksQuorum)
	if err != nil {
		return func(context.Context) resp.Value { return redisError(err) }
	}
	return func(ctx context.Context) resp.Value {
		produced, err := pending.Wait(ctx)
		if err != nil {
			return redisError(err)
		}
		if c.Trim.Strategy != resp.TrimNone {
			if _, err := p.Trim(ctx, storageTrim(c.Trim)); err != nil {
				b.log.Warn("redis: XADD's trim failed", "key", c.Key, "err", err)
			}
		}
		return resp.BulkID(produced.FirstID)
	}
}

// xaddBatch builds the one-record batch of an XADD: the fields become the record's headers.
func xaddBatch(p *partition.Partition, c *resp.XAdd, nowMs int64) ([]byte, error) {
	if p.LastID() == batch.MaxID {
		return nil, batch.ErrIDSpaceExhausted // Redis checks this before the id itself
	}
	opts := batch.Options{ProducerID: batch.NoProducer}
	id := c.ID.ID
	switch {
	case c.ID.Auto:
		opts.AutoID, id = true, batch.ID{}
	case c.ID.AutoSeq:
		last := p.LastID()
		switch {
		case last.Ms > id.Ms:
			return nil, batch.ErrIDNotIncreasing
		case last.Ms == id.Ms:
			if last.Seq == math.MaxUint64 {
				return nil, batch.ErrIDNotIncreasing
			}
			id.Seq = last.Seq + 1
		default:
			id.Seq = 0
		}
	}
	headers := make([]batch.HeaderPair, 0, len(c.Fields)/2)
	for i := 0; i+1 < len(c.Fields); i += 2 {
		headers = append(headers, batch.HeaderPair{Field: c.Fields[i], Value: c.Fields[i+1]})
	}
	bb := batch.NewBuilder(batch.HeaderSize + 64 + fieldsSize(c.Fields))
	bb.Reset(opts)
	if err := bb.Add(id, nowMs, nil, nil, headers); err != nil {
		if errors.Is(err, batch.ErrLimit) {
			return nil, fmt.Errorf("%w: %w", protocol.ErrTooLarge, err)
		}
		return nil, err
	}
	out, err := bb.Finish()
	if err != nil {
		return nil, err
	}
	return slices.Clone(out), nil
}

func fieldsSize(fields [][]byte) int {
	n := 0
	for _, f := range fields {
		n += len(f) + 5
	}
	return n
}

func storageTrim(t resp.Trim) storage.Trim {
	st := storage.Trim{Approx: t.Approx}
	switch t.Strategy {
	case resp.TrimMaxLen:
		st.MaxLen = uint64(max(t.MaxLen, 0))
	case resp.TrimMinID:
		st.ByMinID, st.MinID = true, t.MinID
	}
	return st
}

// entryValue is a stream entry as Redis replies it: [id, [field, value, ...]]. A record written
// by XADD has its fields as headers; one produced natively shows its key and value first.
func entryValue(r batch.Record) resp.Value {
	fields := make([]resp.Value, 0, 2*r.HeaderCount+4)
	if len(r.Key) > 0 {
		fields = append(fields, resp.BulkString("key"), resp.Bulk(slices.Clone(r.Key)))
	}
	if len(r.Value) > 0 {
		fields = append(fields, resp.BulkString("value"), resp.Bulk(slices.Clone(r.Value)))
	}
	h := r.Headers()
	for h.Next() {
		fields = append(fields, resp.Bulk(slices.Clone(h.Field())), resp.Bulk(slices.Clone(h.Value())))
	}
	return resp.Array(resp.BulkID(r.ID), resp.Array(fields...))
}

func recordBytes(r batch.Record) int { return len(r.Key) + len(r.Value) + 32 }

// scanCommitted calls fn for the committed live records of p with offsets in [from, to), in order,
// until fn returns false.
func scanCommitted(p *partition.Partition, from, to uint64, fn func(batch.Record) bool) error {
	for from < to {
		res, err := p.Read(from, 1<<20)
		if err != nil {
			return err
		}
		rs := res.Records()
		for rs.Next() {
			r := rs.Record()
			if r.Offset >= to || !fn(r) {
				return nil
			}
		}
		if err := rs.Err(); err != nil {
			return err
		}
		if res.Next <= from {
			return nil
		}
		from = res.Next
	}
	return nil
}

// redisXRange is XRANGE and XREVRANGE over the committed records.
func (b *Broker) redisXRange(p *partition.Partition, c *resp.XRange) resp.Value {
	if c.Count == 0 || c.End.Less(c.Start) {
		if c.Count == 0 {
			return resp.NullArray
		}
		return resp.Array()
	}
	lo, err := p.Resolve(protocol.Position{Kind: protocol.PositionID, ID: c.Start})
	if err != nil {
		return redisError(err)
	}
	hi := p.HighWatermark()
	if c.End != batch.MaxID {
		if hi, err = p.Resolve(protocol.Position{Kind: protocol.PositionID, ID: nextID(c.End)}); err != nil {
			return redisError(err)
		}
	}
	limit := int(min(c.Count, math.MaxInt32))
	if c.Count < 0 {
		limit = math.MaxInt
	}
	var out []resp.Value
	size := 0
	tooBig := false
	take := func(v resp.Value, n int) bool {
		if size += n; size > maxRangeBytes {
			tooBig = true
			return false
		}
		out = append(out, v)
		return len(out) < limit
	}
	if !c.Reverse {
		err = scanCommitted(p, max(lo, p.LogStart()), hi, func(r batch.Record) bool { return take(entryValue(r), recordBytes(r)) })
	} else {
		err = scanBackwards(p, max(lo, p.LogStart()), hi, limit, take)
	}
	switch {
	case err != nil:
		return redisError(err)
	case tooBig:
		return resp.ErrorText(fmt.Sprintf("ERR the range holds more than %d MiB of records: use COUNT", maxRangeBytes>>20))
	}
	return resp.Array(out...)
}

// scanBackwards calls fn with the entries of [lo, hi) from the last one down (and each one's
// size), reading windows that double as it goes back.
func scanBackwards(p *partition.Partition, lo, hi uint64, limit int, fn func(resp.Value, int) bool) error {
	window := uint64(min(max(limit, 16), 4096)) * 2
	type sized struct {
		v resp.Value
		n int
	}
	for hi > lo {
		start := lo
		if hi-lo > window {
			start = hi - window
		}
		var chunk []sized
		err := scanCommitted(p, start, hi, func(r batch.Record) bool {
			chunk = append(chunk, sized{entryValue(r), recordBytes(r)})
			return true
		})
		if err != nil {
			return err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if !fn(chunk[i].v, chunk[i].n) {
				return nil
			}
		}
		hi = start
		window *= 2
	}
	return nil
}

// nextID is the smallest id above id (id below MaxID).
func nextID(id batch.ID) batch.ID {
	if id.Seq == math.MaxUint64 {
		return batch.ID{Ms: id.Ms + 1}
	}
	return batch.ID{Ms: id.Ms, Seq: id.Seq + 1}
}

// redisXRead is XREAD over one or more keys, each read by its partition's leader.
func (b *Broker) redisXRead(ctx context.Context, c *resp.XRead, proto int) resp.Value {
	if len(c.Streams) == 1 {
		s := c.Streams[0]
		args := xreadArgs(c, s)
		v := b.redisOnLeader(ctx, s.Key, redisPartition, args, proto, false, func(p *partition.Partition) resp.Value {
			return b.redisXReadLocal(ctx, p, c, proto)
		})
		if v.Kind() == resp.KindNull {
			if c.Block {
				// A missing key blocks like an empty stream, until the timeout.
				return b.blockUntil(ctx, c.BlockMs)
			}
			return resp.NullArray
		}
		return v
	}
	// Several keys: read each without blocking; if none has data and BLOCK was given, wait
	// on all at once and answer with the first that gets some.
	return b.redisMultiRead(ctx, c.Streams, c.Block, c.BlockMs, proto, func(ctx context.Context, s resp.ReadStream, block bool) resp.Value {
		one := *c
		one.Streams, one.Block = []resp.ReadStream{s}, block
		return b.redisXRead(ctx, &one, proto)
	})
}

// redisMultiRead runs one read per stream (non-blocking first, then blocking concurrently) and
// merges the replies: an array of [key, entries] pairs, or a null array.
func (b *Broker) redisMultiRead(ctx context.Context, streams []resp.ReadStream, block bool, blockMs int64, proto int,
	read func(ctx context.Context, s resp.ReadStream, block bool) resp.Value) resp.Value {
	var kv []resp.Value
	for _, s := range streams {
		v := read(ctx, s, false)
		if v.IsError() {
			return v
		}
		kv = append(kv, streamPairs(v)...)
	}
	if len(kv) > 0 || !block {
		if len(kv) == 0 {
			return resp.NullArray
		}
		return streamsReply(proto, kv...)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan resp.Value, len(streams))
	for _, s := range streams {
		go func() { answers <- read(ctx, s, true) }()
	}
	for range streams {
		v := <-answers
		if v.IsError() || len(streamPairs(v)) > 0 {
			cancel()
			return v
		}
	}
	return resp.NullArray
}

// blockUntil waits out a BLOCK on nothing and answers null.
func (b *Broker) blockUntil(ctx context.Context, blockMs int64) resp.Value {
	t := time.NewTimer(blockDuration(blockMs))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return resp.NullArray
}

func blockDuration(ms int64) time.Duration {
	if ms <= 0 {
		return maxBlock
	}
	return min(time.Duration(ms)*time.Millisecond, maxBlock)
}

// xreadArgs are the words of an XREAD of one stream, for forwarding (a "$" is resolved by the
// leader when it arrives, as in Redis).
func xreadArgs(c *resp.XRead, s resp.ReadStream) [][]byte {
	args := [][]byte{[]byte("XREAD")}
	if c.Count > 0 {
		args = append(args, []byte("COUNT"), fmt.Append(nil, c.Count))
	}
	if c.Block {
		args = append(args, []byte("BLOCK"), fmt.Append(nil, c.BlockMs))
	}
	args = append(args, []byte("STREAMS"), []byte(s.Key), readPositionArg(s))
	return args
}

func readPositionArg(s resp.ReadStream) []byte {
	switch s.From {
	case resp.ReadNew:
		return []byte("$")
	case resp.ReadLastEntry:
		return []byte("+")
	case resp.ReadUndelivered:
		return []byte(">")
	}
	return []byte(s.ID.String())
}

// redisXReadLocal is XREAD of one stream on its leader.
func (b *Broker) redisXReadLocal(ctx context.Context, p *partition.Partition, c *resp.XRead, proto int) resp.Value {
	s := c.Streams[0]
	var from uint64
	var err error
	switch s.From {
	case resp.ReadNew:
		from = p.HighWatermark()
	case resp.ReadLastEntry:
		last, ok, err := lastCommitted(p)
		if err != nil {
			return redisError(err)
		}
		if ok {
			return streamsReply(proto, resp.BulkString(s.Key), resp.Array(last))
		}
		from = p.HighWatermark()
	default:
		from, err = p.Resolve(protocol.Position{Kind: protocol.PositionID, ID: nextIDOrMax(s.ID)})
		if err != nil {
			return redisError(err)
		}
	}
	limit := math.MaxInt
	if c.Count > 0 {
		limit = int(min(c.Count, math.MaxInt32))
	}
	var deadline <-chan time.Time
	if c.Block {
		t := time.NewTimer(blockDuration(c.BlockMs))
		defer t.Stop()
		deadline = t.C
	}
	for {
		hw, changed := p.Watch()
		from = max(from, p.LogStart())
		if from < hw {
			var out []resp.Value
			size := 0
			err := scanCommitted(p, from, hw, func(r batch.Record) bool {
				size += recordBytes(r)
				out = append(out, entryValue(r))
				return len(out) < limit && size < maxRangeBytes
			})
			if err != nil {
				return redisError(err)
			}
			if len(out) > 0 {
				return streamsReply(proto, resp.BulkString(s.Key), resp.Array(out...))
			}
			from = hw
		}
		if !c.Block {
			return resp.NullArray
		}
		select {
		case <-changed:
		case <-deadline:
			return resp.NullArray
		case <-ctx.Done():
			return resp.NullArray
		case <-p.Done():
			return redisError(p.Err())
		}
	}
}

func nextIDOrMax(id batch.ID) batch.ID {
	if id == batch.MaxID {
		return id
	}
	return nextID(id)
}

// lastCommitted returns the last committed live entry.
func lastCommitted(p *partition.Partition) (resp.Value, bool, error) {
	var last resp.Value
	found := false
	err := scanBackwards(p, p.LogStart(), p.HighWatermark(), 1, func(v resp.Value, _ int) bool {
		last, found = v, true
		return false
	})
	return last, found, err
}

// redisDel deletes topics (DEL, UNLINK): the number that existed.
func (b *Broker) redisDel(ctx context.Context, c *resp.Del) resp.Value {
	n := 0
	for _, key := range c.KeyList {
		if strings.HasPrefix(key, "__") {
			continue
		}
		if _, ok := b.node.Topic(key); !ok {
			continue
		}
		if _, err := b.deleteTopic(ctx, &protocol.DeleteTopicRequest{Name: key}); err != nil {
			if errors.Is(err, protocol.ErrUnknownTopic) {
				continue
			}
			return redisError(err)
		}
		n++
	}
	return resp.Int(int64(n))
}

func (b *Broker) redisExists(c *resp.Exists) resp.Value {
	n := 0
	for _, key := range c.KeyList {
		if _, ok := b.node.Topic(key); ok && !strings.HasPrefix(key, "__") {
			n++
		}
	}
	return resp.Int(int64(n))
}

func (b *Broker) redisType(c *resp.Type) resp.Value {
	if _, ok := b.node.Topic(c.Key); ok && !strings.HasPrefix(c.Key, "__") {
		return resp.SimpleString("stream")
	}
	return resp.SimpleString("none")
}

// streamKeys are the topics the Redis front shows, sorted.
func (b *Broker) streamKeys() []string {
	var keys []string
	for _, t := range b.node.Topics() {
		if !strings.HasPrefix(t.Settings.Name, "__") {
			keys = append(keys, t.Settings.Name)
		}
	}
	slices.Sort(keys)
	return keys
}

func (b *Broker) redisKeys(c *resp.Keys) resp.Value {
	var out []resp.Value
	for _, k := range b.streamKeys() {
		if resp.Match(c.Pattern, k) {
			out = append(out, resp.BulkString(k))
		}
	}
	return resp.Array(out...)
}

// redisScan is SCAN over the sorted stream keys; the cursor is an index into them.
func (b *Broker) redisScan(c *resp.Scan) resp.Value {
	keys := b.streamKeys()
	count := int(max(c.Count, 10))
	i := int(min(c.Cursor, uint64(len(keys))))
	var out []resp.Value
	for n := 0; i < len(keys) && n < count; i, n = i+1, n+1 {
		if (!c.HasMatch || resp.Match(c.Match, keys[i])) && (c.TypeName == "" || strings.EqualFold(c.TypeName, "stream")) {
			out = append(out, resp.BulkString(keys[i]))
		}
	}
	next := i
	if i >= len(keys) {
		next = 0
	}
	return resp.Array(resp.BulkString(fmt.Sprint(next)), resp.Array(out...))
}

// isRouteErrorText: a reply that says the leadership moved, which the router retries.
func isRouteErrorText(text string) bool { return strings.HasPrefix(text, "TRYAGAIN ") }

// redisError turns a broker error into a Redis error reply.
func redisError(err error) resp.Value {
	var re resp.Error
	switch {
	case err == nil:
		return resp.OK
	case errors.As(err, &re):
		return resp.ErrorValue(re)
	case isGroupError(err):
		return resp.ErrorText(oneLine(err)) // Redis's text, code word included
	case errors.Is(err, batch.ErrIDNotIncreasing), errors.Is(err, batch.ErrIDZero), errors.Is(err, batch.ErrIDSpaceExhausted):
		for _, e := range []error{batch.ErrIDNotIncreasing, batch.ErrIDZero, batch.ErrIDSpaceExhausted} {
			if errors.Is(err, e) {
				return resp.ErrorText(e.Error())
			}
		}
	case errors.Is(err, storage.ErrSetIDTooSmall):
		return resp.ErrorText(storage.ErrSetIDTooSmall.Error())
	case errors.Is(err, storage.ErrSetIDEntriesAdded):
		return resp.ErrorText(storage.ErrSetIDEntriesAdded.Error())
	case errors.Is(err, protocol.ErrNotLeader), errors.Is(err, protocol.ErrUnavailable):
		return resp.ErrorText("TRYAGAIN " + oneLine(err))
	case errors.Is(err, protocol.ErrBusy):
		return resp.ErrorText("BUSY " + oneLine(err))
	case errors.Is(err, protocol.ErrTooLarge):
		return resp.ErrorText("ERR " + oneLine(err))
	case errors.Is(err, protocol.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return resp.ErrorText("TRYAGAIN " + oneLine(err))
	}
	return resp.ErrorText("ERR " + oneLine(err))
}

// isGroupError: an error of actors/group, whose text is Redis's reply.
func isGroupError(err error) bool {
	for _, e := range []error{group.ErrNoGroup, group.ErrBusyGroup, group.ErrEntriesRead, group.ErrAutoClaimCount,
		group.ErrLimit, group.ErrPendingFull, group.ErrInvalidArgument, group.ErrKeyMissing} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func oneLine(err error) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
}
