package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

var (
	// ErrUnreachable means no broker of Config.Brokers (nor any broker metadata named) could be
	// dialled. It wraps the dial errors.
	ErrUnreachable = errors.New("client: no broker reachable")
	// ErrClosed is returned by calls on a closed Client, Producer or Consumer, and by the Futures
	// of records that a Close abandoned.
	ErrClosed = errors.New("client: closed")
	// ErrNoLeader means metadata names no reachable leader for a partition (it is electing one,
	// or its leader's address is unknown). It is retried like protocol.ErrNotLeader.
	ErrNoLeader = errors.New("client: partition has no known leader")
	// ErrNotDone is Future.Result's answer before the future completes.
	ErrNotDone = errors.New("client: result not known yet")
)

// errorKind is how a failed request is treated.
type errorKind uint8

const (
	// kindFatal: return the error to the caller.
	kindFatal errorKind = iota
	// kindRetry: refresh metadata, back off, send again (the same bytes, for a produce).
	kindRetry
	// kindConnection: the connection broke or could not be made; drop it, then as kindRetry.
	kindConnection
)

// classify tells how to treat err from a Call. Server errors are protocol sentinels and retriable
// per protocol.ErrorCode.Retriable; a context error is fatal (the caller gave up); any other error
// (transport.ErrConnClosed, a dial error, a timeout on the socket) is the connection's fault.
func classify(err error) errorKind {
	switch {
	case err == nil:
		return kindFatal
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrClosed):
		return kindFatal
	case errors.Is(err, ErrNoLeader):
		return kindRetry
	case errors.Is(err, ErrUnreachable):
		return kindConnection
	}
	if code := protocol.CodeOf(err); code != protocol.CodeUnknown {
		if code.Retriable() {
			return kindRetry
		}
		return kindFatal
	}
	if errors.Is(err, protocol.ErrUnknown) {
		return kindFatal // the server's own "unknown error" code
	}
	return kindConnection
}

// backoff is an exponential backoff with full jitter between min and max.
type backoff struct {
	min, max time.Duration
	attempt  int
}

// next returns how long to wait before the next attempt.
func (b *backoff) next() time.Duration {
	ceiling := b.min << min(b.attempt, 20)
	if ceiling <= 0 || ceiling > b.max {
		ceiling = b.max
	}
	b.attempt++
	// Full jitter keeps many producers from retrying in step; never below min, so a busy broker
	// gets at least that much air.
	return b.min + rand.N(ceiling-b.min+1)
}

// sleepCtx waits d or until ctx ends, and returns ctx's error in that case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
