//go:build linux

package main

// Method: end-to-end tests of `shoal serve` on 127.0.0.1 with real TCP and files.
//   - In-process: serve() runs in a goroutine with ports :0; the test produces and consumes with
//     the Go client, checks the HTTP endpoints, stops the node through its context and checks that
//     no goroutine is left (goleak).
//   - Out of process: the real binary is built once; a node is SIGKILLed in the middle of a
//     produce load under fsync always, restarted on the same data dir, and every record that was
//     acknowledged before the kill must be read back at its acknowledged offset.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
)

func testServeConfig(t *testing.T, dir string) serveConfig {
	t.Helper()
	var stderr strings.Builder
	cfg, _, ok := parseServeConfig([]string{"--data-dir", dir, "--broker-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--node-id", "t1", "--log-level", "warn"}, func(string) string { return "" }, &stderr)
	if !ok {
		t.Fatalf("config: %s", stderr.String())
	}
	return cfg
}

// startServing runs serve in the background and returns the node once it serves, and a stop
// function that cancels it and returns serve's error.
func startServing(t *testing.T, cfg serveConfig) (servingNode, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan servingNode, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, io.Discard, func(n servingNode) { started <- n }) }()
	select {
	case n := <-started:
		return n, func() error { cancel(); return <-done }
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start within 30s")
	}
	return servingNode{}, nil
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeProduceConsumeAndHTTP(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testServeConfig(t, t.TempDir())
	node, stop := startServing(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(ctx, client.Config{Brokers: []string{node.BrokerAddr}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.NewProducer(client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := p.SendSync(ctx, client.Record{Topic: "orders", Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	cons, err := c.NewConsumer(client.ConsumerConfig{Topic: "orders", From: client.Earliest()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 20 {
		msgs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		for _, m := range msgs {
			got = append(got, string(m.Value))
		}
	}
	for i, v := range got {
		if v != fmt.Sprintf("v%d", i) {
			t.Fatalf("record %d: %q", i, v)
		}
	}
	if code, body := httpGet(t, "http://"+node.HTTPAddr+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, body := httpGet(t, "http://"+node.HTTPAddr+"/metrics"); code != 200 ||
		!strings.Contains(body, `shoal_partition_log_end_offset{partition="0",topic="orders"} 20`) ||
		!strings.Contains(body, "shoal_fsync_seconds_count") {
		t.Fatalf("/metrics: %d, missing the partition's log end or the fsync histogram:\n%s", code, body)
	}
	if code, body := httpGet(t, "http://"+node.HTTPAddr+"/"); code != 200 || !strings.Contains(body, "orders") {
		t.Fatalf("status page: %d %s", code, body)
	}
	_ = p.Close(ctx)
	_ = cons.Close()
	_ = c.Close()
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after its context was cancelled", err)
	}
}

func TestServeRefusesASecondNodeOnTheSameDataDir(t *testing.T) {
	dir := t.TempDir()
	_, stop := startServing(t, testServeConfig(t, dir))
	defer stop()
	err := serve(context.Background(), testServeConfig(t, dir), io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "in use by another shoal process") {
		t.Fatalf("second node on the same data dir: %v", err)
	}
}

// buildShoal builds the binary once per test run.
var buildShoal = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "shoal-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "shoal")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startProcess starts `shoal serve` and waits until its broker answers.
func startProcess(t *testing.T, bin, dir, brokerAddr, httpAddr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--node-id", "k1", "--broker-addr", brokerAddr,
		"--http-addr", httpAddr, "--fsync", "always", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	// The node dies with the test binary, even when a test timeout kills it mid-test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("node did not become ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestSIGKILLDuringProduceLosesNoAcknowledgedRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildShoal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	brokerAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := startProcess(t, bin, dir, brokerAddr, httpAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Brokers: []string{brokerAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "k", protocol.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	acked := map[string]client.Result{}
	var mu sync.Mutex
	var kill sync.Once
	p, err := c.NewProducer(client.ProducerConfig{Retries: -1, Linger: time.Millisecond, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				value := fmt.Sprintf("w%d-%d", w, i)
				sendCtx, cancelSend := context.WithTimeout(ctx, 5*time.Second)
				res, err := p.SendSync(sendCtx, client.Record{Topic: "k", Key: []byte(value), Value: []byte(value)})
				cancelSend()
				if err != nil {
					return // the node is gone
				}
				mu.Lock()
				acked[value] = res
				n := len(acked)
				mu.Unlock()
				if n >= 400 {
					kill.Do(func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
				}
			}
		}()
	}
	wg.Wait()
	_ = cmd.Wait()
	_ = p.Close(ctx)

	cmd = startProcess(t, bin, dir, brokerAddr, httpAddr)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	got := readEverything(t, ctx, brokerAddr, "k")
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 400 {
		t.Fatalf("only %d records were acknowledged before the kill", len(acked))
	}
	for value, res := range acked {
		at, ok := got[value]
		if !ok {
			t.Fatalf("acknowledged record %q (partition %d offset %d) is missing after the restart", value, res.Partition, res.Offset)
		}
		if at != [2]int64{int64(res.Partition), int64(res.Offset)} {
			t.Fatalf("record %q acknowledged at %d/%d, found at %v", value, res.Partition, res.Offset, at)
		}
	}
}

// readEverything reads a topic from the start to its end: value → (partition, offset).
func readEverything(t *testing.T, ctx context.Context, broker, topic string) map[string][2]int64 {
	t.Helper()
	c, err := client.New(ctx, client.Config{Brokers: []string{broker}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cons, err := c.NewConsumer(client.ConsumerConfig{Topic: topic, From: client.Earliest(), MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string][2]int64{}
	for !cons.AtEnd() || len(got) == 0 {
		msgs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		for _, m := range msgs {
			if _, dup := got[string(m.Value)]; dup {
				t.Fatalf("record %q read twice", m.Value)
			}
			got[string(m.Value)] = [2]int64{int64(m.Partition), int64(m.Offset)}
		}
	}
	return got
}

// freeAddr returns a 127.0.0.1 address free now, for a process the test starts later. It is
// picked below Linux's ephemeral range (32768-60999): a port from that range (what :0 gives) can be
// taken meanwhile by any outgoing connection on the machine, and a node then failed to start
// ("address already in use") now and then under make test.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	ln, err := listenLocal()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func listenLocal() (interface {
	Addr() net.Addr
	Close() error
}, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

// TestCLIBinaryProduceConsume runs the built binary as a user does: a node, `shoal produce` with
// lines on stdin, `shoal consume --exit-at-end`, then a restart and the same records again.
func TestCLIBinaryProduceConsume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildShoal()
	if err != nil {
		t.Fatal(err)
	}
	dir, brokerAddr, httpAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("shoal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	node := startProcess(t, bin, dir, brokerAddr, httpAddr)
	run("k1:hello\nk2:world\n", "produce", "--brokers", brokerAddr, "--topic", "cli", "--key-sep", ":")
	want := "k1=hello\nk2=world\n"
	consume := []string{"consume", "--brokers", brokerAddr, "--topic", "cli", "--from", "earliest", "--exit-at-end", "--format", `%k=%v\n`}
	if got := run("", consume...); got != want {
		t.Fatalf("consume printed %q, want %q", got, want)
	}
	_ = node.Process.Signal(syscall.SIGTERM)
	if err := node.Wait(); err != nil {
		t.Fatalf("node exit after SIGTERM: %v, want 0", err)
	}
	node = startProcess(t, bin, dir, brokerAddr, httpAddr)
	defer func() { _ = node.Process.Signal(syscall.SIGTERM); _ = node.Wait() }()
	if got := run("", consume...); got != want {
		t.Fatalf("after a restart consume printed %q, want %q", got, want)
	}
}
