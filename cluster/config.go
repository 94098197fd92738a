package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gossip profiles (Config.Profile).
const (
	// ProfileLocal is fast probing for one host and for tests: a crashed member is declared dead
	// in well under a second on 127.0.0.1 (see doc.go for the measurement). Too eager for a real
	// network, where a short pause would look like a failure.
	ProfileLocal = "local"
	// ProfileLAN is memberlist.DefaultLANConfig: failure detection in a few seconds on a LAN.
	ProfileLAN = "lan"
)

// Default re-join intervals (Config.RejoinInterval 0).
const (
	rejoinIntervalLocal = 2 * time.Second
	rejoinIntervalLAN   = 30 * time.Second
)

// Limits on identifiers, the same as cmd/shoal's node ids.
const idBytesMax = 64

// Config configures a Membership. Start validates it.
type Config struct {
	// NodeID is this node's id, unique in the cluster (memberlist's node name). Required:
	// 1 to 64 characters of [A-Za-z0-9._-].
	NodeID string
	// ClusterID names the cluster. A node with an empty ClusterID adopts the id of the cluster
	// it joins (read it with ClusterID() once joined, and persist it); a first node (no Join)
	// needs one (the caller generates it). Same alphabet as NodeID.
	ClusterID string
	// GossipAddr is the memberlist address, "ip:port", bound for UDP and TCP and advertised to
	// the others. Port 0 picks a free port (tests); GossipAddr() returns the bound address. An
	// empty or unspecified IP (0.0.0.0) binds every interface and advertises a private address
	// that memberlist picks.
	GossipAddr string
	// BrokerAddr and HTTPAddr are advertised to the others in the node's metadata (host:port).
	BrokerAddr, HTTPAddr string
	// Join lists seed gossip addresses (host:port). Empty: this is the first node of a new
	// cluster. This node's own address in the list is ignored.
	Join []string
	// Profile is the gossip tuning: ProfileLocal or ProfileLAN ("" means ProfileLAN).
	Profile string
	// ProtocolMin and ProtocolMax are the broker protocol versions this node speaks; a node
	// whose range does not overlap the cluster's is refused. Need ProtocolMin <= ProtocolMax
	// and ProtocolMax >= 1.
	ProtocolMin, ProtocolMax uint16
	// Logger receives this package's logs and memberlist's (its chatter at DEBUG); nil means
	// slog.Default().
	Logger *slog.Logger
	// RejoinInterval is how often the node re-joins its seeds and the members it knows as dead
	// or left (0: 2s under ProfileLocal, 30s under ProfileLAN).
	RejoinInterval time.Duration
	// Transport replaces memberlist's UDP/TCP transport (nil: the real network, bound to
	// GossipAddr). Only the simulation sets it, with an in-memory network that can drop,
	// delay and partition; GossipAddr must then be the address the transport answers at.
	Transport memberlist.NodeAwareTransport
}

// validate returns one error per bad field, joined, each wrapping ErrInvalidConfig.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if why := checkID(c.NodeID); why != "" {
		bad("NodeID %q %s", c.NodeID, why)
	}
	if c.ClusterID != "" {
		if why := checkID(c.ClusterID); why != "" {
			bad("ClusterID %q %s", c.ClusterID, why)
		}
	} else if len(c.Join) == 0 {
		bad("ClusterID is empty and Join is empty: the first node of a cluster needs a cluster id " +
			"(generate one and persist it), or give Join the gossip address of a running node")
	}
	if why := checkGossipAddr(c.GossipAddr); why != "" {
		bad("GossipAddr %q %s", c.GossipAddr, why)
	}
	if why := checkHostPort(c.BrokerAddr); why != "" {
		bad("BrokerAddr %q %s", c.BrokerAddr, why)
	}
	if why := checkHostPort(c.HTTPAddr); why != "" {
		bad("HTTPAddr %q %s", c.HTTPAddr, why)
	}
	for i, seed := range c.Join {
		if why := checkHostPort(seed); why != "" {
			bad("Join[%d] %q %s", i, seed, why)
		}
	}
	if c.Profile != "" && c.Profile != ProfileLocal && c.Profile != ProfileLAN {
		bad("Profile %q is unknown: use %q or %q (empty means %q)", c.Profile, ProfileLocal, ProfileLAN, ProfileLAN)
	}
	if c.ProtocolMax == 0 || c.ProtocolMin > c.ProtocolMax {
		bad("ProtocolMin..ProtocolMax %d..%d is empty: need ProtocolMin <= ProtocolMax and ProtocolMax >= 1",
			c.ProtocolMin, c.ProtocolMax)
	}
	if c.RejoinInterval < 0 {
		bad("RejoinInterval %v is negative: use 0 for the profile's default", c.RejoinInterval)
	}
	if len(errs) == 0 {
		// The longest metadata this node may advertise: with an adopted cluster id of the
		// longest allowed length and the leaving flag set.
		worst := c.meta()
		worst.Leaving = true
		if worst.ClusterID == "" {
			worst.ClusterID = strings.Repeat("x", idBytesMax)
		}
		if _, err := encodeMeta(worst); err != nil {
			bad("%v", err)
		}
	}
	return errors.Join(errs...)
}

// meta is the node metadata this config advertises (before any cluster id is adopted).
func (c Config) meta() nodeMeta {
	return nodeMeta{ClusterID: c.ClusterID, BrokerAddr: c.BrokerAddr, HTTPAddr: c.HTTPAddr,
		ProtocolMin: c.ProtocolMin, ProtocolMax: c.ProtocolMax}
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c Config) rejoinInterval() time.Duration {
	switch {
	case c.RejoinInterval > 0:
		return c.RejoinInterval
	case c.Profile == ProfileLocal:
		return rejoinIntervalLocal
	}
	return rejoinIntervalLAN
}

// memberlistConfig returns memberlist's tuning for the profile; the caller fills in names,
// addresses and delegates.
func (c Config) memberlistConfig() *memberlist.Config {
	if c.Profile != ProfileLocal {
		return memberlist.DefaultLANConfig()
	}
	mc := memberlist.DefaultLocalConfig()
	// Probe a member every 200 ms, wait 100 ms for its ack; suspicion lasts
	// SuspicionMult * max(1, log10(n)) * ProbeInterval = 400 ms for a small cluster.
	mc.ProbeInterval = 200 * time.Millisecond
	mc.ProbeTimeout = 100 * time.Millisecond
	mc.SuspicionMult = 2
	mc.GossipInterval = 50 * time.Millisecond
	mc.PushPullInterval = 2 * time.Second
	// memberlist forgets a dead member this long after its death; the re-join loop finds it
	// again if it comes back.
	mc.GossipToTheDeadTime = 2 * time.Second
	mc.TCPTimeout = time.Second
	return mc
}

// broadcastTimeout bounds the wait for a metadata update to be gossiped (after a cluster id
// is adopted): about the time a broadcast takes to reach the cluster under the profile.
func (c Config) broadcastTimeout() time.Duration {
	if c.Profile == ProfileLocal {
		return time.Second
	}
	return 5 * time.Second
}

// checkID returns why id is not a valid node or cluster id, or "".
func checkID(id string) string {
	if id == "" {
		return "is empty: give 1 to 64 characters of [A-Za-z0-9._-]"
	}
	if len(id) > idBytesMax {
		return fmt.Sprintf("is %d bytes long: use at most %d", len(id), idBytesMax)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("contains %q: use only [A-Za-z0-9._-]", r)
		}
	}
	return ""
}

// checkHostPort returns why addr is not a host:port address, or "".
func checkHostPort(addr string) string {
	if addr == "" {
		return "is empty: give host:port"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "is not host:port (" + err.Error() + ")"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return "has port " + strconv.Quote(port) + ": use a number from 0 to 65535"
	}
	return ""
}

// checkGossipAddr returns why addr is not a bindable ip:port, or "".
func checkGossipAddr(addr string) string {
	if why := checkHostPort(addr); why != "" {
		return why
	}
	host, _, _ := net.SplitHostPort(addr)
	if host != "" && net.ParseIP(host) == nil {
		return "has host " + strconv.Quote(host) + ": memberlist binds to an IP address, e.g. 10.0.0.5:7946 or 127.0.0.1:0"
	}
	return ""
}

// splitGossipAddr returns the bind IP and port of a validated GossipAddr.
func splitGossipAddr(addr string) (ip string, port int) {
	host, portText, _ := net.SplitHostPort(addr)
	port, _ = strconv.Atoi(portText)
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port
}

func (c Config) profileName() string {
	if c.Profile == "" {
		return ProfileLAN
	}
	return c.Profile
}
