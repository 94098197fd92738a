// Package client is Shoal's Go client: bootstrap from any broker, a metadata cache that routes
// each partition to its leader, an idempotent batching producer, a long-polling consumer and the
// topic admin calls.
//
//	c, err := client.New(ctx, client.Config{Brokers: []string{client.DefaultBroker}})
//	p, err := c.NewProducer(client.ProducerConfig{})
//	res, err := p.SendSync(ctx, client.Record{Topic: "orders", Key: []byte("k"), Value: []byte("v")})
//	cons, err := c.NewConsumer(client.ConsumerConfig{Topic: "orders", From: client.Earliest()})
//	msgs, err := cons.Poll(ctx)
//
// # Connections
//
// A Client keeps one connection per broker address and shares it between every producer,
// consumer and admin call: requests are pipelined on it (many in flight, answered in any
// order). A broken connection is dropped and dialled again by the next request that needs it.
// The connection is the Caller seam: Config.Dial may replace the TCP transport (the simulation
// and the unit tests do).
//
// # Errors
//
// Server errors come back as the protocol package's sentinels (protocol.ErrUnknownTopic,
// protocol.ErrNotLeader, ...) wrapped with the server's message, so errors.Is works across the
// network. Retriable ones (protocol.ErrorCode.Retriable, and a broken connection) are retried
// with backoff after a metadata refresh; the rest are returned. ErrUnreachable means no broker
// could be dialled at all, ErrClosed that the Client, Producer or Consumer was closed.
//
// # Concurrency
//
// Client, Producer and their Futures are safe for concurrent use. A Consumer is not: one
// goroutine polls it (as with a bufio.Reader).
package client
