// Scenarios of the transport over real TCP on 127.0.0.1:0: a client Conn and a Server, or a raw
// net.Conn playing a broken or foreign peer.
//
// Method: each test drives one scenario and checks what each side observes (responses, errors
// with errors.Is, closes, log lines). Handlers block on channels the test controls, so "in
// flight", "out of order" and "cancelled" are states the test reaches deliberately, never by
// sleeping; every wait has a deadline (testDeadline) and fails with what it waited for. TestMain
// runs goleak over the package: no goroutine may outlive Shutdown and Close.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

func TestRoundTrip(t *testing.T) {
	var seen atomic.Pointer[Request]
	s := startServer(t, ServerConfig{NodeID: "node-7", Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
		seen.Store(&Request{Type: req.Type, ClientID: req.ClientID, Remote: req.Remote})
		return echoTopics(ctx, req)
	})})
	c := dial(t, s.Addr())
	if c.NodeID() != "node-7" || c.Version() != protocol.VersionMax {
		t.Fatalf("handshake: node %q version %d, want node-7 version %d", c.NodeID(), c.Version(), protocol.VersionMax)
	}

	mustCallTopics(t, c, "orders", "payments")
	got := seen.Load()
	if got.Type != protocol.TypeMetadata || got.ClientID != "client-test" || got.Remote == "" {
		t.Errorf("handler saw %+v, want type metadata, client id client-test and a remote address", *got)
	}

	ctx := context.Background()
	_, err := callTopics(ctx, c, "busy")
	if !errors.Is(err, protocol.ErrBusy) || !strings.Contains(err.Error(), "64 MiB in flight") {
		t.Errorf("error response: got %v, want protocol.ErrBusy with the server's message", err)
	}
	if err := c.Call(ctx, protocol.TypeMetadata, protocol.MetadataRequest{}, nil); err != nil {
		t.Errorf("Call with a nil resp: %v", err)
	}
	var wrongShape int
	if err := c.Call(ctx, protocol.TypeMetadata, protocol.MetadataRequest{Topics: []string{"x"}}, &wrongShape); !errors.Is(err, protocol.ErrMalformed) {
		t.Errorf("decoding a metadata response into an int: got %v, want protocol.ErrMalformed", err)
	}
	if err := c.Call(ctx, protocol.TypeHandshake, protocol.Handshake{}, nil); !errors.Is(err, protocol.ErrInvalidArgument) {
		t.Errorf("Call(TypeHandshake): got %v, want protocol.ErrInvalidArgument", err)
	}
	mustCallTopics(t, c, "still-works") // none of the above broke the connection
}

func TestHandlerErrorsCrossTheWire(t *testing.T) {
	sentinels := []error{protocol.ErrNotLeader, protocol.ErrBusy, protocol.ErrUnknownTopic, protocol.ErrStaleEpoch,
		protocol.ErrIDNotIncreasing, protocol.ErrShuttingDown, protocol.ErrTooLarge}
	s := startServer(t, ServerConfig{Handler: HandlerFunc(func(_ context.Context, req Request) (any, error) {
		var m protocol.MetadataRequest
		if err := protocol.Unmarshal(req.Body, &m); err != nil {
			return nil, err
		}
		for _, sentinel := range sentinels {
			if sentinel.Error() == m.Topics[0] {
				return nil, fmt.Errorf("partition orders-3: %w", sentinel)
			}
		}
		return nil, errors.New("a plain error")
	})})
	c := dial(t, s.Addr())
	for _, sentinel := range sentinels {
		_, err := callTopics(context.Background(), c, sentinel.Error())
		if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), "partition orders-3") {
			t.Errorf("handler returned %q wrapped: client got %v, want errors.Is and the server's message", sentinel, err)
		}
	}
	_, err := callTopics(context.Background(), c, "other")
	if !errors.Is(err, protocol.ErrUnknown) || !strings.Contains(err.Error(), "a plain error") {
		t.Errorf("a plain error: client got %v, want protocol.ErrUnknown with the message", err)
	}
}

func TestPipelinedCallsAllMatched(t *testing.T) {
	s := startServer(t, ServerConfig{Handler: HandlerFunc(echoTopics)})
	c := dial(t, s.Addr())
	const goroutines, callsEach = 8, 250
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for i := range callsEach {
				want := []string{fmt.Sprintf("g%d-call%d", g, i), fmt.Sprint(i * g)}
				got, err := callTopics(ctx, c, want...)
				if err != nil || !slices.Equal(got, want) {
					errs <- fmt.Errorf("call %v: got %v, %v", want, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestResponsesOutOfOrder(t *testing.T) {
	releaseSlow := make(chan struct{})
	slowStarted := make(chan struct{})
	s := startServer(t, ServerConfig{Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
		var m protocol.MetadataRequest
		_ = protocol.Unmarshal(req.Body, &m)
		if m.Topics[0] == "slow" {
			close(slowStarted)
			<-releaseSlow
		}
		return echoTopics(ctx, req)
	})})
	c := dial(t, s.Addr())

	slowDone := make(chan error, 1)
	go func() {
		got, err := callTopics(context.Background(), c, "slow")
		if err == nil && !slices.Equal(got, []string{"slow"}) {
			err = fmt.Errorf("got %v, want [slow]", got)
		}
		slowDone <- err
	}()
	recv(t, slowStarted, "the slow request to reach its handler")
	for i := range 10 { // requests sent after the slow one are answered while it waits
		mustCallTopics(t, c, fmt.Sprintf("fast-%d", i))
	}
	select {
	case err := <-slowDone:
		t.Fatalf("the slow call returned (%v) before its handler was released", err)
	default:
	}
	close(releaseSlow)
	if err := recv(t, slowDone, "the slow call"); err != nil {
		t.Fatalf("slow call: %v", err)
	}
}

func TestCallContextCancelled(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	handlerDone := make(chan struct{}, 1)
	s := startServer(t, ServerConfig{Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
		var m protocol.MetadataRequest
		_ = protocol.Unmarshal(req.Body, &m)
		if m.Topics[0] == "blocked" {
			started <- struct{}{}
			<-release
			defer func() { handlerDone <- struct{}{} }()
		}
		return echoTopics(ctx, req)
	})})
	c := dial(t, s.Addr())

	ctx, cancel := context.WithCancel(context.Background())
	callErr := make(chan error, 1)
	go func() {
		_, err := callTopics(ctx, c, "blocked")
		callErr <- err
	}()
	recv(t, started, "the request to reach its handler")
	cancel()
	if err := recv(t, callErr, "the cancelled call to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: got %v, want context.Canceled", err)
	}
	close(release) // the late response arrives and is dropped
	recv(t, handlerDone, "the handler to return")
	mustCallTopics(t, c, "after-cancel")
	if err := c.Err(); err != nil {
		t.Fatalf("connection after a cancelled call: %v, want it open", err)
	}

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if _, err := callTopics(done, c, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a done context: got %v, want context.Canceled", err)
	}
}

func TestShutdownLetsInFlightRequestFinish(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var handlerCtxErr atomic.Value
	s, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
			var m protocol.MetadataRequest
			_ = protocol.Unmarshal(req.Body, &m)
			if m.Topics[0] == "in-flight" {
				close(started)
				<-release
				handlerCtxErr.Store(fmt.Sprint(ctx.Err()))
			}
			return echoTopics(ctx, req)
		})})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr())
	callDone := make(chan error, 1)
	go func() {
		got, err := callTopics(context.Background(), c, "in-flight")
		if err == nil && !slices.Equal(got, []string{"in-flight"}) {
			err = fmt.Errorf("got %v", got)
		}
		callDone <- err
	}()
	recv(t, started, "the request to reach its handler")

	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- s.Shutdown(context.Background()) }()
	waitFor(t, "the server to stop accepting", func() bool {
		nc, err := net.Dial("tcp", s.Addr())
		if err == nil {
			_ = nc.Close()
		}
		return err != nil
	})
	waitFor(t, "a new request on the draining connection to be refused as retriable", func() bool {
		_, err := callTopics(context.Background(), c, "new")
		return errors.Is(err, protocol.ErrShuttingDown) && protocol.CodeOf(err).Retriable()
	})
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if err := recv(t, callDone, "the in-flight call"); err != nil {
		t.Fatalf("in-flight call during Shutdown: %v, want its response", err)
	}
	if err := recv(t, shutdownDone, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := handlerCtxErr.Load(); got != "<nil>" {
		t.Errorf("handler ctx during a graceful shutdown: %v, want not cancelled", got)
	}
	<-c.Done()
	if err := c.Call(context.Background(), protocol.TypeMetadata, protocol.MetadataRequest{}, nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Call after Shutdown: got %v, want ErrConnClosed", err)
	}
}

func TestShutdownDeadlineCancelsHandlers(t *testing.T) {
	started := make(chan struct{})
	s, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
			close(started)
			<-ctx.Done() // a long poll that only the context ends
			return nil, protocol.Errorf(protocol.ErrShuttingDown, "fetch abandoned")
		})})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr())
	callDone := make(chan error, 1)
	go func() { callDone <- c.Call(context.Background(), protocol.TypeFetch, protocol.FetchRequest{}, nil) }()
	recv(t, started, "the long poll to start")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a done context: got %v, want context.Canceled", err)
	}
	// The cancelled handler's answer may or may not beat the close of the connection.
	if err := recv(t, callDone, "the long poll"); !errors.Is(err, ErrConnClosed) && !errors.Is(err, protocol.ErrShuttingDown) {
		t.Fatalf("long poll cut by Shutdown: got %v, want ErrConnClosed or protocol.ErrShuttingDown", err)
	}
}

func TestServerGoneFailsPendingCalls(t *testing.T) {
	// A fake server that completes the handshake, reads one request and hangs up.
	requestRead := make(chan struct{})
	hangUp := make(chan struct{})
	addr, wait := fakeServer(t, func(nc net.Conn) error {
		if err := acceptHandshake(nc, protocol.HandshakeResponse{Version: protocol.VersionMax, NodeID: "fake"}); err != nil {
			return err
		}
		if _, _, err := readRawFrameErr(nc); err != nil {
			return err
		}
		close(requestRead)
		<-hangUp
		return nil
	})
	c := dial(t, addr)
	callDone := make(chan error, 1)
	go func() {
		callDone <- c.Call(context.Background(), protocol.TypeMetadata, protocol.MetadataRequest{}, nil)
	}()
	recv(t, requestRead, "the fake server to read the request")
	close(hangUp)
	if err := recv(t, callDone, "the pending call"); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("pending call when the server hangs up: got %v, want ErrConnClosed", err)
	}
	recv(t, c.Done(), "Done to close")
	if err := c.Call(context.Background(), protocol.TypeMetadata, protocol.MetadataRequest{}, nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call after the server hung up: got %v, want ErrConnClosed", err)
	}
	if !errors.Is(c.Err(), ErrConnClosed) {
		t.Fatalf("Err after the server hung up: %v, want ErrConnClosed", c.Err())
	}
	wait()
}

func TestCloseFailsPendingCalls(t *testing.T) {
	started := make(chan struct{})
	s := startServer(t, ServerConfig{Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
		close(started)
		<-ctx.Done() // cancelled when the client's close reaches the server
		return nil, ctx.Err()
	})})
	c := dial(t, s.Addr())
	callDone := make(chan error, 1)
	go func() { callDone <- c.Call(context.Background(), protocol.TypeFetch, protocol.FetchRequest{}, nil) }()
	recv(t, started, "the request to reach its handler")
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := recv(t, callDone, "the pending call"); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("pending call at Close: got %v, want ErrConnClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestVersionMismatchRefused(t *testing.T) {
	logs := &logBuffer{}
	s := startServer(t, ServerConfig{Handler: HandlerFunc(echoTopics), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	nc := rawConn(t, s.Addr())
	if _, err := nc.Write(handshakeFrame(t, protocol.VersionMax+1, protocol.VersionMax+2)); err != nil {
		t.Fatal(err)
	}
	h, body := readRawFrame(t, nc)
	if h.Flags != protocol.FlagResponse|protocol.FlagError || h.Type != protocol.TypeHandshake || h.RequestID != 1 {
		t.Fatalf("answer to a foreign version: header %+v, want an error response to the handshake", h)
	}
	var eb protocol.ErrorBody
	if err := protocol.Unmarshal(body, &eb); err != nil {
		t.Fatal(err)
	}
	clientRange := fmt.Sprintf("%d..%d", protocol.VersionMax+1, protocol.VersionMax+2)
	serverRange := fmt.Sprintf("%d..%d", protocol.VersionMin, protocol.VersionMax)
	if eb.Code != protocol.CodeUnsupportedVersion || !strings.Contains(eb.Message, clientRange) || !strings.Contains(eb.Message, serverRange) {
		t.Fatalf("refusal: %+v, want CodeUnsupportedVersion naming %s and %s", eb, clientRange, serverRange)
	}
	if rest := expectClosedByServer(t, nc); len(rest) != 0 {
		t.Fatalf("after the refusal the server sent %d more bytes", len(rest))
	}
	waitFor(t, "a log line for the refused version", func() bool {
		return len(logs.lines("protocol violation", nc.LocalAddr().String(), clientRange)) == 1
	})
}

func TestDialSeesRefusedVersion(t *testing.T) {
	// A fake server from the future refuses this client.
	addr, wait := fakeServer(t, func(nc net.Conn) error {
		return acceptHandshake(nc, protocol.ErrorBody{Code: protocol.CodeUnsupportedVersion, Message: "client speaks 1..1, this server speaks 5..6"})
	})
	_, err := Dial(context.Background(), addr, DialOptions{})
	if !errors.Is(err, protocol.ErrUnsupportedVersion) || !strings.Contains(err.Error(), "5..6") {
		t.Fatalf("Dial to a server that refuses the version: got %v, want protocol.ErrUnsupportedVersion with its message", err)
	}
	wait()
}

func TestDialRefusedSaysWhatToDo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	_, err = Dial(context.Background(), addr, DialOptions{})
	want := "cannot reach " + addr + ": is a node running? start one with make run"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Dial to a closed port: got %v, want it to contain %q", err, want)
	}
}

func TestListenErrors(t *testing.T) {
	s := startServer(t, ServerConfig{Handler: HandlerFunc(echoTopics)})
	_, err := Listen(ServerConfig{Addr: s.Addr(), Handler: HandlerFunc(echoTopics)})
	if err == nil || !strings.Contains(err.Error(), "pick another --broker-addr") {
		t.Errorf("Listen on a taken address: got %v, want it to say to pick another --broker-addr", err)
	}
	_, err = Listen(ServerConfig{MaxInFlightPerConn: -1, HandshakeTimeout: -1, MaxInFlightBytesPerConn: -1})
	for _, field := range []string{"Addr", "Handler", "MaxInFlightPerConn", "MaxInFlightBytesPerConn", "HandshakeTimeout"} {
		if err == nil || !strings.Contains(err.Error(), "ServerConfig."+field+" ") {
			t.Errorf("Listen with a bad config: got %v, want a message about %s", err, field)
		}
	}
}

func TestHandshakeTimeoutClosesSilentConnection(t *testing.T) {
	s := startServer(t, ServerConfig{Handler: HandlerFunc(echoTopics), HandshakeTimeout: 20 * time.Millisecond})
	nc := rawConn(t, s.Addr()) // says nothing
	expectClosedByServer(t, nc)
}

// TestBadBytesCloseOnlyThatConnection sends each kind of bad input on its own raw connection,
// next to a healthy Conn, and checks that the server closes the raw connection with one log line
// naming the reason and the remote address, and that the healthy Conn keeps working.
func TestBadBytesCloseOnlyThatConnection(t *testing.T) {
	oversized := protocol.AppendFrame(nil, protocol.FrameHeader{Type: protocol.TypeProduce, RequestID: 2}, nil)
	oversized[0] = 0xff // body length far above MaxFrameBytes
	metadata := func(flags protocol.Flags, typ protocol.MessageType) []byte {
		return frame(t, protocol.FrameHeader{Type: typ, Flags: flags, RequestID: 2}, protocol.MetadataRequest{})
	}
	cases := []struct {
		name      string
		handshake bool   // complete a valid handshake first
		send      []byte // then send this
		reason    string // in the log line
	}{
		{"garbage", true, []byte("GET / HTTP/1.1\r\nHost: shoal\r\n\r\n"), "malformed frame"},
		{"oversized frame", true, oversized, "above the limit"},
		{"response flag on a request", true, metadata(protocol.FlagResponse, protocol.TypeMetadata), "response flag"},
		{"error flag on a request", true, metadata(protocol.FlagError, protocol.TypeMetadata), "error flag on a request"},
		{"unknown type", true, metadata(0, 999), "unknown message type"},
		{"second handshake", true, handshakeFrame(t, 1, 1), "second handshake"},
		{"request before the handshake", false, metadata(0, protocol.TypeMetadata), "starts with a handshake"},
		{"garbage before the handshake", false, []byte("\x00\x00\x00\x01\xff\xff\x00\x00garbage!"), "malformed frame"},
		{"undecodable handshake", false, protocol.AppendFrame(nil, protocol.FrameHeader{Type: protocol.TypeHandshake, RequestID: 1}, []byte{0xc1}), "handshake: malformed request"},
		{"oversized handshake", false, protocol.AppendFrame(nil, protocol.FrameHeader{Type: protocol.TypeHandshake, RequestID: 1}, make([]byte, 5000)), "handshake body of 5000 bytes"},
	}
	logs := &logBuffer{}
	s := startServer(t, ServerConfig{Handler: HandlerFunc(echoTopics), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	healthy := dial(t, s.Addr())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var nc net.Conn
			if tc.handshake {
				nc = rawHandshake(t, s.Addr())
			} else {
				nc = rawConn(t, s.Addr())
			}
			if _, err := nc.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			expectClosedByServer(t, nc)
			remote := "remote=" + nc.LocalAddr().String()
			waitFor(t, fmt.Sprintf("a log line with %q and %q", tc.reason, remote), func() bool {
				return len(logs.lines(remote, tc.reason)) > 0
			})
			if got := logs.lines(remote); len(got) != 1 {
				t.Errorf("log lines for the connection: got %d, want 1:\n%s", len(got), strings.Join(got, "\n"))
			}
			mustCallTopics(t, healthy, "still-served")
		})
	}
}

// TestMaxInFlightPerConnBoundsHandlers sends many more requests than the limit at once and checks
// that no more handlers than the limit ever run together for the connection.
func TestMaxInFlightPerConnBoundsHandlers(t *testing.T) {
	const limit, calls = 4, 40
	var active, peak atomic.Int64
	release := make(chan struct{})
	s := startServer(t, ServerConfig{MaxInFlightPerConn: limit, Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		return echoTopics(ctx, req)
	})})
	c := dial(t, s.Addr())
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			if _, err := callTopics(context.Background(), c, fmt.Sprint(i)); err != nil {
				errs <- err
			}
		})
	}
	waitFor(t, fmt.Sprintf("%d handlers to be active", limit), func() bool { return active.Load() == limit })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := peak.Load(); got != limit {
		t.Fatalf("peak of concurrent handlers: got %d, want %d (the limit)", got, limit)
	}
}

// TestMaxInFlightBytesPerConnBoundsBodies does the same for request-body bytes: with room for two
// 300 KB bodies, no third handler starts until one finishes.
func TestMaxInFlightBytesPerConnBoundsBodies(t *testing.T) {
	const bodyBytes, calls = 300 << 10, 12
	var active, peak atomic.Int64
	release := make(chan struct{})
	s := startServer(t, ServerConfig{MaxInFlightBytesPerConn: 2*bodyBytes + 1000, Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		return protocol.Empty{}, nil
	})})
	c := dial(t, s.Addr())
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			req := protocol.ProduceRequest{Topic: "t", Batches: []protocol.ProducePartition{{Batch: make([]byte, bodyBytes)}}}
			if err := c.Call(context.Background(), protocol.TypeProduce, req, nil); err != nil {
				errs <- err
			}
		})
	}
	waitFor(t, "2 handlers to be active", func() bool { return active.Load() == 2 })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := peak.Load(); got != 2 {
		t.Fatalf("peak of concurrent handlers: got %d, want 2", got)
	}
}

// TestLargeBodiesRoundTrip echoes bodies around the chunk size of the reader, byte for byte.
func TestLargeBodiesRoundTrip(t *testing.T) {
	s := startServer(t, ServerConfig{Handler: HandlerFunc(func(_ context.Context, req Request) (any, error) {
		var p protocol.ProduceRequest
		if err := protocol.Unmarshal(req.Body, &p); err != nil {
			return nil, err
		}
		return protocol.FetchResponse{Results: []protocol.FetchResult{{Batches: p.Batches[0].Batch}}}, nil
	})})
	c := dial(t, s.Addr())
	for _, size := range []int{0, 1, readBufferBytes, bodyChunkBytes - 10, bodyChunkBytes + 10, 3*bodyChunkBytes + 7} {
		batch := make([]byte, size)
		for i := range batch {
			batch[i] = byte(i*7 + size)
		}
		var resp protocol.FetchResponse
		req := protocol.ProduceRequest{Topic: "t", Batches: []protocol.ProducePartition{{Batch: batch}}}
		if err := c.Call(context.Background(), protocol.TypeProduce, req, &resp); err != nil {
			t.Fatalf("echo of %d bytes: %v", size, err)
		}
		if got := resp.Results[0].Batches; string(got) != string(batch) {
			t.Fatalf("echo of %d bytes: got %d bytes back, not the same", size, len(got))
		}
	}
}

// TestDialTimeouts tells the caller's context apart from Dial's own timeout, against a server
// that accepts but never answers the handshake.
func TestDialTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the kernel completes connects; nobody answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Dial(context.Background(), ln.Addr().String(), DialOptions{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "dial timeout of 100ms") {
		t.Errorf("Dial's own timeout: got %v, want os.ErrDeadlineExceeded naming the timeout, not context.DeadlineExceeded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err = Dial(ctx, ln.Addr().String(), DialOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context: got %v, want context.Canceled", err)
	}
}

// TestConnClosesOnBadBytesFromServer: a server that answers with garbage breaks only that Conn:
// its pending call fails with ErrConnClosed naming the violation, and a log line says why.
func TestConnClosesOnBadBytesFromServer(t *testing.T) {
	addr, wait := fakeServer(t, func(nc net.Conn) error {
		if err := acceptHandshake(nc, protocol.HandshakeResponse{Version: protocol.VersionMax, NodeID: "liar"}); err != nil {
			return err
		}
		if _, _, err := readRawFrameErr(nc); err != nil {
			return err
		}
		if _, err := nc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, nc) // until the client hangs up
		return err
	})
	logs := &logBuffer{}
	c, err := Dial(context.Background(), addr, DialOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Call(context.Background(), protocol.TypeMetadata, protocol.MetadataRequest{}, nil)
	if !errors.Is(err, ErrConnClosed) || !errors.Is(err, protocol.ErrBadFrame) {
		t.Fatalf("call answered with garbage: got %v, want ErrConnClosed wrapping protocol.ErrBadFrame", err)
	}
	if got := logs.lines("protocol violation", "node_id=liar"); len(got) != 1 {
		t.Fatalf("log lines about the violation: got %q, want 1", got)
	}
	_ = c.Close()
	wait()
}

// admitRecorder is a Handler that is also an Admitter: it records the order of admissions and
// answers each request with its admission number.
type admitRecorder struct {
	mu       sync.Mutex
	admitted []uint64
}

func (a *admitRecorder) Handle(ctx context.Context, req Request) (any, error) {
	return nil, errors.New("Handle must not be called when the handler admits")
}

func (a *admitRecorder) Admit(_ context.Context, req Request) func(context.Context) (any, error) {
	var m protocol.MetadataRequest
	if err := protocol.Unmarshal(req.Body, &m); err != nil {
		return func(context.Context) (any, error) { return nil, err }
	}
	a.mu.Lock()
	a.admitted = append(a.admitted, uint64(len(m.Topics)))
	a.mu.Unlock()
	return func(context.Context) (any, error) { return &protocol.ListTopicsResponse{Topics: m.Topics}, nil }
}

// TestAdmitSeesRequestsInArrivalOrder pipelines 200 requests in one write and checks that Admit
// saw them in exactly that order, and that every request was answered.
func TestAdmitSeesRequestsInArrivalOrder(t *testing.T) {
	rec := &admitRecorder{}
	srv := startServer(t, ServerConfig{Handler: rec})
	nc := rawHandshake(t, srv.Addr())
	defer nc.Close()
	var stream []byte
	for i := range 200 {
		stream = append(stream, frame(t, protocol.FrameHeader{Type: protocol.TypeMetadata, RequestID: uint64(i + 1)},
			&protocol.MetadataRequest{Topics: make([]string, i)})...)
	}
	if _, err := nc.Write(stream); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if h, _ := readRawFrame(t, nc); h.Flags&protocol.FlagError != 0 {
			t.Fatalf("request %d answered with an error", h.RequestID)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, n := range rec.admitted {
		if n != uint64(i) {
			t.Fatalf("admission %d was request %d: out of order", i, n)
		}
	}
}
