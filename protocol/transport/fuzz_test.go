// FuzzServerConn: arbitrary bytes after a valid handshake must never take the server down.
//
// Method: one server on 127.0.0.1:0 serves the whole run. Each input is written, in two chunks
// split at a fuzzed point, on a raw TCP connection that has completed a valid handshake; the
// client then half-closes and reads until the server closes the connection (on bad bytes at
// once, else after answering the valid frames and seeing the end of input). Then a fresh Conn
// must complete a round trip. A panic anywhere in the server fails the run; so does a server that
// keeps the connection open or stops serving. The seeds are real frames: requests, pipelined
// requests, a produce with a large body, and each kind of violation.
package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"testing"

	"github.com/shoalmq/shoal/protocol"
)

func FuzzServerConn(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed, uint16(len(seed)/2))
		f.Add(seed, uint16(3)) // split inside the header
	}
	s := startServer(f, ServerConfig{MaxInFlightPerConn: 4, Logger: slog.New(slog.DiscardHandler),
		Handler: HandlerFunc(func(ctx context.Context, req Request) (any, error) {
			if req.Type == protocol.TypeMetadata {
				return echoTopics(ctx, req)
			}
			var p protocol.ProduceRequest
			if err := protocol.Unmarshal(req.Body, &p); err != nil {
				return nil, err
			}
			return protocol.ProduceResponse{Results: make([]protocol.ProduceResult, len(p.Batches))}, nil
		})})
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		cut := int(split) % (len(data) + 1)
		nc := rawHandshake(t, s.Addr())
		writeDone := make(chan error, 1)
		go func() {
			_, err := nc.Write(data[:cut])
			if err == nil {
				_, err = nc.Write(data[cut:])
			}
			if err == nil {
				err = nc.(*net.TCPConn).CloseWrite()
			}
			writeDone <- err
		}()
		expectClosedByServer(t, nc)
		<-writeDone // an error here only means the server closed first
		_ = nc.Close()
		mustCallTopics(t, dial(t, s.Addr()), "after-fuzz")
	})
}

// fuzzSeeds returns real frames (as sent after the handshake) and their violations.
func fuzzSeeds(t testing.TB) [][]byte {
	req := func(typ protocol.MessageType, id uint64, v any) []byte {
		return frame(t, protocol.FrameHeader{Type: typ, RequestID: id}, v)
	}
	metadata := req(protocol.TypeMetadata, 2, protocol.MetadataRequest{Topics: []string{"orders", "busy"}})
	produce := req(protocol.TypeProduce, 3, protocol.ProduceRequest{Topic: "orders", Acks: protocol.AcksLeader,
		Batches: []protocol.ProducePartition{{Partition: 1, Batch: make([]byte, 3000)}, {Partition: 2, Batch: []byte("batch")}}})
	fetch := req(protocol.TypeFetch, 4, protocol.FetchRequest{Topic: "orders", MaxWaitMs: 10,
		Partitions: []protocol.FetchPartition{{Partition: 0, From: protocol.Position{Kind: protocol.PositionEarliest}, MaxBytes: 1 << 20}}})
	pipelined := append(append(append([]byte{}, metadata...), produce...), metadata...)
	oversized := append([]byte{}, metadata...)
	binary.BigEndian.PutUint32(oversized, protocol.MaxFrameBytes+1)
	responseFlag := append([]byte{}, metadata...)
	binary.BigEndian.PutUint16(responseFlag[6:], uint16(protocol.FlagResponse))
	longPromise := append([]byte{}, metadata[:protocol.FrameHeaderBytes]...) // promises a body that never comes
	binary.BigEndian.PutUint32(longPromise, 10<<20)
	return [][]byte{
		metadata, produce, fetch, pipelined, oversized, responseFlag, longPromise,
		handshakeFrame(t, protocol.VersionMin, protocol.VersionMax),
		metadata[:protocol.FrameHeaderBytes+2],
		[]byte("*3\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n"),
		{},
	}
}

// TestFuzzSeedsAreRealFrames keeps the seeds honest: each valid one splits into whole frames.
func TestFuzzSeedsAreRealFrames(t *testing.T) {
	seeds := fuzzSeeds(t)
	for _, i := range []int{0, 1, 2, 3} {
		rest := seeds[i]
		for len(rest) > 0 {
			var err error
			if _, _, rest, err = protocol.SplitFrame(rest); err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
		}
	}
	if _, err := protocol.ReadFrameHeader(seeds[4]); !errors.Is(err, protocol.ErrBadFrame) {
		t.Fatalf("oversized seed: %v, want protocol.ErrBadFrame", err)
	}
}
