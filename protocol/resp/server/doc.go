// Package server is the network half of Shoal's Redis protocol front: the TCP server loop (on
// github.com/tidwall/redcon), per-connection state, the connection commands (PING, ECHO,
// HELLO, AUTH, CLIENT, SELECT, COMMAND, INFO, QUIT, RESET) and pipelining. Data commands are
// parsed by protocol/resp and executed by a Backend that the caller passes in.
//
// # Goroutines
//
// redcon runs one goroutine per connection; it reads every complete request already received
// (a pipeline) and calls the handler. The handler parses each request and calls
// Backend.Submit for each data command in arrival order on that goroutine, then waits for the
// replies in the same order, encodes them, and redcon writes them with one flush. A blocking
// command (XREAD or XREADGROUP with BLOCK) ends a batch: the replies before it are written
// first, and while it waits a watcher goroutine reads the socket, so that a client that hangs
// up cancels Client.Context and the Backend stops waiting. Only that connection waits.
//
// # Limits
//
// Every accepted connection reads through a guard (resp.RequestScanner) that checks the
// framing and the Config limits before redcon's parser sees the bytes, and hands redcon only
// complete requests: redcon's parser has no limits of its own. A bad or oversized request is
// answered with Redis's "ERR Protocol error: ..." and the connection is closed.
package server
