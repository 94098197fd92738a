//go:build linux

package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/shoalmq/shoal/protocol/batch"
)

// TestRedisPipelinedXAdds: a pipeline of XADDs to one stream is written as one batch (a
// session's run) but answers like separate commands: every XADD its own increasing id, in order;
// a command in the middle of the pipeline (XLEN, XRANGE) sees the XADDs before it; XADDs to
// another stream and explicit ids in between keep their order.
func TestRedisPipelinedXAdds(t *testing.T) {
	addr := startShoalRESP(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "pipe", Values: []string{"first", "x"}}).Err(); err != nil {
		t.Fatal(err) // creates the stream; the pipelined XADDs below can then be batched
	}
	pipe := rdb.Pipeline()
	var adds []*redis.StringCmd
	for i := range 300 {
		adds = append(adds, pipe.XAdd(ctx, &redis.XAddArgs{Stream: "pipe", Values: []string{"n", fmt.Sprint(i)}}))
		if i == 150 {
			pipe.XLen(ctx, "pipe")
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: "other", ID: "5-5", Values: []string{"k", "v"}})
		}
	}
	lenAfter := pipe.XLen(ctx, "pipe")
	last := pipe.XRevRangeN(ctx, "pipe", "+", "-", 1)
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if n := cmds[151].(*redis.IntCmd).Val(); n != 152 {
		t.Errorf("XLEN in the middle of the pipeline: %d, want 152 (the first XADD and the 151 before it)", n)
	}
	var prev batch.ID
	for i, c := range adds {
		id, err := batch.ParseID(c.Val(), 0)
		if err != nil || !prev.Less(id) {
			t.Fatalf("XADD %d of the pipeline: id %q (err %v), not above %v", i, c.Val(), err, prev)
		}
		prev = id
	}
	if lenAfter.Val() != 301 {
		t.Errorf("XLEN after the pipeline: %d, want 301", lenAfter.Val())
	}
	if msgs := last.Val(); len(msgs) != 1 || msgs[0].ID != adds[299].Val() || msgs[0].Values["n"] != "299" {
		t.Errorf("the last entry: %+v; want %s with n=299", msgs, adds[299].Val())
	}
	if got := rdb.XRange(ctx, "other", "-", "+").Val(); len(got) != 1 || got[0].ID != "5-5" {
		t.Errorf("the XADD to another stream in the middle: %+v", got)
	}
}
