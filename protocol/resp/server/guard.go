package server

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/shoalmq/shoal/protocol/resp"
)

// readChunkBytes is how much the guard reads from the socket at once.
const readChunkBytes = 16 << 10

// guardListener wraps every accepted connection in a guardConn.
type guardListener struct {
	net.Listener
	limits resp.Limits
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, scanner: resp.NewRequestScanner(l.limits), limits: l.limits}, nil
}

// guardConn is the connection redcon reads from. Read returns only bytes of complete requests
// (so redcon's parser never buffers a partial request of unbounded size), and on a framing
// error writes the error reply and fails, after the complete requests before it.
//
// Concurrency: Read runs on the connection's redcon goroutine; watch runs a watcher goroutine
// that fills the same buffer, and the redcon goroutine never reads while it runs (stopWatch
// waits for it).
type guardConn struct {
	net.Conn
	scanner *resp.RequestScanner
	limits  resp.Limits
	// buf holds bytes read from the socket and not yet returned; its first ready bytes are
	// complete requests. Invariant: ready <= len(buf).
	buf      []byte
	ready    int
	protoErr error // a framing error found after buf[:ready]
	readErr  error // the socket's error, returned once buf[:ready] is drained

	watcher     sync.WaitGroup
	stopping    bool // set by stopWatch before it interrupts the watcher's read
	stoppingMu  sync.Mutex
	closeOnce   sync.Once
	closeResult error
}

// Read implements net.Conn for redcon.
func (g *guardConn) Read(p []byte) (int, error) {
	for {
		if g.ready > 0 {
			n := copy(p, g.buf[:g.ready])
			g.buf = g.buf[:copy(g.buf, g.buf[n:])]
			g.ready -= n
			return n, nil
		}
		if g.protoErr != nil {
			_, _ = g.Conn.Write(resp.AppendValue(nil, resp.ErrorValue(g.protoErr), 2))
			return 0, g.protoErr
		}
		if g.readErr != nil {
			return 0, g.readErr
		}
		g.fill()
	}
}

// fill reads once from the socket and scans what arrived.
func (g *guardConn) fill() {
	start := len(g.buf)
	if cap(g.buf)-start < readChunkBytes {
		g.buf = append(g.buf, make([]byte, readChunkBytes)...)[:start]
	}
	n, err := g.Conn.Read(g.buf[start : start+readChunkBytes])
	g.buf = g.buf[:start+n]
	if n > 0 && g.protoErr == nil {
		complete, scanErr := g.scanner.Scan(g.buf[start:])
		if complete > 0 {
			g.ready = start + complete
		}
		if scanErr != nil {
			g.protoErr = scanErr
			g.buf = g.buf[:g.ready]
		}
	}
	if err != nil {
		g.readErr = err
	}
}

// watch starts reading the socket in the background while the connection's goroutine waits
// for a blocking command, and calls hangup if the client closes the connection (or the read
// fails). At most readChunkBytes beyond the limits are buffered: a client that keeps sending
// stops being read, and then its hang-up is noticed only after the wait.
func (g *guardConn) watch(hangup func()) {
	g.stoppingMu.Lock()
	g.stopping = false
	g.stoppingMu.Unlock()
	g.watcher.Add(1)
	go func() {
		defer g.watcher.Done()
		for g.readErr == nil && g.protoErr == nil && len(g.buf) < g.limits.MaxRequestBytes {
			g.fill()
		}
		g.stoppingMu.Lock()
		stopped := g.stopping
		g.stoppingMu.Unlock()
		var ne net.Error
		if stopped && errors.As(g.readErr, &ne) && ne.Timeout() {
			g.readErr = nil // our own interruption, not the client's
			return
		}
		if g.readErr != nil || g.protoErr != nil {
			hangup()
		}
	}()
}

// stopWatch interrupts the watcher and waits for it; the buffer is the caller's again.
func (g *guardConn) stopWatch() {
	g.stoppingMu.Lock()
	g.stopping = true
	g.stoppingMu.Unlock()
	_ = g.Conn.SetReadDeadline(time.Now())
	g.watcher.Wait()
	_ = g.Conn.SetReadDeadline(time.Time{})
}

// Close closes the socket once.
func (g *guardConn) Close() error {
	g.closeOnce.Do(func() { g.closeResult = g.Conn.Close() })
	return g.closeResult
}
