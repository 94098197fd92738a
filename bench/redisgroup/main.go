// Command redisgroup measures consumer-group consumption of a Redis stream: -consumers
// goroutines, each with its own connection and consumer name, loop XREADGROUP GROUP g cN COUNT n
// STREAMS key > and then XACK key g <the ids of that reply>, until -entries entries have been
// read and acked in all, the group has nothing new for them, or -duration passes. It prints one
// JSON object on stdout: entries read and acked, seconds, entries/s, and per-command latencies
// (p50/p99 of XREADGROUP and of XACK, round trips).
//
// The group must exist (XGROUP CREATE key g 0); -create makes it from 0 first.
// A module of its own (go-redis v9, the version in Shoal's go.mod) so that it stays out of
// Shoal's ./... (vet, tests, the architecture check).
//
// Usage: redisgroup -addr 127.0.0.1:6379 -key s -group g -consumers 8 -count 100 -entries 200000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

type result struct {
	Entries       int64   `json:"entries"`
	Acked         int64   `json:"acked"`
	Reads         int64   `json:"reads"`
	EmptyReads    int64   `json:"empty_reads"`
	Seconds       float64 `json:"seconds"`
	EntriesPerSec float64 `json:"entries_per_sec"`
	ReadP50Ms     float64 `json:"read_p50_ms"`
	ReadP99Ms     float64 `json:"read_p99_ms"`
	AckP50Ms      float64 `json:"ack_p50_ms"`
	AckP99Ms      float64 `json:"ack_p99_ms"`
	Consumers     int     `json:"consumers"`
	Count         int64   `json:"count"`
	StoppedBy     string  `json:"stopped_by"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address")
	key := flag.String("key", "s", "stream key")
	group := flag.String("group", "g", "consumer group")
	consumers := flag.Int("consumers", 8, "consumers (one connection each)")
	count := flag.Int64("count", 100, "COUNT of each XREADGROUP")
	entries := flag.Int64("entries", 200_000, "stop after this many entries read and acked in all")
	duration := flag.Duration("duration", 60*time.Second, "stop after this long at most")
	create := flag.Bool("create", false, "XGROUP CREATE key group 0 MKSTREAM first")
	flag.Parse()

	ctx := context.Background()
	if *create {
		c := redis.NewClient(&redis.Options{Addr: *addr, Protocol: 2})
		if err := c.XGroupCreateMkStream(ctx, *key, *group, "0").Err(); err != nil {
			fail("XGROUP CREATE: %v", err)
		}
		c.Close()
	}

	var read, acked, reads, empty atomic.Int64
	var mu sync.Mutex
	var readLat, ackLat []time.Duration
	var firstErr error
	var stoppedBy atomic.Value
	stoppedBy.Store("entries")
	deadline := time.Now().Add(*duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: *addr, Protocol: 2, PoolSize: 1,
				ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
			defer c.Close()
			var rl, al []time.Duration
			defer func() {
				mu.Lock()
				readLat = append(readLat, rl...)
				ackLat = append(ackLat, al...)
				mu.Unlock()
			}()
			name := fmt.Sprintf("c%d", i)
			for read.Load() < *entries {
				if time.Now().After(deadline) {
					stoppedBy.Store("duration")
					return
				}
				t0 := time.Now()
				streams, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: *group, Consumer: name,
					Streams: []string{*key, ">"}, Count: *count, Block: -1}).Result()
				rl = append(rl, time.Since(t0))
				reads.Add(1)
				if errors.Is(err, redis.Nil) || (err == nil && (len(streams) == 0 || len(streams[0].Messages) == 0)) {
					empty.Add(1)
					stoppedBy.Store("stream drained")
					return // nothing new for the group
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("XREADGROUP (consumer %s): %w", name, err)
					}
					mu.Unlock()
					return
				}
				msgs := streams[0].Messages
				ids := make([]string, len(msgs))
				for j, m := range msgs {
					ids[j] = m.ID
				}
				read.Add(int64(len(ids)))
				t0 = time.Now()
				n, err := c.XAck(ctx, *key, *group, ids...).Result()
				al = append(al, time.Since(t0))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("XACK (consumer %s, %d ids): %w", name, len(ids), err)
					}
					mu.Unlock()
					return
				}
				acked.Add(n)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if firstErr != nil {
		fail("%v (after %d entries read, %d acked in %.1fs)", firstErr, read.Load(), acked.Load(), secs)
	}
	r := result{Entries: read.Load(), Acked: acked.Load(), Reads: reads.Load(), EmptyReads: empty.Load(),
		Seconds: secs, EntriesPerSec: float64(acked.Load()) / secs, Consumers: *consumers, Count: *count,
		StoppedBy: stoppedBy.Load().(string)}
	r.ReadP50Ms, r.ReadP99Ms = pct(readLat)
	r.AckP50Ms, r.AckP99Ms = pct(ackLat)
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

func pct(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000 }
	return at(0.50), at(0.99)
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "redisgroup: "+strings.TrimSuffix(format, "\n")+"\n", a...)
	os.Exit(1)
}
