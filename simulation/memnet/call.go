package memnet

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shoalmq/shoal/protocol"
)

// ErrClosed is the error of a call on a closed connection, or on one whose target went down
// since it was dialled (a reset).
var ErrClosed = errors.New("memnet: connection closed")

// ErrAnswerLost is the error of a call whose request reached the target and ran there, but
// whose answer was lost on the way back: the caller cannot tell what happened.
var ErrAnswerLost = errors.New("memnet: the answer was lost")

// Conn is a broker connection from one host to another's broker address; its Call has the
// shape of actors.PeerConn. Safe for concurrent use.
type Conn struct {
	net         *Network
	from, to    *host
	incarnation uint64 // the target's, when dialled
	closed      atomic.Bool
}

// Dial connects host from to the broker at addr: it fails when the target is unknown, down,
// or the link either way is blocked.
func (n *Network) Dial(ctx context.Context, from, addr string) (*Conn, error) {
	n.mu.Lock()
	src, dst := n.hosts[from], n.broker[addr]
	if src == nil || dst == nil {
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: dial %s from %s: no such host", ErrUnreachable, addr, from)
	}
	delay, hold, err := n.passLocked(src, dst)
	if err == nil && n.blocked[link{dst.name, src.name}] > 0 {
		err = fmt.Errorf("%w: %s → %s: link blocked", ErrUnreachable, dst.name, src.name)
	}
	inc := dst.incarnation
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := await(ctx, hold, delay); err != nil {
		return nil, err
	}
	return &Conn{net: n, from: src, to: dst, incarnation: inc}, nil
}

// cross decides one crossing of the call's link (forward: from → to) and waits its delay.
func (c *Conn) cross(ctx context.Context, forward bool) error {
	n := c.net
	n.mu.Lock()
	a, b := c.from, c.to
	if !forward {
		a, b = b, a
	}
	if c.to.incarnation != c.incarnation {
		n.mu.Unlock()
		return fmt.Errorf("%w: %s restarted", ErrClosed, c.to.name)
	}
	delay, hold, err := n.passLocked(a, b)
	if err != nil {
		n.stats.CallsDropped++
	}
	senderPaused, senderInc := a.resumed != nil, a.incarnation
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if err := await(ctx, hold, delay); err != nil {
		return err
	}
	n.mu.Lock()
	restarted := c.to.incarnation != c.incarnation
	// A paused sender's message had not left it: if the sender went down meanwhile, the message
	// died with it. (One to a paused receiver had left, and arrives however its sender fares.)
	senderDied := senderPaused && a.incarnation != senderInc
	n.mu.Unlock()
	if restarted { // it went down while the message waited: the connection broke meanwhile
		return fmt.Errorf("%w: %s restarted", ErrClosed, c.to.name)
	}
	if senderDied {
		return fmt.Errorf("%w: %s went down while paused", ErrClosed, a.name)
	}
	return nil
}

// Call sends one request and waits for its answer, as a transport connection does: the
// request is encoded, handed to the target's broker (Admit, then the returned function), and
// the answer or the error comes back through the wire's encoding (an error keeps its
// protocol code, so errors.Is works on the sentinels). A network failure is an error wrapping
// ErrUnreachable or ErrClosed, which carries no protocol code.
func (c *Conn) Call(ctx context.Context, t protocol.MessageType, req, resp any) error {
	if c.closed.Load() {
		return ErrClosed
	}
	c.net.mu.Lock()
	c.net.stats.Calls++
	c.net.mu.Unlock()
	body, err := protocol.Marshal(req)
	if err != nil {
		return fmt.Errorf("memnet: encode %s: %w", t, err)
	}
	if err := c.cross(ctx, true); err != nil {
		return err
	}
	c.net.mu.Lock()
	h := c.to.handler
	c.net.mu.Unlock()
	var out any
	if h == nil {
		err = protocol.Errorf(protocol.ErrBusy, "node %s is starting", c.to.name)
	} else {
		out, err = h.Admit(ctx, t, body)(ctx)
		c.net.mu.Lock()
		again := t == protocol.TypeReplicate && c.net.duplicateLocked()
		c.net.mu.Unlock()
		if again { // a resend of peer traffic: the replication protocol must shrug it off
			_, _ = h.Admit(ctx, t, body)(ctx)
		}
	}
	if cerr := c.cross(ctx, false); cerr != nil {
		return fmt.Errorf("%w: %w", ErrAnswerLost, cerr)
	}
	if err != nil {
		return protocol.ErrorBodyOf(err).Err()
	}
	if resp == nil {
		return nil
	}
	answer, err := protocol.Marshal(out)
	if err != nil {
		return fmt.Errorf("memnet: encode the %s answer: %w", t, err)
	}
	return protocol.Unmarshal(answer, resp)
}

// Close closes the connection; later calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return nil
}
