// Tests of `shoal produce`, and the end-to-end harness the client subcommands share: a node run
// in the test process (the actors Broker behind a transport server on 127.0.0.1:0, its data in
// t.TempDir()), which the subcommands and the client library reach over real TCP. Usage errors
// are tables over produceMain; end-to-end cases produce through the CLI and read back through
// the client or `shoal consume`, and check every record's partition, order and count. goleak
// checks that nothing outlives a test.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmq/shoal/actors"
	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/transport"
	"github.com/shoalmq/shoal/storage"
	"go.uber.org/goleak"
)

// e2eTimeout bounds every end-to-end step; a healthy node answers in milliseconds.
const e2eTimeout = 30 * time.Second

// testNode is one Shoal node in the test process.
type testNode struct {
	addr   string
	broker *actors.Broker
}

// startTestNode starts a node with actors.DefaultConfig (fsync never: these tests are about the
// protocol, not durability), changed by configure. It stops when the test ends, and then checks
// that no goroutine of the test is left.
func startTestNode(t *testing.T, configure ...func(*actors.Config)) *testNode {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	logger := slog.New(slog.DiscardHandler)
	var broker atomic.Pointer[actors.Broker]
	srv, err := transport.Listen(transport.ServerConfig{
		Addr:   "127.0.0.1:0",
		NodeID: "node-1",
		Logger: logger,
		Handler: transport.HandlerFunc(func(ctx context.Context, req transport.Request) (any, error) {
			return broker.Load().Handle(ctx, req.Type, req.Body)
		}),
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := actors.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.BrokerAddr = srv.Addr()
	cfg.Fsync = storage.FsyncNever
	cfg.Logger = logger
	for _, c := range configure {
		c(&cfg)
	}
	b, err := actors.Start(cfg)
	if err != nil {
		srv.Shutdown(context.Background())
		t.Fatalf("start broker: %v", err)
	}
	broker.Store(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		if err := b.Stop(ctx); err != nil {
			t.Errorf("broker stop: %v", err)
		}
		goleak.VerifyNone(t, ignore)
	})
	return &testNode{addr: srv.Addr(), broker: b}
}

// newClient returns a client of the node, closed when the test ends.
func (n *testNode) newClient(t *testing.T) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	c, err := client.New(ctx, client.Config{Brokers: []string{n.addr}, ClientID: t.Name()})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// cliRun is the outcome of one subcommand run.
type cliRun struct {
	code           int
	stdout, stderr string
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// runProduceCLI runs `shoal produce args` with stdin.
func runProduceCLI(t *testing.T, stdin string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := produceMain(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return cliRun{code, stdout.String(), stderr.String()}
}

// mustSucceed fails the test unless the run exited 0.
func mustSucceed(t *testing.T, what string, r cliRun) cliRun {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("%s: %v", what, r)
	}
	return r
}

// refusedAddr returns an address on 127.0.0.1 where nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestProduceUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no topic", nil, "--topic is required"},
		{"bad acks", []string{"--topic", "t", "--acks", "all"}, `--acks "all": use quorum, leader or none`},
		{"bad partition", []string{"--topic", "t", "--partition", "-3"}, "--partition -3"},
		{"empty brokers", []string{"--topic", "t", "--brokers", " , "}, "--brokers is empty"},
		{"unknown flag", []string{"--topic", "t", "--linger", "5ms"}, "flag provided but not defined: -linger"},
		{"stray argument", []string{"--topic", "t", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runProduceCLI(t, "", tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("got %v; want exit %d and stderr containing %q", r, exitUsage, tc.want)
			}
		})
	}
}

// A node that is not running is reported with the advice to start one, for every subcommand.
func TestUnreachableNodeSaysHowToStartOne(t *testing.T) {
	addr := refusedAddr(t)
	want := fmt.Sprintf("cannot reach %s: is a node running? start one with make run\n", addr)
	ctx := context.Background()
	runs := map[string]func(stdout, stderr io.Writer) int{
		"produce": func(stdout, stderr io.Writer) int {
			return produceMain(ctx, []string{"--brokers", addr, "--topic", "t"}, strings.NewReader("x\n"), stdout, stderr)
		},
		"consume": func(stdout, stderr io.Writer) int {
			return consumeMain(ctx, []string{"--brokers", addr, "--topic", "t"}, stdout, stderr)
		},
		"topic list": func(stdout, stderr io.Writer) int {
			return topicMain(ctx, []string{"list", "--brokers", addr}, stdout, stderr)
		},
	}
	for name, run := range runs {
		var stdout, stderr bytes.Buffer
		code := run(&stdout, &stderr)
		if code != exitFail || stderr.String() != "shoal "+name+": "+want {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", name, code, stderr.String(), exitFail, "shoal "+name+": "+want)
		}
	}
}

// Keyed lines land on PartitionForKey's partition, keyless ones anywhere, and every line is
// read back once.
func TestProduceKeyedLinesEndToEnd(t *testing.T) {
	n := startTestNode(t)
	c := n.newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	if err := c.CreateTopic(ctx, "orders", protocol.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	var stdin strings.Builder
	want := map[string]int32{}
	for i := range 200 {
		key := fmt.Sprintf("customer-%d", i%17)
		fmt.Fprintf(&stdin, "%s:order %d\n", key, i)
		want[fmt.Sprintf("order %d", i)] = protocol.PartitionForKey([]byte(key), 4)
	}
	stdin.WriteString("no separator here\n")
	r := mustSucceed(t, "produce", runProduceCLI(t, stdin.String(), "--brokers", n.addr, "--topic", "orders", "--key-sep", ":"))
	if !strings.Contains(r.stderr, "201 records acknowledged") {
		t.Errorf("summary %q: want 201 records acknowledged", r.stderr)
	}
	msgs := readAll(t, c, "orders")
	if len(msgs) != 201 {
		t.Fatalf("read %d records, want 201", len(msgs))
	}
	for _, m := range msgs {
		value := string(m.Value)
		if value == "no separator here" {
			if m.Key != nil {
				t.Errorf("line without the separator has key %q, want none", m.Key)
			}
			continue
		}
		if p, ok := want[value]; !ok || p != m.Partition {
			t.Errorf("%q on partition %d, want %d (PartitionForKey of its key)", value, m.Partition, p)
		}
	}
}

func TestProduceToOnePartitionWithEachAcks(t *testing.T) {
	n := startTestNode(t)
	c := n.newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	if err := c.CreateTopic(ctx, "t", protocol.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	for _, acks := range []string{"quorum", "leader", "none"} {
		mustSucceed(t, "produce --acks "+acks, runProduceCLI(t, "a\nb\n", "--brokers", n.addr, "--topic", "t", "--partition", "2", "--acks", acks))
	}
	msgs := readAll(t, c, "t")
	if len(msgs) != 6 {
		t.Fatalf("read %d records, want 6", len(msgs))
	}
	for _, m := range msgs {
		if m.Partition != 2 {
			t.Errorf("record %q on partition %d, want 2", m.Value, m.Partition)
		}
	}
}

func TestProduceUnknownTopicWithoutAutoCreate(t *testing.T) {
	n := startTestNode(t, func(cfg *actors.Config) { cfg.AutoCreateTopics = false })
	r := runProduceCLI(t, "x\n", "--brokers", n.addr, "--topic", "missing")
	if r.code != exitFail || !strings.Contains(r.stderr, "unknown topic") || !strings.Contains(r.stderr, "auto-creation is off") {
		t.Fatalf("got %v; want exit 1 saying the topic is unknown and auto-creation is off", r)
	}
}

func TestProduceAutoCreatesTheTopic(t *testing.T) {
	n := startTestNode(t)
	mustSucceed(t, "produce", runProduceCLI(t, "hello\n", "--brokers", n.addr, "--topic", "fresh"))
	msgs := readAll(t, n.newClient(t), "fresh")
	if len(msgs) != 1 || string(msgs[0].Value) != "hello" {
		t.Fatalf("read %d records, want hello", len(msgs))
	}
}

// readAll reads every record of topic from the earliest, until every partition is at its end.
func readAll(t *testing.T, c *client.Client, topic string) []client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	cons, err := c.NewConsumer(client.ConsumerConfig{Topic: topic, From: client.Earliest(), MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []client.Message
	for !cons.AtEnd() {
		batch, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		msgs = append(msgs, batch...)
	}
	return msgs
}

// The library end to end: a producer with many small batches in flight to one partition over
// one connection. The transport serves requests concurrently, so batches may reach the
// partition out of order; every record must still be in the log once, in Send order, at the
// offset its Future reported.
func TestClientPipelinedProducerKeepsOrderEndToEnd(t *testing.T) {
	n := startTestNode(t)
	c := n.newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	p, err := c.NewProducer(client.ProducerConfig{BatchBytes: 4 << 10, MaxInFlight: 16, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	const records = 20_000
	futures := make([]*client.Future, records)
	for i := range futures {
		futures[i] = p.Send(ctx, client.Record{Topic: "pipelined", Value: fmt.Appendf(nil, "%06d", i), Partition: new(int32(0))})
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	offsets := make([]uint64, records)
	for i, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		offsets[i] = res.Offset
	}
	msgs := readAll(t, c, "pipelined")
	if len(msgs) != records {
		t.Fatalf("read %d records, want %d", len(msgs), records)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("%06d", i); string(m.Value) != want || m.Offset != offsets[i] {
			t.Fatalf("record %d: value %q at offset %d; want %q at offset %d (its Future's)", i, m.Value, m.Offset, want, offsets[i])
		}
	}
	if !slices.IsSorted(offsets) {
		t.Error("the Futures' offsets are not in Send order")
	}
}
