package client

import (
	"context"
	"log/slog"

	"github.com/shoalmq/shoal/protocol/transport"
)

// tcpDialer returns the DialFunc of the TCP transport. The Client bounds each dial with
// Config.DialTimeout through ctx.
func tcpDialer(clientID string, logger *slog.Logger) DialFunc {
	return func(ctx context.Context, addr string) (Caller, error) {
		conn, err := transport.Dial(ctx, addr, transport.DialOptions{ClientID: clientID, Logger: logger})
		if err != nil {
			return nil, err
		}
		return conn, nil
	}
}
