package memnet

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Bounds of a transport's queues: past them a packet is dropped (as a full socket buffer
// drops a datagram) and a stream is refused.
const (
	packetQueue = 1024
	streamQueue = 64
)

// Transport is one host's memberlist transport on the network. Create one per memberlist
// instance (a restarted node gets a new one).
type Transport struct {
	net     *Network
	host    *host
	addr    *net.UDPAddr
	packets chan *memberlist.Packet
	streams chan net.Conn

	mu     sync.Mutex
	closed bool
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// NewTransport returns a gossip transport for host name (added with a gossip address), which
// becomes the one packets and streams to that address reach.
func (n *Network) NewTransport(name string) (*Transport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.hosts[name]
	if h == nil || h.gossipAddr == "" {
		return nil, fmt.Errorf("memnet: host %q has no gossip address", name)
	}
	addr, err := net.ResolveUDPAddr("udp", h.gossipAddr)
	if err != nil {
		return nil, err
	}
	t := &Transport{net: n, host: h, addr: addr, packets: make(chan *memberlist.Packet, packetQueue),
		streams: make(chan net.Conn, streamQueue)}
	h.transport = t
	return t, nil
}

// FinalAdvertiseAddr is the host's gossip address, whatever memberlist was configured with.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.addr.IP, t.addr.Port, nil
}

// WriteTo sends a packet to a gossip address.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet; a lost one is not an error (UDP).
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	n := t.net
	n.mu.Lock()
	n.stats.Packets++
	dst := n.gossip[a.Addr]
	if dst == nil || dst.transport == nil {
		n.stats.PacketsBlocked++
		n.mu.Unlock()
		return now, nil
	}
	delay, hold, err := n.passLocked(t.host, dst)
	copies := 1
	if err == nil && n.duplicateLocked() {
		copies = 2
	}
	to := dst.transport
	n.mu.Unlock()
	if err != nil {
		n.mu.Lock()
		n.stats.PacketsDropped++
		n.mu.Unlock()
		return now, nil
	}
	for range copies {
		p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: t.addr}
		switch {
		case hold != nil:
			go func() { <-hold; time.Sleep(delay); to.deliver(p) }() // a paused end: after it resumes
		case delay <= 0:
			to.deliver(p)
		default:
			time.AfterFunc(delay, func() { to.deliver(p) })
		}
	}
	return now, nil
}

// deliver queues a packet unless the transport shut down or its queue is full.
func (t *Transport) deliver(p *memberlist.Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	p.Timestamp = time.Now()
	select {
	case t.packets <- p:
	default:
	}
}

// PacketCh returns the packets received.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout opens a stream to a gossip address.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream (a net.Pipe) when the link is open both ways; every Read
// and Write checks the link again, so a stream breaks when its link is cut.
func (t *Transport) DialAddressTimeout(a memberlist.Address, _ time.Duration) (net.Conn, error) {
	n := t.net
	n.mu.Lock()
	dst := n.gossip[a.Addr]
	var to *Transport
	if dst != nil {
		to = dst.transport
	}
	n.mu.Unlock()
	if to == nil || !n.linkOpen(t.host.name, dst.name) || !n.linkOpen(dst.name, t.host.name) {
		return nil, fmt.Errorf("%w: stream %s → %s", ErrUnreachable, t.host.name, a.Addr)
	}
	local, remote := net.Pipe()
	mine := &stream{Conn: local, net: n, self: t.host.name, peer: dst.name, local: tcpAddr(t.addr), remote: tcpAddr(to.addr)}
	theirs := &stream{Conn: remote, net: n, self: dst.name, peer: t.host.name, local: tcpAddr(to.addr), remote: tcpAddr(t.addr)}
	to.mu.Lock()
	ok := !to.closed
	if ok {
		select {
		case to.streams <- theirs:
		default:
			ok = false
		}
	}
	to.mu.Unlock()
	if !ok {
		_ = local.Close()
		_ = remote.Close()
		return nil, fmt.Errorf("%w: stream %s → %s refused", ErrUnreachable, t.host.name, a.Addr)
	}
	return mine, nil
}

// StreamCh returns the streams other hosts opened.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown stops delivering to this transport.
func (t *Transport) Shutdown() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

func tcpAddr(a *net.UDPAddr) *net.TCPAddr { return &net.TCPAddr{IP: a.IP, Port: a.Port} }

// stream is one end of a gossip stream; it breaks (closes) once its link is cut.
type stream struct {
	net.Conn
	net           *Network
	self, peer    string
	local, remote net.Addr
}

func (s *stream) Read(p []byte) (int, error) {
	if !s.net.linkOpen(s.peer, s.self) {
		_ = s.Conn.Close()
		return 0, fmt.Errorf("%w: stream %s → %s cut", ErrUnreachable, s.peer, s.self)
	}
	return s.Conn.Read(p)
}

func (s *stream) Write(p []byte) (int, error) {
	if !s.net.linkOpen(s.self, s.peer) {
		_ = s.Conn.Close()
		return 0, fmt.Errorf("%w: stream %s → %s cut", ErrUnreachable, s.self, s.peer)
	}
	return s.Conn.Write(p)
}

func (s *stream) LocalAddr() net.Addr  { return s.local }
func (s *stream) RemoteAddr() net.Addr { return s.remote }

// HostAddr returns "10.0.<i/250>.<i%250+1>:port": a distinct fake address per host index.
func HostAddr(i, port int) string {
	return net.JoinHostPort(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), strconv.Itoa(port))
}
