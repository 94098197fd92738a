// Tests of `shoal bench`. Method: the latency histogram is checked against a naive model (every
// sample kept and sorted) on seeded random durations, within its stated precision, and at its
// bucket edges; the summary maths on hand-computed cases; flag validation as a table over
// benchMain; and one short end-to-end run (produce, then consume the same records) against an
// in-process node over real TCP. BenchmarkBenchProduce runs the whole path, client and server,
// in one process so that `go test -cpuprofile` shows where the time goes.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistBucketEdges(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 + 1, 123_456_789, 1<<63 - 1, 1 << 63, 1<<64 - 1}
	for _, v := range values {
		i := histBucket(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histBucket(%d) = %d, outside 0..%d", v, i, histBuckets-1)
		}
		high := histBucketHigh(i)
		low := uint64(0)
		if i > 0 {
			low = histBucketHigh(i-1) + 1
		}
		if v < low || v > high {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, i, low, high)
		}
		if v >= histSubBuckets && float64(high-low) > float64(v)/histSubBuckets {
			t.Errorf("bucket %d = [%d, %d] is wider than %d/%d", i, low, high, v, histSubBuckets)
		}
	}
	for i := 1; i < histBuckets; i++ {
		if histBucketHigh(i) <= histBucketHigh(i-1) {
			t.Fatalf("bucket %d ends at %d, not after bucket %d (%d)", i, histBucketHigh(i), i-1, histBucketHigh(i-1))
		}
	}
}

// The histogram agrees with a sorted slice of every sample, within one bucket's width.
func TestLatencyHistogramMatchesSortedSamples(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var h latencyHistogram
		var samples []time.Duration
		for range 1 + rng.IntN(20_000) {
			// Log-uniform from 1µs to 10s, as latencies spread.
			d := time.Duration(float64(time.Microsecond) * math.Pow(10, rng.Float64()*7))
			h.record(d)
			samples = append(samples, d)
		}
		slices.Sort(samples)
		for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := max(int(math.Ceil(q*float64(len(samples)))), 1)
			want := samples[rank-1]
			got := h.quantile(q)
			if got < want || float64(got-want) > float64(want)/histSubBuckets {
				t.Errorf("seed %d, %d samples: quantile(%v) = %v, want %v (within %.1f%% above)", seed, len(samples), q, got, want, 100.0/histSubBuckets)
			}
		}
		if h.max != samples[len(samples)-1] || h.quantile(1) != h.max {
			t.Errorf("seed %d: max %v, quantile(1) %v; want %v", seed, h.max, h.quantile(1), samples[len(samples)-1])
		}
	}
}

func TestLatencyHistogramSmallCases(t *testing.T) {
	cases := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{3 * time.Millisecond}, 0.5, 3 * time.Millisecond},
		{"one p99", []time.Duration{3 * time.Millisecond}, 0.99, 3 * time.Millisecond},
		{"exact below 128ns", []time.Duration{10, 20, 30, 40}, 0.5, 20},
		{"p50 of four is the second", []time.Duration{10, 20, 30, 40}, 0.5, 20},
		{"p75 of four is the third", []time.Duration{10, 20, 30, 40}, 0.75, 30},
		{"p99 of 100 is the 99th", seq(1, 100), 0.99, 99},
		{"negative counts as zero", []time.Duration{-5}, 0.5, 0},
	}
	for _, tc := range cases {
		var h latencyHistogram
		for _, d := range tc.samples {
			h.record(d)
		}
		if got := h.quantile(tc.q); got != tc.want {
			t.Errorf("%s: quantile(%v) = %v, want %v", tc.name, tc.q, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var lat syncHistogram
	// Latencies 4, 3, 2 and 1 ms: p50 is the second smallest (2 ms, to the bucket precision of 0.8%).
	lat.recordSince([]int64{0, int64(time.Millisecond), int64(2 * time.Millisecond), int64(3 * time.Millisecond)}, int64(4*time.Millisecond))
	s := summarize(1000, 100_000, 2*time.Second, &lat)
	want := benchSummary{Records: 1000, Seconds: 2, RecordsPerSec: 500, MBPerSec: 0.05, P50Ms: 2, P99Ms: 4, P999Ms: 4, MaxMs: 4}
	if !closeSummary(s, want) {
		t.Errorf("summarize = %+v\nwant        %+v", s, want)
	}
	// No time passed (a clock that did not move): no rate rather than +Inf, which JSON cannot carry.
	s = summarize(10, 1000, 0, &syncHistogram{})
	if s.RecordsPerSec != 0 || s.MBPerSec != 0 || s.P50Ms != 0 || s.MaxMs != 0 {
		t.Errorf("summarize over 0s = %+v, want zero rates and latencies", s)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("json: %v", err)
	}
}

func closeSummary(a, b benchSummary) bool {
	near := func(x, y float64) bool { return x == y || (x-y)/max(x, y) < 0.01 && (y-x)/max(x, y) < 0.01 }
	return a.Records == b.Records && near(a.Seconds, b.Seconds) && near(a.RecordsPerSec, b.RecordsPerSec) &&
		near(a.MBPerSec, b.MBPerSec) && near(a.P50Ms, b.P50Ms) && near(a.P99Ms, b.P99Ms) &&
		near(a.P999Ms, b.P999Ms) && near(a.MaxMs, b.MaxMs)
}

func TestBenchUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no mode", nil, "missing mode: produce or consume"},
		{"unknown mode", []string{"fetch"}, `unknown mode "fetch": use produce or consume`},
		{"zero records", []string{"produce", "--records", "0"}, "--records 0: give the number of records, 1 or more"},
		{"negative record bytes", []string{"produce", "--record-bytes", "-1"}, "--record-bytes -1: give a size from 0 to"},
		{"huge record", []string{"produce", "--record-bytes", "100000000"}, "--record-bytes 100000000: give a size from 0 to"},
		{"empty topic", []string{"produce", "--topic", ""}, "--topic is empty"},
		{"bad acks", []string{"produce", "--acks", "all"}, `--acks "all": use quorum, leader or none`},
		{"no producers", []string{"produce", "--producers", "0"}, "--producers 0: give a number of goroutines from 1 to"},
		{"no partitions", []string{"produce", "--partitions", "0"}, "--partitions 0: give 1 or more"},
		{"negative linger", []string{"produce", "--linger", "-1ms"}, "--linger -1ms: give 0 or more"},
		{"zero batch", []string{"produce", "--batch-bytes", "0"}, "--batch-bytes 0: give a size from 1 to"},
		{"zero in flight", []string{"produce", "--max-in-flight", "0"}, "--max-in-flight 0: give 1 or more"},
		{"consume has no producers", []string{"consume", "--producers", "4"}, "flag provided but not defined: -producers"},
		{"consume has no record bytes", []string{"consume", "--record-bytes", "10"}, "flag provided but not defined: -record-bytes"},
		{"consume zero max bytes", []string{"consume", "--max-bytes", "0"}, "--max-bytes 0: give a size from 1 to"},
		{"empty brokers", []string{"consume", "--brokers", " "}, "--brokers is empty"},
		{"stray argument", []string{"produce", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runBenchCLI(t, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("got %v; want exit %d and stderr containing %q", r, exitUsage, tc.want)
			}
		})
	}
	// Every bad value is reported, not only the first.
	r := runBenchCLI(t, "produce", "--records", "0", "--producers", "0")
	if !strings.Contains(r.stderr, "--records 0") || !strings.Contains(r.stderr, "--producers 0") {
		t.Errorf("two bad flags: stderr %q, want both reported", r.stderr)
	}
}

func TestBenchUnreachableNode(t *testing.T) {
	addr := refusedAddr(t)
	r := runBenchCLI(t, "produce", "--brokers", addr, "--progress=false")
	want := fmt.Sprintf("shoal bench produce: cannot reach %s: is a node running? start one with make run\n", addr)
	if r.code != exitFail || r.stderr != want {
		t.Errorf("got %v; want exit %d and stderr %q", r, exitFail, want)
	}
}

// Produce fills a topic it creates with --partitions; consume reads the same records back; the
// JSON summaries carry the fields scripts read; the guards say what to do.
func TestBenchProduceThenConsumeEndToEnd(t *testing.T) {
	n := startTestNode(t)
	const records = 20_000
	r := mustSucceed(t, "bench produce", runBenchCLI(t, "produce", "--brokers", n.addr, "--topic", "b", "--records", fmt.Sprint(records),
		"--partitions", "3", "--producers", "4", "--json"))
	produced := decodeSummary(t, r.stdout)
	if produced.Records != records || produced.Partitions != 3 || produced.Producers != 4 || produced.Acks != "quorum" ||
		produced.RecordsPerSec <= 0 || produced.MBPerSec <= 0 || produced.MaxMs < produced.P50Ms || produced.P99Ms < produced.P50Ms {
		t.Errorf("produce summary %+v", produced)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("100%% %d/%d", records, records)) {
		t.Errorf("progress bar on stderr %q: want it to end at 100%%", r.stderr)
	}
	meta, err := n.newClient(t).DescribeTopic(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	var stored uint64
	for _, p := range meta.Partitions {
		stored += p.LogEnd - p.LogStart
	}
	if len(meta.Partitions) != 3 || stored != records {
		t.Errorf("topic b: %d partitions holding %d records; want 3 holding %d", len(meta.Partitions), stored, records)
	}

	r = mustSucceed(t, "bench consume", runBenchCLI(t, "consume", "--brokers", n.addr, "--topic", "b", "--records", fmt.Sprint(records), "--json", "--progress=false"))
	consumed := decodeSummary(t, r.stdout)
	if consumed.Records != records || consumed.RecordBytes != benchDefaultRecordBytes || consumed.Polls < 1 || consumed.RecordsPerSec <= 0 {
		t.Errorf("consume summary %+v", consumed)
	}

	guards := []struct {
		args []string
		want string
	}{
		{[]string{"produce", "--topic", "b", "--partitions", "5"}, `topic "b" exists with 3 partitions, not 5: delete it (shoal topic delete b) or choose another --topic`},
		{[]string{"consume", "--topic", "b", "--records", fmt.Sprint(records + 1)}, `topic "b" holds 20000 records, fewer than --records 20001: fill it with shoal bench produce --topic b --records 1`},
		{[]string{"consume", "--topic", "nothing"}, `topic "nothing" does not exist: fill it first with shoal bench produce --topic nothing`},
	}
	for _, g := range guards {
		r := runBenchCLI(t, append(g.args, "--brokers", n.addr, "--progress=false")...)
		if r.code != exitFail || !strings.Contains(r.stderr, g.want) {
			t.Errorf("bench %v: got %v; want exit %d and stderr containing %q", g.args, r, exitFail, g.want)
		}
	}
}

// The text summary names the rates and percentiles.
func TestBenchSummaryText(t *testing.T) {
	var out bytes.Buffer
	s := benchSummary{Mode: "produce", Topic: "t", Records: 10, RecordBytes: 100, Partitions: 4, Producers: 8, Acks: "quorum",
		Latency: "send_to_ack", Seconds: 1, RecordsPerSec: 10, MBPerSec: 0.001, P50Ms: 1, P99Ms: 2, P999Ms: 3, MaxMs: 4}
	if err := s.print(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10 records of 100 bytes to t (4 partitions, 8 producers, acks quorum)", "records/s", "MB/s",
		"send→ack latency ms: p50 1.00  p99 2.00  p99.9 3.00  max 4.00"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary %q: want %q", out.String(), want)
		}
	}
}

func BenchmarkBenchProduce(b *testing.B) {
	for _, fsync := range []string{"always", "interval"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			addr := startBenchNode(b, fsync)
			var last benchSummary
			for i := 0; b.Loop(); i++ {
				var stdout, stderr bytes.Buffer
				args := []string{"produce", "--brokers", addr, "--topic", fmt.Sprintf("b%d", i), "--records", "500000", "--json", "--progress=false"}
				if code := benchMain(context.Background(), args, &stdout, &stderr); code != exitOK {
					b.Fatalf("bench produce: exit %d: %s", code, stderr.String())
				}
				if err := json.Unmarshal(stdout.Bytes(), &last); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(last.RecordsPerSec, "records/s")
			b.ReportMetric(last.P50Ms, "p50-ms")
		})
	}
}

func BenchmarkBenchConsume(b *testing.B) {
	const records = "1000000"
	addr := startBenchNode(b, "interval")
	run := func(args ...string) benchSummary {
		var stdout, stderr bytes.Buffer
		args = append(args, "--brokers", addr, "--topic", "c", "--records", records, "--json", "--progress=false")
		if code := benchMain(context.Background(), args, &stdout, &stderr); code != exitOK {
			b.Fatalf("bench %v: exit %d: %s", args, code, stderr.String())
		}
		var s benchSummary
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
			b.Fatal(err)
		}
		return s
	}
	run("produce")
	var last benchSummary
	for b.Loop() {
		last = run("consume")
	}
	b.ReportMetric(last.RecordsPerSec, "records/s")
	b.ReportMetric(last.P50Ms, "p50-ms")
}

// startBenchNode runs `shoal serve` in the test process on 127.0.0.1:0 with its data in a temp
// dir, until the benchmark ends, and returns its broker address.
func startBenchNode(b *testing.B, fsync string) string {
	var stderr strings.Builder
	cfg, _, ok := parseServeConfig([]string{"--data-dir", b.TempDir(), "--broker-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--fsync", fsync, "--log-level", "warn"}, func(string) string { return "" }, &stderr)
	if !ok {
		b.Fatalf("config: %s", stderr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan servingNode, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, &strings.Builder{}, &strings.Builder{}, func(n servingNode) { started <- n })
	}()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case n := <-started:
		return n.BrokerAddr
	case err := <-done:
		b.Fatalf("serve: %v", err)
	}
	return ""
}

func runBenchCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := benchMain(ctx, args, &stdout, &stderr)
	return cliRun{code, stdout.String(), stderr.String()}
}

func decodeSummary(t *testing.T, stdout string) benchSummary {
	t.Helper()
	var s benchSummary
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if dec.More() {
		t.Fatalf("stdout %q: want exactly one JSON object", stdout)
	}
	return s
}

func seq(from, to int) []time.Duration {
	var ds []time.Duration
	for i := from; i <= to; i++ {
		ds = append(ds, time.Duration(i))
	}
	return ds
}
