// Server scenarios over real loopback TCP with a stub Backend that echoes the parsed command
// back (its name and keys) as a Value: go-redis connects with RESP3 (its default HELLO 3) and
// RESP2, with and without a password; redis-cli runs PING and COMMAND DOCS; raw bytes check
// pipelining order, blocking commands, protocol errors and random split input. Every test
// closes the server and goleak checks that no goroutine is left.
package server

import (
	"bufio"
	"context"
	"errors"
	"math/rand"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/shoalmq/shoal/protocol/resp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoBackend answers every command with [name, keys...]; a blocking command waits until its
// release channel is closed or its context ends.
type echoBackend struct {
	release   chan struct{}
	cancelled atomic.Int32
}

func (b *echoBackend) Submit(_ context.Context, _ *Client, cmd resp.Command, _ [][]byte) func(context.Context) resp.Value {
	reply := []resp.Value{resp.BulkString(cmd.Name())}
	for _, k := range cmd.Keys() {
		reply = append(reply, resp.BulkString(k))
	}
	if x, ok := cmd.(*resp.XAdd); ok {
		return func(context.Context) resp.Value { return resp.BulkID(x.ID.ID) }
	}
	blocking := resp.Blocking(cmd)
	return func(ctx context.Context) resp.Value {
		if blocking && b.release != nil {
			select {
			case <-b.release:
			case <-ctx.Done():
				b.cancelled.Add(1)
				return resp.NullArray
			}
		}
		return resp.Array(reply...)
	}
}

func startServer(t *testing.T, cfg Config, backend Backend) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, backend)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	for deadline := time.Now().Add(5 * time.Second); s.Addr() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Serve did not start within 5s")
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func TestGoRedisHandshake(t *testing.T) {
	for _, proto := range []int{2, 3} {
		for _, password := range []string{"", "secret"} {
			t.Run(map[int]string{2: "resp2", 3: "resp3"}[proto]+"/password="+password, func(t *testing.T) {
				s := startServer(t, Config{Password: password}, &echoBackend{})
				ctx := context.Background()
				rdb := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Protocol: proto, Password: password,
					ClientName: "shoal-test", DisableIdentity: false})
				defer rdb.Close()
				if got, err := rdb.Ping(ctx).Result(); err != nil || got != "PONG" {
					t.Fatalf("PING = %q, %v", got, err)
				}
				if got, err := rdb.Do(ctx, "CLIENT", "GETNAME").Result(); err != nil || got != "shoal-test" {
					t.Fatalf("CLIENT GETNAME = %v, %v", got, err)
				}
				if err := rdb.Do(ctx, "SELECT", "0").Err(); err != nil {
					t.Fatalf("SELECT 0: %v", err)
				}
				if err := rdb.Do(ctx, "SELECT", "1").Err(); err == nil || err.Error() != "ERR DB index is out of range" {
					t.Fatalf("SELECT 1: %v", err)
				}
				id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "orders", ID: "5-1", Values: []string{"a", "b"}}).Result()
				if err != nil || id != "5-1" {
					t.Fatalf("XADD = %q, %v", id, err)
				}
				got, err := rdb.Do(ctx, "XLEN", "orders").Result()
				if err != nil || !equalStrings(got, "xlen", "orders") {
					t.Fatalf("XLEN echo = %#v, %v", got, err)
				}
				if err := rdb.Do(ctx, "XADD", "k", "0", "a", "b").Err(); err == nil ||
					err.Error() != "ERR The ID specified in XADD must be greater than 0-0" {
					t.Fatalf("XADD 0: %v", err)
				}
				hello, err := rdb.Do(ctx, "HELLO", proto).Result()
				if err != nil {
					t.Fatalf("HELLO: %v", err)
				}
				if proto == 3 {
					m, ok := hello.(map[any]any)
					if !ok || m["version"] != DefaultVersion || m["proto"] != int64(3) {
						t.Fatalf("HELLO 3 = %#v", hello)
					}
				}
			})
		}
	}
}

func TestAuthRequired(t *testing.T) {
	s := startServer(t, Config{Password: "secret"}, &echoBackend{})
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	if err := rdb.Do(ctx, "XLEN", "k").Err(); err == nil || err.Error() != "NOAUTH Authentication required." {
		t.Fatalf("XLEN before AUTH: %v", err)
	}
	if err := rdb.Do(ctx, "AUTH", "wrong").Err(); err == nil || err.Error() != "WRONGPASS invalid username-password pair or user is disabled." {
		t.Fatalf("AUTH wrong: %v", err)
	}
}

func equalStrings(got any, want ...string) bool {
	list, ok := got.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i := range want {
		if list[i] != want[i] {
			return false
		}
	}
	return true
}

// dial opens a raw connection and returns a function that reads one reply's raw lines.
func dial(t *testing.T, s *Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readAll(t *testing.T, r *bufio.Reader, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		v, rest, err := readReply(r)
		if err != nil {
			t.Fatalf("reading reply: %v (so far %q)", err, b.String())
		}
		b.WriteString(v + rest)
	}
	return b.String()
}

// readReply reads one RESP2 reply and returns it as raw text.
func readReply(r *bufio.Reader) (string, string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return line, "", err
	}
	switch line[0] {
	case '$':
		if line == "$-1\r\n" {
			return line, "", nil
		}
		var n int
		for _, c := range line[1 : len(line)-2] {
			n = n*10 + int(c-'0')
		}
		body := make([]byte, n+2)
		_, err := readFull(r, body)
		return line, string(body), err
	case '*':
		if line == "*-1\r\n" {
			return line, "", nil
		}
		var n int
		for _, c := range line[1 : len(line)-2] {
			n = n*10 + int(c-'0')
		}
		var b strings.Builder
		for range n {
			v, rest, err := readReply(r)
			if err != nil {
				return line, b.String(), err
			}
			b.WriteString(v + rest)
		}
		return line, b.String(), nil
	}
	return line, "", nil
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestPipelineOrderAndBlocking(t *testing.T) {
	backend := &echoBackend{release: make(chan struct{})}
	s := startServer(t, Config{}, backend)
	c, r := dial(t, s)
	pipeline := "PING\r\nXLEN a\r\nXREAD BLOCK 0 STREAMS a $\r\nXLEN b\r\n"
	if _, err := c.Write([]byte(pipeline)); err != nil {
		t.Fatal(err)
	}
	// The replies before the blocking command arrive while it waits.
	if got, want := readAll(t, r, 2), "+PONG\r\n*2\r\n$4\r\nxlen\r\n$1\r\na\r\n"; got != want {
		t.Fatalf("before the block: got %q, want %q", got, want)
	}
	// Another connection is not blocked.
	c2, r2 := dial(t, s)
	if _, err := c2.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r2, 1); got != "+PONG\r\n" {
		t.Fatalf("second connection: %q", got)
	}
	close(backend.release)
	if got, want := readAll(t, r, 2), "*2\r\n$5\r\nxread\r\n$1\r\na\r\n*2\r\n$4\r\nxlen\r\n$1\r\nb\r\n"; got != want {
		t.Fatalf("after the block: got %q, want %q", got, want)
	}
}

func TestHangUpCancelsBlockedCommand(t *testing.T) {
	backend := &echoBackend{release: make(chan struct{})}
	s := startServer(t, Config{}, backend)
	c, r := dial(t, s)
	if _, err := c.Write([]byte("PING\r\nXREAD BLOCK 0 STREAMS a $\r\n")); err != nil {
		t.Fatal(err)
	}
	readAll(t, r, 1)
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for backend.cancelled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the blocked command's context was not cancelled after the client hung up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProtocolErrorsCloseTheConnection(t *testing.T) {
	cases := []struct{ name, input, want string }{
		{"bad multibulk", "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"bulk too big", "*1\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"complete first", "PING\r\n*1\r\n:1\r\n", "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"},
		{"unbalanced quotes", "ECHO \"a\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Config{}, &echoBackend{})
			c, r := dial(t, s)
			if _, err := c.Write([]byte(tc.input)); err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			buf := make([]byte, 256)
			for {
				n, err := r.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if got.String() != tc.want {
				t.Fatalf("got %q, want %q (then close)", got.String(), tc.want)
			}
		})
	}
}

func TestConnectionCommands(t *testing.T) {
	s := startServer(t, Config{}, &echoBackend{})
	c, r := dial(t, s)
	cases := []struct{ request, want string }{
		{"PING a b", "-ERR wrong number of arguments for 'ping' command\r\n"},
		{"ECHO hi", "$2\r\nhi\r\n"},
		{"HELLO 4", "-NOPROTO unsupported protocol version\r\n"},
		{"HELLO x", "-ERR Protocol version is not an integer or out of range\r\n"},
		{"HELLO 3 auth", "-ERR Syntax error in HELLO option 'auth'\r\n"},
		{"CLIENT SETNAME a\\x20b", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{"CLIENT foo", "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"},
		{"AUTH x", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
		{"AUTH a b c", "-ERR syntax error\r\n"},
		{"SELECT x", "-ERR value is not an integer or out of range\r\n"},
		{"XGROUP HELP", ""},
		{"FOO a b", "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"},
	}
	for _, tc := range cases {
		if _, err := c.Write(append(encode(tc.request), "PING\r\n"...)); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r, 1)
		if tc.want != "" && got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.request, got, tc.want)
		}
		if pong := readAll(t, r, 1); pong != "+PONG\r\n" {
			t.Fatalf("%s: the connection is out of step: %q", tc.request, pong)
		}
	}
}

// encode writes a request as a RESP array; "\x20" in an argument is a space.
func encode(request string) []byte {
	var args []resp.Value
	for _, f := range strings.Fields(request) {
		args = append(args, resp.BulkString(strings.ReplaceAll(f, `\x20`, " ")))
	}
	return resp.AppendValue(nil, resp.Array(args...), 2)
}

func TestMaxClients(t *testing.T) {
	s := startServer(t, Config{MaxClients: 1}, &echoBackend{})
	c1, r1 := dial(t, s)
	if _, err := c1.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	readAll(t, r1, 1)
	_, r2 := dial(t, s)
	line, err := r2.ReadString('\n')
	if line != "-ERR max number of clients reached\r\n" {
		t.Fatalf("second client got %q, %v", line, err)
	}
}

// TestRandomBytes feeds random and mutated requests, split at random points, to a server over
// TCP: each connection gets replies, an error, or a close; the server never panics and closes
// cleanly. The seed is printed for replay.
func TestRandomBytes(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	s := startServer(t, Config{Limits: resp.Limits{MaxArgs: 16, MaxBulkBytes: 64, MaxRequestBytes: 512, MaxInlineBytes: 128}}, &echoBackend{})
	seeds := [][]byte{encode("XADD k * a b"), encode("XREAD COUNT 1 STREAMS k 0"), []byte("PING\r\n"),
		encode("HELLO 3"), encode("XGROUP CREATE k g $ MKSTREAM"), []byte("*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n")}
	for range 200 {
		var data []byte
		for range 1 + rng.Intn(4) {
			data = append(data, seeds[rng.Intn(len(seeds))]...)
		}
		const noise = "*$\r\n-0123456789"
		for range rng.Intn(4) {
			if len(data) == 0 {
				break
			}
			switch i := rng.Intn(len(data)); rng.Intn(3) {
			case 0:
				data[i] = byte(rng.Intn(256))
			case 1:
				data = append(data[:i], data[i+1:]...)
			default:
				data = append(data[:i], append([]byte{noise[rng.Intn(len(noise))]}, data[i:]...)...)
			}
		}
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		cut := rng.Intn(len(data) + 1)
		_, _ = c.Write(data[:cut])
		_, _ = c.Write(data[cut:])
		_ = c.(*net.TCPConn).CloseWrite()
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("seed %d: the server neither answered nor closed for input %q", seed, data)
				}
				break
			}
		}
		c.Close()
	}
}

func TestRedisCLI(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed; skipping the redis-cli handshake test")
	}
	s := startServer(t, Config{}, &echoBackend{})
	host, port, _ := net.SplitHostPort(s.Addr().String())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"COMMAND", "DOCS", "xadd"}, "Appends a new message to a stream"},
		{[]string{"XLEN", "orders"}, "xlen\norders"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port}, tc.args...)...).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("redis-cli %v: %v\n%s\nwant it to contain %q", tc.args, err, out, tc.want)
		}
	}
}
