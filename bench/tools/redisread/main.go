// Command redisread measures a catch-up read of a Redis stream: one connection reads the stream
// from its start in pages of -count entries (XREAD COUNT n STREAMS key after-id, or XRANGE key
// (after-id + COUNT n) until it has -records entries or the stream ends, and prints one JSON
// object on stdout with the same fields as `shoal bench consume --json`. Each page starts after
// the last id of the page before, so one reader has one command in flight at a time, as a
// consumer catching up does. The latencies are per command (round trip).
//
// Usage: redisread -addr 127.0.0.1:6379 -key s -records 1000000 [-count 100] [-cmd xread|xrange]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address")
	key := flag.String("key", "s", "stream key")
	records := flag.Int64("records", 1_000_000, "entries to read; fewer if the stream ends first")
	count := flag.Int("count", 100, "entries per command (COUNT)")
	cmd := flag.String("cmd", "xread", "xread or xrange")
	flag.Parse()
	if *cmd != "xread" && *cmd != "xrange" {
		fmt.Fprintf(os.Stderr, "redisread: -cmd %q: use xread or xrange\n", *cmd)
		os.Exit(2)
	}
	s, err := read(*addr, *key, *cmd, *records, *count)
	if err != nil {
		fmt.Fprintf(os.Stderr, "redisread: %v\n", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		fmt.Fprintf(os.Stderr, "redisread: %v\n", err)
		os.Exit(1)
	}
}

type summary struct {
	Command       string  `json:"command"`
	Records       int64   `json:"records"`
	RoundTrips    int     `json:"round_trips"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"` // field names and values, 10^6 bytes
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
}

func read(addr, key, cmd string, records int64, count int) (summary, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return summary{}, fmt.Errorf("cannot reach Redis at %s: %w", addr, err)
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 1<<20)
	w := bufio.NewWriter(conn)
	s := summary{Command: fmt.Sprintf("%s COUNT %d", cmd, count)}
	var rtts []time.Duration
	var bytes int64
	after := "0-0"
	start := time.Now()
	for s.Records < records {
		n := min(int64(count), records-s.Records)
		args := []string{"XREAD", "COUNT", strconv.FormatInt(n, 10), "STREAMS", key, after}
		if cmd == "xrange" {
			args = []string{"XRANGE", key, "(" + after, "+", "COUNT", strconv.FormatInt(n, 10)}
		}
		sent := time.Now()
		writeCommand(w, args)
		if err := w.Flush(); err != nil {
			return s, err
		}
		reply, err := readReply(r)
		if err != nil {
			return s, err
		}
		rtts = append(rtts, time.Since(sent))
		entries, err := pageEntries(reply, cmd)
		if err != nil {
			return s, err
		}
		if len(entries) == 0 {
			break // the stream ended
		}
		for _, e := range entries {
			id, fields, err := entry(e)
			if err != nil {
				return s, err
			}
			after = id
			for _, f := range fields {
				b, _ := f.([]byte)
				bytes += int64(len(b))
			}
		}
		s.Records += int64(len(entries))
	}
	elapsed := time.Since(start)
	s.RoundTrips = len(rtts)
	s.Seconds = elapsed.Seconds()
	s.RecordsPerSec = float64(s.Records) / elapsed.Seconds()
	s.MBPerSec = float64(bytes) / 1e6 / elapsed.Seconds()
	slices.Sort(rtts)
	if len(rtts) > 0 {
		ms := func(q float64) float64 { return float64(rtts[int(q*float64(len(rtts)-1))]) / 1e6 }
		s.P50Ms, s.P99Ms, s.MaxMs = ms(0.5), ms(0.99), ms(1)
	}
	return s, nil
}

// pageEntries returns the entries of one XREAD or XRANGE reply.
func pageEntries(reply any, cmd string) ([]any, error) {
	if cmd == "xrange" {
		entries, ok := reply.([]any)
		if !ok {
			return nil, fmt.Errorf("XRANGE: unexpected reply %v", reply)
		}
		return entries, nil
	}
	if reply == nil {
		return nil, nil // XREAD: nothing after the id
	}
	streams, ok := reply.([]any)
	if !ok || len(streams) != 1 {
		return nil, fmt.Errorf("XREAD: unexpected reply %v", reply)
	}
	stream, ok := streams[0].([]any)
	if !ok || len(stream) != 2 {
		return nil, fmt.Errorf("XREAD: unexpected stream %v", streams[0])
	}
	entries, ok := stream[1].([]any)
	if !ok {
		return nil, fmt.Errorf("XREAD: unexpected entries %v", stream[1])
	}
	return entries, nil
}

// entry splits a stream entry [id, [field, value, ...]].
func entry(e any) (string, []any, error) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return "", nil, fmt.Errorf("unexpected entry %v", e)
	}
	id, ok := pair[0].([]byte)
	fields, ok2 := pair[1].([]any)
	if !ok || !ok2 {
		return "", nil, fmt.Errorf("unexpected entry %v", e)
	}
	return string(id), fields, nil
}

func writeCommand(w *bufio.Writer, args []string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// readReply reads one RESP2 reply: []byte for bulk and simple strings, int64, []any for
// arrays, nil for null bulk strings and arrays; an error reply is returned as an error.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	kind, body := line[0], string(line[1:len(line)-2])
	switch kind {
	case '+':
		return []byte(body), nil
	case '-':
		return nil, errors.New(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // $-1: null
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return b[:n], nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // *-1: null
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", kind)
}
