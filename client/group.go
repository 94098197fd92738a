package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/protocol/resp"
)

// Consumer groups have Redis Streams semantics per partition (XGROUP, XREADGROUP, XACK, XCLAIM):
// a group remembers what it delivered to whom until it is acknowledged, so a crashed consumer's
// messages can be claimed by another. A group spans every partition of a topic: the client
// creates it on each and reads them in turn. The commands run on each partition's leader.

// ErrGroupCommand wraps a Redis error reply to a group command (NOGROUP, BUSYGROUP, ...).
var ErrGroupCommand = errors.New("group command refused")

// commandAttempts bounds the retries of one group command through leader changes.
const commandAttempts = 20

// command runs a Redis stream command on the leader of topic's partition and returns its reply
// (RESP3). A Redis error reply is returned as an error wrapping ErrGroupCommand.
func (c *Client) command(ctx context.Context, topic string, partition int32, args ...string) (resp.Value, error) {
	words := make([][]byte, len(args))
	for i, a := range args {
		words[i] = []byte(a)
	}
	req := &protocol.CommandRequest{Partition: partition, Args: words, Proto: 3}
	b := c.newBackoff()
	for attempt := 1; ; attempt++ {
		var out protocol.CommandResponse
		err := c.callLeader(ctx, topic, partition, protocol.TypeCommand, req, &out)
		if err == nil {
			v, _, err := resp.ParseReply(out.Reply)
			if err != nil {
				return resp.Value{}, fmt.Errorf("%s on %s/%d: %w", args[0], topic, partition, err)
			}
			if v.IsError() {
				if strings.HasPrefix(v.Text(), "TRYAGAIN ") && attempt < commandAttempts {
					if err := sleepCtx(ctx, b.next()); err != nil {
						return resp.Value{}, err
					}
					continue
				}
				return resp.Value{}, fmt.Errorf("%w: %s on %s/%d: %s", ErrGroupCommand, args[0], topic, partition, v.Text())
			}
			return v, nil
		}
		if classify(err) == kindFatal || attempt == commandAttempts {
			return resp.Value{}, err
		}
		if err := sleepCtx(ctx, b.next()); err != nil {
			return resp.Value{}, err
		}
	}
}

// partitions returns the partition ids of topic.
func (c *Client) partitions(ctx context.Context, topic string) ([]int32, error) {
	md, err := c.meta.topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, len(md.Partitions))
	for i, p := range md.Partitions {
		ids[i] = p.Partition
	}
	return ids, nil
}

// GroupOptions are how CreateGroup starts a group.
type GroupOptions struct {
	// From is where the group starts: "$" (only new messages, the default), "0" (everything
	// retained) or an id.
	From string
	// MaxDeliveries moves a message delivered this many times without an ack to the dead-letter
	// topic <topic>.dlq (0: never).
	MaxDeliveries int64
}

// CreateGroup creates the group on every partition of topic. A partition where it exists
// already is left as it is.
func (c *Client) CreateGroup(ctx context.Context, topic, group string, opts GroupOptions) error {
	parts, err := c.partitions(ctx, topic)
	if err != nil {
		return err
	}
	from := opts.From
	if from == "" {
		from = "$"
	}
	args := []string{"XGROUP", "CREATE", topic, group, from}
	if opts.MaxDeliveries > 0 {
		args = append(args, "MAXDELIVERIES", strconv.FormatInt(opts.MaxDeliveries, 10))
	}
	created := 0
	for _, p := range parts {
		_, err := c.command(ctx, topic, p, args...)
		switch {
		case err == nil:
			created++
		case strings.Contains(err.Error(), "BUSYGROUP"):
		default:
			return err
		}
	}
	if created == 0 {
		return fmt.Errorf("%w: group %q exists on every partition of %s already", ErrGroupCommand, group, topic)
	}
	return nil
}

// DeleteGroup destroys the group on every partition of topic; false when it existed nowhere.
func (c *Client) DeleteGroup(ctx context.Context, topic, group string) (bool, error) {
	parts, err := c.partitions(ctx, topic)
	if err != nil {
		return false, err
	}
	found := false
	for _, p := range parts {
		v, err := c.command(ctx, topic, p, "XGROUP", "DESTROY", topic, group)
		if err != nil {
			return found, err
		}
		found = found || v.Int() == 1
	}
	return found, nil
}

// GroupInfo is one group of a topic, summed over its partitions.
type GroupInfo struct {
	Name      string
	Consumers int64 // distinct consumer names over the partitions
	Pending   int64
	// Lag is the messages not delivered yet; LagKnown is false when a partition cannot tell
	// (Redis's nil lag, after deletions).
	Lag        int64
	LagKnown   bool
	Partitions []GroupPartition
}

// GroupPartition is a group on one partition.
type GroupPartition struct {
	Partition       int32
	LastDeliveredID batch.ID
	Pending, Lag    int64
	LagKnown        bool
	Consumers       []ConsumerInfo
}

// ConsumerInfo is one consumer of a group on one partition.
type ConsumerInfo struct {
	Name    string
	Pending int64
	Idle    time.Duration
}

// Groups describes the groups of topic, in name order.
func (c *Client) Groups(ctx context.Context, topic string) ([]GroupInfo, error) {
	parts, err := c.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	byName := map[string]*GroupInfo{}
	consumers := map[string]map[string]bool{}
	var names []string
	for _, p := range parts {
		v, err := c.command(ctx, topic, p, "XINFO", "GROUPS", topic)
		if err != nil {
			return nil, err
		}
		for _, g := range v.Elems() {
			f := fieldMap(g)
			name := string(f["name"].Bytes())
			gi := byName[name]
			if gi == nil {
				gi = &GroupInfo{Name: name, LagKnown: true}
				byName[name], consumers[name] = gi, map[string]bool{}
				names = append(names, name)
			}
			gp := GroupPartition{Partition: p, Pending: f["pending"].Int(), LagKnown: f["lag"].Kind() == resp.KindInteger, Lag: f["lag"].Int()}
			gp.LastDeliveredID, _ = batch.ParseID(string(f["last-delivered-id"].Bytes()), 0)
			cv, err := c.command(ctx, topic, p, "XINFO", "CONSUMERS", topic, name)
			if err != nil {
				return nil, err
			}
			for _, cons := range cv.Elems() {
				cf := fieldMap(cons)
				ci := ConsumerInfo{Name: string(cf["name"].Bytes()), Pending: cf["pending"].Int(), Idle: time.Duration(cf["idle"].Int()) * time.Millisecond}
				gp.Consumers = append(gp.Consumers, ci)
				consumers[name][ci.Name] = true
			}
			gi.Pending += gp.Pending
			gi.Lag += gp.Lag
			gi.LagKnown = gi.LagKnown && gp.LagKnown
			gi.Partitions = append(gi.Partitions, gp)
		}
	}
	out := make([]GroupInfo, 0, len(names))
	for _, n := range sortedStrings(names) {
		gi := byName[n]
		gi.Consumers = int64(len(consumers[n]))
		out = append(out, *gi)
	}
	return out, nil
}

// fieldMap reads a RESP3 map reply (or a RESP2 flat array) into field name -> value.
func fieldMap(v resp.Value) map[string]resp.Value {
	m := map[string]resp.Value{}
	elems := v.Elems()
	for i := 0; i+1 < len(elems); i += 2 {
		m[string(elems[i].Bytes())] = elems[i+1]
	}
	return m
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// GroupConsumer reads a topic as one named consumer of a group. Read hands out messages no
// other consumer of the group got; Ack acknowledges them; Claim takes over messages another
// consumer left unacknowledged too long. It is used by one goroutine at a time.
type GroupConsumer struct {
	c                  *Client
	topic, group, name string
	parts              []int32
	next               int
	// history is where the consumer's re-read of its own pending messages goes on per
	// partition ("0" at first; a restarted consumer first gets what it had not acknowledged),
	// and "" once that read came back empty.
	history map[int32]string
}

// NewGroupConsumer returns a consumer named name of group on topic. The group must exist
// (CreateGroup).
func (c *Client) NewGroupConsumer(topic, group, name string) (*GroupConsumer, error) {
	if err := checkTopicName(topic); err != nil {
		return nil, err
	}
	if group == "" || name == "" {
		return nil, fmt.Errorf("%w: a group consumer needs a group and a consumer name", protocol.ErrInvalidArgument)
	}
	return &GroupConsumer{c: c, topic: topic, group: group, name: name, history: map[int32]string{}}, nil
}

// Read returns up to count messages (at least one partition's worth when any has some): first
// what this consumer was given before and did not acknowledge (once, after it starts), then new
// messages, partitions in turn. With block > 0 it waits up to block for new messages when none
// are there; it returns no messages and no error when none came.
func (g *GroupConsumer) Read(ctx context.Context, count int, block time.Duration) ([]Message, error) {
	if g.parts == nil {
		parts, err := g.c.partitions(ctx, g.topic)
		if err != nil {
			return nil, err
		}
		g.parts = parts
	}
	count = max(count, 1)
	var out []Message
	for range g.parts {
		p := g.parts[g.next%len(g.parts)]
		g.next++
		if from, seen := g.history[p]; !seen || from != "" {
			if !seen {
				from = "0"
			}
			msgs, err := g.read(ctx, p, count-len(out), from, 0)
			if err != nil {
				return out, err
			}
			g.history[p] = ""
			if len(msgs) > 0 {
				g.history[p] = msgs[len(msgs)-1].ID.String()
				out = append(out, msgs...)
				if len(out) >= count {
					return out, nil
				}
				continue
			}
		}
		msgs, err := g.read(ctx, p, count-len(out), ">", 0)
		if err != nil {
			return out, err
		}
		out = append(out, msgs...)
		if len(out) >= count {
			return out, nil
		}
	}
	if len(out) > 0 || block <= 0 {
		return out, nil
	}
	// Nothing anywhere: wait on one partition (the next in turn) for up to block.
	p := g.parts[g.next%len(g.parts)]
	g.next++
	return g.read(ctx, p, count, ">", block)
}

func (g *GroupConsumer) read(ctx context.Context, p int32, count int, from string, block time.Duration) ([]Message, error) {
	args := []string{"XREADGROUP", "GROUP", g.group, g.name, "COUNT", strconv.Itoa(count)}
	if block > 0 {
		args = append(args, "BLOCK", strconv.FormatInt(max(block.Milliseconds(), 1), 10))
	}
	args = append(args, "STREAMS", g.topic, from)
	v, err := g.c.command(ctx, g.topic, p, args...)
	if err != nil {
		return nil, err
	}
	var out []Message
	kv := v.Elems()
	for i := 0; i+1 < len(kv); i += 2 {
		for _, e := range kv[i+1].Elems() {
			if m, ok := entryMessage(g.topic, p, e); ok {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// entryMessage turns a stream entry [id, [field, value, ...]] into a Message: the fields
// "key" and "value" first (a record produced natively) become Key and Value, the rest headers.
// An entry deleted since it was delivered (nil fields) is skipped.
func entryMessage(topic string, p int32, e resp.Value) (Message, bool) {
	parts := e.Elems()
	if len(parts) < 2 || parts[1].Kind() != resp.KindArray {
		return Message{}, false
	}
	id, err := batch.ParseID(string(parts[0].Bytes()), 0)
	if err != nil {
		return Message{}, false
	}
	m := Message{Topic: topic, Partition: p, ID: id, Timestamp: time.UnixMilli(int64(id.Ms))}
	fields := parts[1].Elems()
	if len(fields) >= 2 && string(fields[0].Bytes()) == "key" {
		m.Key, fields = fields[1].Bytes(), fields[2:]
	}
	if len(fields) >= 2 && string(fields[0].Bytes()) == "value" {
		m.Value, fields = fields[1].Bytes(), fields[2:]
	}
	for i := 0; i+1 < len(fields); i += 2 {
		m.Headers = append(m.Headers, batch.HeaderPair{Field: fields[i].Bytes(), Value: fields[i+1].Bytes()})
	}
	return m, true
}

// Ack acknowledges messages this group delivered; it returns how many were pending.
func (g *GroupConsumer) Ack(ctx context.Context, msgs ...Message) (int64, error) {
	byPart := map[int32][]string{}
	for _, m := range msgs {
		byPart[m.Partition] = append(byPart[m.Partition], m.ID.String())
	}
	var n int64
	for p, ids := range byPart {
		v, err := g.c.command(ctx, g.topic, p, append([]string{"XACK", g.topic, g.group}, ids...)...)
		if err != nil {
			return n, err
		}
		n += v.Int()
	}
	return n, nil
}

// Claim takes over up to count messages of the group that were delivered at least minIdle ago
// and not acknowledged (XAUTOCLAIM on each partition).
func (g *GroupConsumer) Claim(ctx context.Context, minIdle time.Duration, count int) ([]Message, error) {
	if g.parts == nil {
		parts, err := g.c.partitions(ctx, g.topic)
		if err != nil {
			return nil, err
		}
		g.parts = parts
	}
	var out []Message
	for _, p := range g.parts {
		if len(out) >= count {
			break
		}
		v, err := g.c.command(ctx, g.topic, p, "XAUTOCLAIM", g.topic, g.group, g.name,
			strconv.FormatInt(minIdle.Milliseconds(), 10), "0", "COUNT", strconv.Itoa(count-len(out)))
		if err != nil {
			return out, err
		}
		if parts := v.Elems(); len(parts) >= 2 {
			for _, e := range parts[1].Elems() {
				if m, ok := entryMessage(g.topic, p, e); ok {
					out = append(out, m)
				}
			}
		}
	}
	return out, nil
}
