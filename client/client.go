package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

// DefaultBroker is the address `make run` serves on, and the default of every --brokers flag.
const DefaultBroker = "127.0.0.1:7070"

// Defaults of Config.
const (
	DefaultDialTimeout     = 5 * time.Second
	DefaultMetadataMaxAge  = 30 * time.Second
	DefaultRetryBackoff    = 10 * time.Millisecond
	DefaultRetryBackoffMax = time.Second
	// adminAttempts bounds the tries of a metadata or admin call that keeps failing retriably.
	adminAttempts = 8
)

// Caller is one connection to a broker, the seam between the client and the network.
// *transport.Conn implements it; tests and the simulation pass their own through Config.Dial.
type Caller interface {
	// Call sends req as a request of type t and decodes the answer into resp. It blocks until
	// the answer arrives, ctx ends or the connection fails. It is safe for concurrent use, and
	// many calls may be in flight at once. A server error comes back as the protocol sentinel
	// of its code (errors.Is(err, protocol.ErrNotLeader)); any other error means the
	// connection is unusable.
	Call(ctx context.Context, t protocol.MessageType, req, resp any) error
	// NodeID is the id the broker gave in the handshake.
	NodeID() string
	// Close closes the connection; calls in flight fail.
	Close() error
}

// DialFunc opens a connection to the broker at addr; it must give up when ctx ends.
type DialFunc func(ctx context.Context, addr string) (Caller, error)

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	// Brokers are bootstrap addresses (host:port): any broker of the cluster will do; more than
	// one helps when some are down. At least one is required.
	Brokers []string
	// ClientID names this client in the brokers' logs.
	ClientID string
	// Logger receives the client's own log lines (retries, reconnections); nil discards them.
	Logger *slog.Logger
	// DialTimeout bounds one dial, handshake included.
	DialTimeout time.Duration
	// MetadataMaxAge is how long cached metadata is trusted without an error saying otherwise.
	MetadataMaxAge time.Duration
	// RetryBackoff and RetryBackoffMax bound the waits between retries of metadata, admin and
	// fetch calls (the producer has its own, in ProducerConfig).
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// Dial opens connections; nil uses the TCP transport (protocol/transport).
	Dial DialFunc
}

func (cfg *Config) validate() error {
	var errs []error
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("client: Config.Brokers: give at least one broker address, such as "+DefaultBroker))
	}
	for _, addr := range cfg.Brokers {
		if addr == "" {
			errs = append(errs, errors.New("client: Config.Brokers: empty address"))
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"DialTimeout", cfg.DialTimeout}, {"MetadataMaxAge", cfg.MetadataMaxAge},
		{"RetryBackoff", cfg.RetryBackoff}, {"RetryBackoffMax", cfg.RetryBackoffMax},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("client: Config.%s: %v is negative", d.name, d.value))
		}
	}
	return errors.Join(errs...)
}

func (cfg *Config) setDefaults() {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MetadataMaxAge == 0 {
		cfg.MetadataMaxAge = DefaultMetadataMaxAge
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.RetryBackoffMax == 0 {
		cfg.RetryBackoffMax = DefaultRetryBackoffMax
	}
	cfg.RetryBackoffMax = max(cfg.RetryBackoffMax, cfg.RetryBackoff)
	if cfg.Dial == nil {
		cfg.Dial = tcpDialer(cfg.ClientID, cfg.Logger)
	}
}

// Client is a handle on a Shoal cluster: connections, metadata, and the factory of producers
// and consumers. It is safe for concurrent use. Close it when done.
type Client struct {
	cfg    Config
	logger *slog.Logger
	meta   *metadataCache

	mu sync.Mutex
	// conns holds one connection per broker address, dialled on first use.
	conns  map[string]*conn
	closed bool
}

// conn is one broker connection, or the dial that is making it.
type conn struct {
	addr  string
	ready chan struct{} // closed when the dial has ended; caller and err are set before
	// caller is the connection; nil when the dial failed (err says why).
	caller Caller
	err    error
}

// New validates cfg, connects to the first reachable bootstrap broker and returns a Client.
// It fails with an error wrapping ErrUnreachable when none answers.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	c := &Client{cfg: cfg, logger: cfg.Logger, conns: make(map[string]*conn)}
	c.meta = newMetadataCache(c, cfg.MetadataMaxAge)
	if _, _, err := c.anyCaller(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every connection. Calls in flight fail; producers and consumers of this client
// stop working (close producers first to deliver what they hold).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	var errs []error
	for _, cn := range conns {
		<-cn.ready // a dial in progress ends within DialTimeout
		if cn.caller != nil {
			errs = append(errs, cn.caller.Close())
		}
	}
	return errors.Join(errs...)
}

// callerFor returns the connection to addr, dialling it when there is none.
func (c *Client) callerFor(ctx context.Context, addr string) (Caller, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	cn, ok := c.conns[addr]
	if !ok {
		cn = &conn{addr: addr, ready: make(chan struct{})}
		c.conns[addr] = cn
		c.mu.Unlock()
		c.dial(ctx, cn)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-cn.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cn.err != nil {
		return nil, cn.err
	}
	return cn.caller, nil
}

// dial makes cn's connection. A failed dial leaves the map, so the next request dials again.
//
// NB(client): the dial runs under the requester's ctx; another requester waiting on the same
// dial may see that ctx's error, and retries.
func (c *Client) dial(ctx context.Context, cn *conn) {
	dialCtx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	caller, err := c.cfg.Dial(dialCtx, cn.addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		cn.err = err // the transport names the address
		delete(c.conns, cn.addr)
	case c.closed:
		caller.Close()
		cn.err = ErrClosed
	default:
		cn.caller = caller
		c.logger.Debug("connected", "broker", cn.addr, "node", caller.NodeID())
	}
	close(cn.ready)
}

// dropConn forgets caller, the connection to addr, after it failed, and closes it. A newer
// connection to the same address is left alone.
func (c *Client) dropConn(addr string, caller Caller) {
	c.mu.Lock()
	if cn, ok := c.conns[addr]; ok && cn.caller == caller {
		delete(c.conns, addr)
	}
	c.mu.Unlock()
	c.logger.Debug("dropped connection", "broker", addr)
	caller.Close()
}

// addresses lists the brokers to try for a request any broker can answer: connected ones
// first, then the bootstrap list, then the brokers metadata named.
func (c *Client) addresses() []string {
	c.mu.Lock()
	var connected []string
	for addr, cn := range c.conns {
		select {
		case <-cn.ready:
			if cn.caller != nil {
				connected = append(connected, addr)
			}
		default:
		}
	}
	c.mu.Unlock()
	slices.Sort(connected)
	addrs := append(connected, c.cfg.Brokers...)
	addrs = append(addrs, c.meta.brokerAddrs()...)
	seen := make(map[string]bool, len(addrs))
	return slices.DeleteFunc(addrs, func(a string) bool {
		dup := seen[a]
		seen[a] = true
		return dup
	})
}

// anyCaller returns a connection to any broker, trying each address in turn. It fails with an
// error wrapping ErrUnreachable and every dial error when none answers.
func (c *Client) anyCaller(ctx context.Context) (Caller, string, error) {
	var errs []error
	for _, addr := range c.addresses() {
		caller, err := c.callerFor(ctx, addr)
		if err == nil {
			return caller, addr, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return nil, "", err
		}
		errs = append(errs, err)
	}
	return nil, "", fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

// callAny sends one request to any broker; a connection that fails is dropped and the next
// broker is tried once.
func (c *Client) callAny(ctx context.Context, t protocol.MessageType, req, resp any) error {
	caller, addr, err := c.anyCaller(ctx)
	if err != nil {
		return err
	}
	err = caller.Call(ctx, t, req, resp)
	if classify(err) == kindConnection {
		c.dropConn(addr, caller)
	}
	return err
}

// callAnyRetry is callAny retried with backoff while the error is retriable, at most
// adminAttempts times.
func (c *Client) callAnyRetry(ctx context.Context, t protocol.MessageType, req, resp any) error {
	b := c.newBackoff()
	for attempt := 1; ; attempt++ {
		err := c.callAny(ctx, t, req, resp)
		if err == nil || classify(err) == kindFatal || attempt == adminAttempts {
			return err
		}
		c.logger.Debug("retrying", "request", t, "attempt", attempt, "err", err)
		if err := sleepCtx(ctx, b.next()); err != nil {
			return err
		}
	}
}

func (c *Client) newBackoff() backoff {
	return backoff{min: c.cfg.RetryBackoff, max: c.cfg.RetryBackoffMax}
}

// leaderCaller returns the connection to the leader of topic's partition, per metadata.
func (c *Client) leaderCaller(ctx context.Context, topic string, partition int32) (Caller, string, error) {
	addr, err := c.meta.leaderAddr(ctx, topic, partition)
	if err != nil {
		return nil, "", err
	}
	caller, err := c.callerFor(ctx, addr)
	if err != nil {
		return nil, addr, err
	}
	return caller, addr, nil
}

// callLeader sends one request to the leader of topic's partition. On a connection failure it
// drops the connection; on any retriable failure it marks the topic's metadata stale, so the
// next attempt asks again where the leader is.
func (c *Client) callLeader(ctx context.Context, topic string, partition int32, t protocol.MessageType, req, resp any) error {
	caller, addr, err := c.leaderCaller(ctx, topic, partition)
	if err == nil {
		err = caller.Call(ctx, t, req, resp)
	}
	switch classify(err) {
	case kindConnection:
		if caller != nil {
			c.dropConn(addr, caller)
		}
		c.meta.invalidate(topic)
	case kindRetry:
		c.meta.invalidate(topic)
	}
	return err
}
