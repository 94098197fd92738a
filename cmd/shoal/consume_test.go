// Tests of `shoal consume`: the --format compiler and the --from parser are tables of inputs
// and outputs; end-to-end cases produce records to an in-process node (startTestNode in
// produce_test.go) and check consumeMain's stdout line by line, for each format, --json,
// --count, --exit-at-end and --from.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

func TestFormatRendersEveryVerb(t *testing.T) {
	m := client.Message{
		Topic: "orders", Partition: 3, Offset: 42, ID: batch.ID{Ms: 1700000000123, Seq: 7},
		Timestamp: time.UnixMilli(1700000000100), Key: []byte("alice"), Value: []byte("hello world"),
	}
	cases := []struct {
		format, want string
	}{
		{defaultFormat, "hello world\n"},
		{`%t %p %o %i %k %v %T`, "orders 3 42 1700000000123-7 alice hello world 1700000000100"},
		{`%k\t%v\n`, "alice\thello world\n"},
		{`100%% %v`, "100% hello world"},
		{`a\\b`, `a\b`},
		{`plain`, "plain"},
		{``, ""},
	}
	for _, tc := range cases {
		pieces, err := compileFormat(tc.format)
		if err != nil {
			t.Errorf("compileFormat(%q): %v", tc.format, err)
			continue
		}
		if got := string(appendFormatted(nil, pieces, &m)); got != tc.want {
			t.Errorf("format %q: got %q, want %q", tc.format, got, tc.want)
		}
	}
	noKey := m
	noKey.Key = nil
	pieces, _ := compileFormat(`[%k]`)
	if got := string(appendFormatted(nil, pieces, &noKey)); got != "[]" {
		t.Errorf("%%k of a record without a key: %q, want []", got)
	}
}

func TestFormatErrors(t *testing.T) {
	cases := []struct{ format, want string }{
		{`%x`, "unknown %x"},
		{`%`, "ends with a lone %"},
		{`\`, `ends with a lone \`},
		{`\r`, `unknown escape \r`},
	}
	for _, tc := range cases {
		if _, err := compileFormat(tc.format); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compileFormat(%q): %v, want an error containing %q", tc.format, err, tc.want)
		}
	}
}

func TestParsePosition(t *testing.T) {
	cases := []struct {
		text string
		want protocol.Position
	}{
		{"earliest", client.Earliest()},
		{"latest", client.Latest()},
		{"offset:0", client.AtOffset(0)},
		{"offset:18446744073709551615", client.AtOffset(1<<64 - 1)},
		{"id:1700000000000-5", client.AtID(batch.ID{Ms: 1700000000000, Seq: 5})},
		{"id:1700000000000", client.AtID(batch.ID{Ms: 1700000000000})},
		{"time:2026-01-02T15:04:05Z", client.AtTime(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC))},
		{"time:2026-01-02T15:04:05.250+01:00", protocol.Position{Kind: protocol.PositionTime,
			TimeMs: time.Date(2026, 1, 2, 14, 4, 5, 250e6, time.UTC).UnixMilli()}},
	}
	for _, tc := range cases {
		got, err := parsePosition(tc.text)
		if err != nil || got != tc.want {
			t.Errorf("parsePosition(%q) = %+v, %v; want %+v", tc.text, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "beginning", "earliest:1", "offset:", "offset:-1", "offset:x", "id:x-1", "time:yesterday", "time:2026-01-02"} {
		if _, err := parsePosition(bad); err == nil {
			t.Errorf("parsePosition(%q): no error", bad)
		}
	}
}

func TestConsumeUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no topic", nil, "--topic is required"},
		{"bad from", []string{"--topic", "t", "--from", "start"}, `--from "start"`},
		{"bad format", []string{"--topic", "t", "--format", "%q"}, "unknown %q"},
		{"format and json", []string{"--topic", "t", "--format", "%v", "--json"}, "--format and --json exclude each other"},
		{"negative count", []string{"--topic", "t", "--count", "-1"}, "--count -1"},
		{"bad partition", []string{"--topic", "t", "--partition", "-2"}, "--partition -2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runConsumeCLI(t, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("got %v; want exit %d and stderr containing %q", r, exitUsage, tc.want)
			}
		})
	}
}

func runConsumeCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := consumeMain(ctx, args, &stdout, &stderr)
	return cliRun{code, stdout.String(), stderr.String()}
}

// consumeTopic produces "key-i:value-i" for i in 0..n-1 to a new topic of partitions
// partitions and returns the node.
func consumeTopic(t *testing.T, partitions int32, n int) *testNode {
	t.Helper()
	node := startTestNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	if err := node.newClient(t).CreateTopic(ctx, "t", protocol.TopicConfig{Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	var stdin strings.Builder
	for i := range n {
		fmt.Fprintf(&stdin, "key-%d:value-%d\n", i, i)
	}
	mustSucceed(t, "produce", runProduceCLI(t, stdin.String(), "--brokers", node.addr, "--topic", "t", "--key-sep", ":"))
	return node
}

func TestConsumeFormatEndToEnd(t *testing.T) {
	node := consumeTopic(t, 2, 20)
	r := mustSucceed(t, "consume", runConsumeCLI(t, "--brokers", node.addr, "--topic", "t", "--exit-at-end",
		"--format", `%t|%p|%o|%i|%k|%v|%T\n`))
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20:\n%s", len(lines), r.stdout)
	}
	seen := map[string]bool{}
	for _, line := range lines {
		f := strings.Split(line, "|")
		if len(f) != 7 || f[0] != "t" || !strings.HasPrefix(f[4], "key-") || f[5] != "value-"+strings.TrimPrefix(f[4], "key-") {
			t.Fatalf("line %q: want t|partition|offset|id|key-i|value-i|timestamp", line)
		}
		if want := fmt.Sprint(protocol.PartitionForKey([]byte(f[4]), 2)); f[1] != want {
			t.Errorf("line %q: partition %s, want %s", line, f[1], want)
		}
		if _, err := batch.ParseID(f[3], 0); err != nil {
			t.Errorf("line %q: id %q does not parse", line, f[3])
		}
		seen[f[5]] = true
	}
	if len(seen) != 20 {
		t.Errorf("%d distinct values, want 20", len(seen))
	}
}

func TestConsumeJSONEndToEnd(t *testing.T) {
	node := consumeTopic(t, 1, 3)
	r := mustSucceed(t, "consume --json", runConsumeCLI(t, "--brokers", node.addr, "--topic", "t", "--exit-at-end", "--json"))
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), r.stdout)
	}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if rec["topic"] != "t" || rec["partition"] != 0.0 || rec["offset"] != float64(i) ||
			rec["key"] != fmt.Sprintf("key-%d", i) || rec["value"] != fmt.Sprintf("value-%d", i) {
			t.Errorf("line %q: want topic t, partition 0, offset %d, key-%d, value-%d", line, i, i, i)
		}
		if _, ok := rec["id"].(string); !ok {
			t.Errorf("line %q: id is not a string", line)
		}
		if ts, ok := rec["timestamp"].(float64); !ok || ts <= 0 {
			t.Errorf("line %q: timestamp %v, want milliseconds", line, rec["timestamp"])
		}
	}
}

func TestConsumeCountFromAndExitAtEnd(t *testing.T) {
	node := consumeTopic(t, 1, 10)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"count", []string{"--count", "3"}, "value-0\nvalue-1\nvalue-2\n"},
		{"from offset", []string{"--from", "offset:8", "--exit-at-end"}, "value-8\nvalue-9\n"},
		{"from latest", []string{"--from", "latest", "--exit-at-end"}, ""},
		{"partition", []string{"--partition", "0", "--from", "offset:9", "--exit-at-end"}, "value-9\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--brokers", node.addr, "--topic", "t"}, tc.args...)
			r := mustSucceed(t, "consume", runConsumeCLI(t, args...))
			if r.stdout != tc.want {
				t.Errorf("stdout %q, want %q", r.stdout, tc.want)
			}
		})
	}
}

func TestConsumeFromIDAndTimeEndToEnd(t *testing.T) {
	node := consumeTopic(t, 1, 5)
	r := mustSucceed(t, "consume ids", runConsumeCLI(t, "--brokers", node.addr, "--topic", "t", "--exit-at-end", "--format", `%i %T\n`))
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	id3, ts3, _ := strings.Cut(lines[3], " ")
	r = mustSucceed(t, "consume --from id", runConsumeCLI(t, "--brokers", node.addr, "--topic", "t", "--exit-at-end", "--from", "id:"+id3))
	if r.stdout != "value-3\nvalue-4\n" {
		t.Errorf("--from id:%s: stdout %q, want value-3 and value-4", id3, r.stdout)
	}
	// Records produced together may share a millisecond: --from time gives the first record at
	// or after it, so every record whose timestamp is at or after record 3's.
	var ms int64
	fmt.Sscan(ts3, &ms)
	var want strings.Builder
	for i, line := range lines {
		var ts int64
		fmt.Sscan(line[strings.IndexByte(line, ' ')+1:], &ts)
		if ts >= ms {
			fmt.Fprintf(&want, "value-%d\n", i)
		}
	}
	from := time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
	r = mustSucceed(t, "consume --from time", runConsumeCLI(t, "--brokers", node.addr, "--topic", "t", "--exit-at-end", "--from", "time:"+from))
	if r.stdout != want.String() {
		t.Errorf("--from time:%s: stdout %q, want %q", from, r.stdout, want.String())
	}
}

func TestConsumeUnknownTopic(t *testing.T) {
	node := startTestNode(t)
	r := runConsumeCLI(t, "--brokers", node.addr, "--topic", "missing", "--exit-at-end")
	want := "shoal consume: topic \"missing\" does not exist: create it with `shoal topic create missing`, or produce to it\n"
	if r.code != exitFail || r.stderr != want {
		t.Errorf("got %v; want exit 1 and %q", r, want)
	}
}

// Ending the context (Ctrl-C) ends a consumer that waits for records, with exit code 0 and what
// it printed flushed.
func TestConsumeInterruptIsANormalEnd(t *testing.T) {
	node := consumeTopic(t, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	stdout := &cancelOnWrite{cancel: cancel}
	code := consumeMain(ctx, []string{"--brokers", node.addr, "--topic", "t"}, stdout, &stderr)
	if code != exitOK || stdout.String() != "value-0\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 0 after printing value-0", code, stdout.String(), stderr.String())
	}
}

// cancelOnWrite is a stdout that cancels the context on the first write: an interrupt that
// comes once the consumer has printed something.
type cancelOnWrite struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.cancel()
	return w.Buffer.Write(p)
}
