package transport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"

	"github.com/shoalmq/shoal/protocol"
)

// Sizes of the buffers the frame layer keeps.
const (
	// readBufferBytes and writeBufferBytes size each connection's bufio reader and writer. Bodies
	// at least this large bypass them (bufio reads and writes those directly).
	readBufferBytes  = 32 << 10
	writeBufferBytes = 32 << 10
	// frameBufferBytesInitial is the capacity of a new pooled frame buffer.
	frameBufferBytesInitial = 4 << 10
	// pooledFrameBufferBytesMax is the largest buffer kept for reuse: a rare huge frame should not
	// pin its memory in the pool.
	pooledFrameBufferBytesMax = 4 << 20
	// bodyChunkBytes is how much of a body is read before its buffer grows further: memory for a
	// body is allocated as its bytes arrive, never on the word of a header alone.
	bodyChunkBytes = 1 << 20
)

// framePool holds *[]byte buffers for encoding and reading frames. A buffer is owned by exactly
// one goroutine at a time: the encoder, then the writer; or the reader, then the handler or Call.
var framePool = sync.Pool{New: func() any {
	b := make([]byte, 0, frameBufferBytesInitial)
	return &b
}}

func getFrameBuffer() *[]byte { return framePool.Get().(*[]byte) }

func putFrameBuffer(p *[]byte) {
	if cap(*p) > pooledFrameBufferBytesMax {
		return
	}
	*p = (*p)[:0]
	framePool.Put(p)
}

// encodeFrame encodes v as the body of a frame with header h (its BodyLength is set here) into a
// pooled buffer, header first. The caller owns the buffer and passes it on or puts it back. A
// body above protocol.MaxFrameBytes is an error wrapping protocol.ErrTooLarge.
func encodeFrame(h protocol.FrameHeader, v any) (*[]byte, error) {
	p := getFrameBuffer()
	b := append((*p)[:0], make([]byte, protocol.FrameHeaderBytes)...)
	b, err := protocol.AppendMarshal(b, v)
	if err != nil {
		putFrameBuffer(p)
		return nil, fmt.Errorf("encode %s body: %w", h.Type, err)
	}
	*p = b // keep the grown buffer for the pool
	bodyBytes := len(b) - protocol.FrameHeaderBytes
	if bodyBytes > protocol.MaxFrameBytes {
		putFrameBuffer(p)
		return nil, protocol.Errorf(protocol.ErrTooLarge, "%s body of %d bytes is above the frame limit of %d bytes",
			h.Type, bodyBytes, protocol.MaxFrameBytes)
	}
	h.BodyLength = uint32(bodyBytes)
	protocol.PutFrameHeader(b, h)
	return p, nil
}

// readFrameHeader reads and checks one frame header. Errors wrapping protocol.ErrBadFrame are the
// peer's fault; others are the connection's (io.EOF for a clean end between frames).
func readFrameHeader(r io.Reader, scratch *[protocol.FrameHeaderBytes]byte) (protocol.FrameHeader, error) {
	if _, err := io.ReadFull(r, scratch[:]); err != nil {
		return protocol.FrameHeader{}, err
	}
	return protocol.ReadFrameHeader(scratch[:])
}

// readBody reads a body of n bytes (n <= protocol.MaxFrameBytes, checked by the header) into buf,
// reusing its capacity, and returns it. The buffer grows at most bodyChunkBytes (or doubles) ahead
// of the bytes that have arrived.
func readBody(r io.Reader, buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		chunk := min(n-len(buf), max(len(buf), bodyChunkBytes))
		buf = slices.Grow(buf, chunk)
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+got]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// writeFrames is a connection's writer goroutine. It takes encoded frames from queue, writes
// every frame already queued through one bufio.Writer and flushes when the queue is empty, so
// frames that are ready together share a system call. It puts every frame's buffer back and
// calls written (if not nil) once per frame taken, written or not.
//
// It returns when queue is closed (after flushing) or stop is closed. The first write error is
// passed to failed, once, which must make the connection fail (close nc, so the reader stops
// too); after it, frames are taken and dropped, so nobody blocks on a dead connection.
func writeFrames(nc net.Conn, queue <-chan *[]byte, stop <-chan struct{}, written func(), failed func(error)) {
	bw := bufio.NewWriterSize(nc, writeBufferBytes)
	var writeErr error
	fail := func(err error) {
		if err != nil && writeErr == nil {
			writeErr = err
			failed(err)
		}
	}
	write := func(p *[]byte) {
		if writeErr == nil {
			_, err := bw.Write(*p)
			fail(err)
		}
		putFrameBuffer(p)
		if written != nil {
			written()
		}
	}
	flush := func() {
		if writeErr == nil {
			fail(bw.Flush())
		}
	}
	for {
		select {
		case p, ok := <-queue:
			if !ok {
				flush()
				return
			}
			write(p)
		case <-stop:
			return
		}
		if !drainQueue(queue, write) {
			flush()
			return
		}
		flush()
	}
}

// drainQueue hands every frame already in queue to write, without waiting for more; false when
// the queue turned out to be closed.
func drainQueue(queue <-chan *[]byte, write func(*[]byte)) bool {
	for {
		select {
		case p, ok := <-queue:
			if !ok {
				return false
			}
			write(p)
		default:
			return true
		}
	}
}
