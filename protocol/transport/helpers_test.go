package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (servers, connections and
// handlers must all be gone when Shutdown and Close return).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDeadline bounds every wait on a condition; a test that hits it has failed.
const testDeadline = 10 * time.Second

// startServer listens on 127.0.0.1:0 with cfg (Addr filled in) and shuts the server down when the
// test ends, failing it if Shutdown does not finish cleanly.
func startServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "node-test"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown at cleanup: %v", err)
		}
	})
	return s
}

// dial connects to addr and closes the Conn when the test ends.
func dial(t testing.TB, addr string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	c, err := Dial(ctx, addr, DialOptions{ClientID: "client-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// echoTopics answers a metadata request with one broker per requested topic, named after it, and
// fails a topic named "busy" with protocol.ErrBusy.
func echoTopics(_ context.Context, req Request) (any, error) {
	var m protocol.MetadataRequest
	if err := protocol.Unmarshal(req.Body, &m); err != nil {
		return nil, err
	}
	resp := protocol.MetadataResponse{}
	for _, topic := range m.Topics {
		if topic == "busy" {
			return nil, protocol.Errorf(protocol.ErrBusy, "partition %s-0 has 64 MiB in flight", topic)
		}
		resp.Brokers = append(resp.Brokers, protocol.Broker{NodeID: topic, Addr: req.ClientID})
	}
	return resp, nil
}

// callTopics calls TypeMetadata for topics and returns the broker names that came back.
func callTopics(ctx context.Context, c *Conn, topics ...string) ([]string, error) {
	var resp protocol.MetadataResponse
	if err := c.Call(ctx, protocol.TypeMetadata, protocol.MetadataRequest{Topics: topics}, &resp); err != nil {
		return nil, err
	}
	var names []string
	for _, b := range resp.Brokers {
		names = append(names, b.NodeID)
	}
	return names, nil
}

// mustCallTopics is callTopics that fails the test on error or on a wrong answer.
func mustCallTopics(t testing.TB, c *Conn, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	got, err := callTopics(ctx, c, topics...)
	if err != nil {
		t.Fatalf("Call metadata %v: %v", topics, err)
	}
	if strings.Join(got, ",") != strings.Join(topics, ",") {
		t.Fatalf("Call metadata %v: got brokers %v, want %v", topics, got, topics)
	}
}

// frame returns the bytes of one frame whose body is v encoded.
func frame(t testing.TB, h protocol.FrameHeader, v any) []byte {
	t.Helper()
	body, err := protocol.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return protocol.AppendFrame(nil, h, body)
}

// handshakeFrame is a client's valid handshake.
func handshakeFrame(t testing.TB, versionMin, versionMax uint16) []byte {
	return frame(t, protocol.FrameHeader{Type: protocol.TypeHandshake, RequestID: 1},
		protocol.Handshake{VersionMin: versionMin, VersionMax: versionMax, ClientID: "raw"})
}

// rawConn opens a plain TCP connection to addr, closed when the test ends.
func rawConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testDeadline)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testDeadline))
	return nc
}

// readRawFrame reads one frame from a raw connection.
func readRawFrame(t testing.TB, nc net.Conn) (protocol.FrameHeader, []byte) {
	t.Helper()
	h, body, err := readRawFrameErr(nc)
	if err != nil {
		t.Fatal(err)
	}
	return h, body
}

// readRawFrameErr reads one frame from a raw connection (for goroutines other than the test's).
func readRawFrameErr(nc net.Conn) (protocol.FrameHeader, []byte, error) {
	var header [protocol.FrameHeaderBytes]byte
	if _, err := io.ReadFull(nc, header[:]); err != nil {
		return protocol.FrameHeader{}, nil, fmt.Errorf("read frame header: %w", err)
	}
	h, err := protocol.ReadFrameHeader(header[:])
	if err != nil {
		return h, nil, fmt.Errorf("frame header: %w", err)
	}
	body := make([]byte, h.BodyLength)
	if _, err := io.ReadFull(nc, body); err != nil {
		return h, nil, fmt.Errorf("read frame body: %w", err)
	}
	return h, body, nil
}

// fakeServer listens on 127.0.0.1:0 and runs script on the first connection it accepts, on its
// own goroutine, then closes the connection. wait reports script's error and waits for it to end.
func fakeServer(t *testing.T, script func(nc net.Conn) error) (addr string, wait func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(testDeadline))
		done <- script(nc)
	}()
	return ln.Addr().String(), func() {
		t.Helper()
		if err := recv(t, done, "the fake server's script"); err != nil {
			t.Errorf("fake server: %v", err)
		}
	}
}

// acceptHandshake reads a client's handshake on nc and answers it with answer (a
// HandshakeResponse, or an ErrorBody sent as an error frame).
func acceptHandshake(nc net.Conn, answer any) error {
	h, _, err := readRawFrameErr(nc)
	if err != nil {
		return err
	}
	flags := protocol.FlagResponse
	if _, isError := answer.(protocol.ErrorBody); isError {
		flags |= protocol.FlagError
	}
	body, err := protocol.Marshal(answer)
	if err != nil {
		return err
	}
	_, err = nc.Write(protocol.AppendFrame(nil, protocol.FrameHeader{Type: h.Type, Flags: flags, RequestID: h.RequestID}, body))
	return err
}

// rawHandshake opens a raw connection and completes a valid handshake on it.
func rawHandshake(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc := rawConn(t, addr)
	if _, err := nc.Write(handshakeFrame(t, protocol.VersionMin, protocol.VersionMax)); err != nil {
		t.Fatalf("write handshake: %v", err)
	}
	h, body := readRawFrame(t, nc)
	var resp protocol.HandshakeResponse
	if h.Flags != protocol.FlagResponse || protocol.Unmarshal(body, &resp) != nil {
		t.Fatalf("handshake answer: flags %#x body %q, want a HandshakeResponse", h.Flags, body)
	}
	return nc
}

// expectClosedByServer reads from nc until the server closes it, and fails the test if it does
// not within the deadline. It returns the bytes read before the close.
func expectClosedByServer(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(testDeadline))
	got, err := io.ReadAll(nc)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("the server did not close the connection within %v (read %d bytes)", testDeadline, len(got))
	}
	return got // io.EOF (nil here) or a reset: both are a close
}

// logBuffer is a concurrency-safe sink for a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the lines that contain every one of words.
func (b *logBuffer) lines(words ...string) []string {
	var found []string
	for line := range strings.Lines(b.String()) {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			found = append(found, strings.TrimSpace(line))
		}
	}
	return found
}

// waitFor polls cond until it holds, failing the test with what after testDeadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testDeadline, what)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a stand-in for synchronisation
	}
}

// recv waits for a value on ch, failing the test with what after testDeadline.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testDeadline):
		t.Fatalf("timed out after %v waiting for %s", testDeadline, what)
		panic("unreachable")
	}
}
