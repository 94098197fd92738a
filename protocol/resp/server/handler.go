package server

import (
	"context"

	"github.com/tidwall/redcon"

	"github.com/shoalmq/shoal/protocol/resp"
)

// pending is one reply of a batch: a value known at once, or a Backend wait.
type pending struct {
	value resp.Value
	wait  func(context.Context) resp.Value
	proto int // the connection's protocol when the command arrived (HELLO may change it)
}

// serveRequest is redcon's handler, on the connection's goroutine. It takes the rest of the
// pipeline too, so all requests already read are submitted before any reply is awaited.
func (s *Server) serveRequest(conn redcon.Conn, first redcon.Command) {
	st, ok := conn.Context().(*connState)
	if !ok {
		conn.WriteError("ERR internal error: connection without state")
		return
	}
	rest := conn.ReadPipeline()
	st.out = st.out[:0]
	quit := s.serveOne(conn, st, first.Args)
	for _, cmd := range rest {
		if quit {
			break
		}
		quit = s.serveOne(conn, st, cmd.Args)
	}
	s.endPipeline(st)
	s.drain(st)
	conn.WriteRaw(st.out)
	if cap(st.out) > 1<<20 {
		st.out = nil // do not keep a huge reply's buffer for the connection's life
	}
	if quit {
		_ = conn.Close()
	}
}

// serveOne handles one request: a connection command is answered in place, a data command is
// submitted. A blocking command is preceded by writing the batch so far and awaited at once,
// with the socket watched. It reports whether the connection must close (QUIT).
func (s *Server) serveOne(conn redcon.Conn, st *connState, args [][]byte) (quit bool) {
	proto := st.client.Protocol()
	if value, handled, quit := s.connectionCommand(st, args); handled {
		// HELLO answers in the protocol it switches to (Redis: HELLO 3 replies with a map).
		st.pending = append(st.pending, pending{value: value, proto: st.client.Protocol()})
		return quit
	}
	if !st.authenticated {
		st.pending = append(st.pending, pending{value: noAuth, proto: proto})
		return false
	}
	cmd, err := resp.Parse(args)
	if err != nil {
		st.pending = append(st.pending, pending{value: resp.ErrorValue(err), proto: proto})
		return false
	}
	if help, ok := cmd.(*resp.Help); ok {
		st.pending = append(st.pending, pending{value: help.Reply(), proto: proto})
		return false
	}
	ctx := st.client.Context()
	if !resp.Blocking(cmd) {
		st.pending = append(st.pending, pending{wait: s.backend.Submit(ctx, st.client, cmd, args), proto: proto})
		return false
	}
	// Answer what came before, then wait for this one while watching for a hang-up.
	s.endPipeline(st)
	s.drain(st)
	conn.WriteRaw(st.out)
	st.out = st.out[:0]
	if w := redcon.BaseWriter(conn); w != nil {
		_ = w.Flush()
	}
	wait := s.backend.Submit(ctx, st.client, cmd, args)
	if st.guard != nil {
		st.guard.watch(st.cancel)
	}
	value := wait(ctx)
	if st.guard != nil {
		st.guard.stopWatch()
	}
	st.out = appendReply(st.out, value, proto)
	return false
}

// endPipeline tells a PipelineEnder backend that the commands submitted so far are all it gets
// before their replies are awaited.
func (s *Server) endPipeline(st *connState) {
	if pe, ok := s.backend.(PipelineEnder); ok && len(st.pending) > 0 {
		pe.EndPipeline(st.client)
	}
}

// drain waits for the batch's replies in order and appends them to st.out.
func (s *Server) drain(st *connState) {
	ctx := st.client.Context()
	for i := range st.pending {
		p := &st.pending[i]
		value := p.value
		if p.wait != nil {
			value = p.wait(ctx)
		}
		st.out = appendReply(st.out, value, p.proto)
		*p = pending{}
	}
	st.pending = st.pending[:0]
}

// appendReply encodes a reply; a zero Value (a Backend that gave up, say on a cancelled
// context) becomes an error reply instead of a panic.
func appendReply(dst []byte, v resp.Value, proto int) []byte {
	if v.Kind() == 0 {
		v = resp.ErrorText("ERR no reply from the backend")
	}
	return resp.AppendValue(dst, v, proto)
}
