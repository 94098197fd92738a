package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Join backoff: the first retry after joinBackoffMin, doubling up to joinBackoffMax, each wait
// stretched by up to joinJitterPercent so that nodes started together do not retry together.
const (
	joinBackoffMin    = 100 * time.Millisecond
	joinBackoffMax    = 5 * time.Second
	joinJitterPercent = 20
)

// joinHint closes every failed-join log line.
const joinHint = "check that a Shoal node is running at the seed address and that the join list names " +
	"gossip addresses (not broker or HTTP addresses); this node keeps retrying"

// Membership is this node's membership in a cluster: a memberlist instance, the view of the
// members built from its notifications, and one background goroutine that joins with backoff
// and then periodically re-joins (design rule 6). Its methods are safe for concurrent use;
// none blocks on the network except Leave and Shutdown.
type Membership struct {
	cfg         Config
	log         *slog.Logger
	view        *view
	list        *memberlist.Memberlist
	gossipAddr  string   // the advertised address, port resolved
	seeds       []string // Config.Join without this node's own address
	rejoinEvery time.Duration

	joined   chan struct{} // closed once joined (at Start with no seeds)
	joinDone chan struct{} // closed when the join phase ends: joined, refused or stopped
	stop     chan struct{} // closed by Leave or Shutdown
	loopDone chan struct{} // closed when the background goroutine has returned

	mu      sync.Mutex
	joinErr error // the permanent refusal that ended the join phase
	closing bool  // Leave or Shutdown has begun
}

// Start validates cfg, binds the gossip address, starts memberlist and returns. It does not
// wait for the join: a background goroutine contacts the seeds, retrying with backoff until one
// answers (Joined, WaitJoined) or refuses this node for good (JoinErr). With no seeds the node
// is a one-node cluster and Joined is closed at once. Errors: ErrInvalidConfig (one line per bad
// field), or memberlist's own (the address is in use, for example).
func Start(cfg Config) (*Membership, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.logger().With("node_id", cfg.NodeID)
	v := newView(cfg.NodeID, cfg.meta(), logger)
	mc := cfg.memberlistConfig()
	mc.Name = cfg.NodeID
	ip, port := splitGossipAddr(cfg.GossipAddr)
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = ip, port, port
	if ip != "0.0.0.0" && ip != "::" {
		mc.AdvertiseAddr = ip
	}
	d := delegates{view: v}
	mc.Delegate, mc.Events, mc.Merge, mc.Alive, mc.Conflict = d, d, d, d, d
	if cfg.Transport != nil {
		mc.Transport = cfg.Transport
	}
	mc.Logger = log.New(memberlistLog{log: logger}, "", 0)
	list, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: start memberlist on %s: %w", cfg.GossipAddr, err)
	}
	m := &Membership{
		cfg:         cfg,
		log:         logger,
		view:        v,
		list:        list,
		gossipAddr:  list.LocalNode().Address(),
		rejoinEvery: cfg.rejoinInterval(),
		joined:      make(chan struct{}),
		joinDone:    make(chan struct{}),
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
	}
	for _, seed := range cfg.Join {
		if seed != m.gossipAddr && seed != cfg.GossipAddr {
			m.seeds = append(m.seeds, seed)
		}
	}
	if len(m.seeds) == 0 && cfg.ClusterID == "" {
		_ = list.Shutdown()
		return nil, fmt.Errorf("%w: ClusterID is empty and Join names only this node (%s): the first node of a "+
			"cluster needs a cluster id (generate one and persist it)", ErrInvalidConfig, m.gossipAddr)
	}
	logger.Info("gossip started", "gossip_addr", m.gossipAddr, "profile", cfg.profileName(),
		"cluster_id", cfg.ClusterID, "seeds", m.seeds)
	go m.run()
	return m, nil
}

// Joined returns a channel closed once this node has joined a cluster (at once for a node
// started with no seeds). It stays open after a refusal: see JoinErr and WaitJoined.
func (m *Membership) Joined() <-chan struct{} { return m.joined }

// WaitJoined blocks until this node has joined (nil), was refused for good (the JoinErr), was
// shut down (ErrShutdown), or ctx is done (ctx.Err()).
func (m *Membership) WaitJoined(ctx context.Context) error {
	select {
	case <-m.joined:
		return nil
	case <-m.joinDone:
		select {
		case <-m.joined:
			return nil
		default:
		}
		if err := m.JoinErr(); err != nil {
			return err
		}
		return ErrShutdown
	case <-ctx.Done():
		return ctx.Err()
	}
}

// JoinErr returns the refusal (wrapping ErrRefused) that ended the join for good, or nil. It is
// also logged at ERROR.
func (m *Membership) JoinErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.joinErr
}

// LastRefusal returns the latest refusal this node made or met, on joining or later (a node of
// another cluster, a duplicate node id, protocol versions that do not overlap), or nil. Each
// is also logged at ERROR (the same one at most once a minute).
func (m *Membership) LastRefusal() error { return m.view.getLastRefusal() }

// ClusterID returns the cluster id: the configured one, or once joined the adopted one ("" before).
func (m *Membership) ClusterID() string { return m.view.getClusterID() }

// GossipAddr returns the address this node advertises for gossip, with the bound port.
func (m *Membership) GossipAddr() string { return m.gossipAddr }

// LocalID returns this node's id.
func (m *Membership) LocalID() string { return m.cfg.NodeID }

// Members returns every member this node knows, itself included, sorted by id: the alive ones
// and the dead or left ones it has not forgotten (see Forget). The slice is the caller's.
func (m *Membership) Members() []Member { return m.view.membersSorted() }

// Events returns the channel of membership changes, one Event per change of a member's state or
// metadata, this node's own included (the first event is this node, alive). Its capacity is
// EventsCapacity; when it is full, events are dropped and the next delivered one has Resync set.
// It is closed when Leave or Shutdown returns. Read it from one goroutine.
func (m *Membership) Events() <-chan Event { return m.view.events }

// Forget drops a dead or left member from Members and from the re-join list. It does nothing
// for an alive member, an unknown one, or this node. A forgotten member that comes back is
// known again.
func (m *Membership) Forget(id string) {
	if m.view.forget(id) {
		m.log.Info("forgot member", "member", id)
	}
}

// Leave leaves the cluster gracefully and stops: it marks this node as leaving in its
// metadata, broadcasts memberlist's leave, shuts memberlist down and closes Events. The others
// then see this node as left rather than dead. timeout bounds the two broadcasts together
// (<= 0: do not wait for them); past it the node still stops, and Leave returns an error saying
// that the others may see it as dead. Leave after Leave or Shutdown does nothing.
func (m *Membership) Leave(timeout time.Duration) error {
	if !m.beginClose() {
		return nil
	}
	deadline := time.Now().Add(timeout)
	m.stopLoop()
	m.view.setLeaving()
	var errs []error
	if err := m.list.UpdateNode(memberlistTimeout(time.Until(deadline) / 2)); err != nil {
		errs = append(errs, fmt.Errorf("announce leaving: %w", err))
	}
	if err := m.list.Leave(memberlistTimeout(time.Until(deadline))); err != nil {
		errs = append(errs, fmt.Errorf("broadcast leave: %w", err))
	}
	if err := m.list.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("shut memberlist down: %w", err))
	}
	m.view.closeEvents()
	if len(errs) > 0 {
		return fmt.Errorf("cluster: left within %v, but the other members may see this node as dead: %w",
			timeout, errors.Join(errs...))
	}
	m.log.Info("left the cluster")
	return nil
}

// Shutdown stops without leaving, as a crash would (the others declare this node dead), and
// closes Events. It may block while an in-flight join attempt times out (the profile's TCP
// timeout: 1s local, 10s lan). Shutdown after Leave or Shutdown does nothing.
func (m *Membership) Shutdown() error {
	if !m.beginClose() {
		return nil
	}
	m.stopLoop()
	err := m.list.Shutdown()
	m.view.closeEvents()
	if err != nil {
		return fmt.Errorf("cluster: shut memberlist down: %w", err)
	}
	return nil
}

// memberlistTimeout turns a remaining time into memberlist's timeout argument, where 0 means forever.
func memberlistTimeout(d time.Duration) time.Duration { return max(d, time.Nanosecond) }

// beginClose reports whether this call is the first Leave or Shutdown.
func (m *Membership) beginClose() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		return false
	}
	m.closing = true
	return true
}

func (m *Membership) stopLoop() {
	close(m.stop)
	<-m.loopDone
}

func (m *Membership) stopping() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

// run is the background goroutine: the join phase, then re-joins and metadata updates.
func (m *Membership) run() {
	defer close(m.loopDone)
	if !m.joinPhase() {
		return
	}
	ticker := time.NewTicker(m.rejoinEvery)
	defer ticker.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-m.view.metaChanged:
			m.advertise()
		case <-ticker.C:
			m.rejoin()
		}
	}
}

// joinPhase contacts the seeds, one at a time, until one lets this node join; after each pass
// it waits with backoff. It reports whether the node joined.
func (m *Membership) joinPhase() bool {
	defer close(m.joinDone)
	if len(m.seeds) == 0 {
		close(m.joined)
		return true
	}
	seed := fnv.New64a()
	seed.Write([]byte(m.cfg.NodeID))
	rng := rand.New(rand.NewPCG(seed.Sum64(), uint64(time.Now().UnixNano())))
	backoff := joinBackoffMin
	for attempt := 1; ; attempt++ {
		wait := backoff + time.Duration(rng.Int64N(int64(backoff)*joinJitterPercent/100+1))
		for _, addr := range m.seeds {
			if m.stopping() {
				return false
			}
			err := m.joinOnce(addr)
			switch {
			case err == nil:
				m.advertise()
				m.log.Info("joined the cluster", "seed", addr, "cluster_id", m.ClusterID(), "attempt", attempt)
				close(m.joined)
				return true
			case errors.Is(err, ErrRefused):
				m.mu.Lock()
				m.joinErr = err
				m.mu.Unlock()
				m.log.Error("cannot join the cluster: refused; this node stays alone and does not retry: "+
					"fix its configuration and restart it", "seed", addr, "error", err)
				return false
			}
			m.log.Warn("cannot join the cluster through this seed", "seed", addr, "attempt", attempt,
				"error", err, "retry_in", wait, "hint", joinHint)
		}
		timer := time.NewTimer(wait)
		select {
		case <-m.stop:
			timer.Stop()
			return false
		case <-timer.C:
		}
		backoff = min(2*backoff, joinBackoffMax)
	}
}

// joinOnce asks one seed to let this node join. It returns nil once joined, an error wrapping
// ErrRefused if either side refused the merge, or another (retryable) error.
func (m *Membership) joinOnce(addr string) error {
	n, err := m.list.Join([]string{addr})
	if err == nil && n > 0 {
		if m.view.getClusterID() == "" {
			// checkMerge adopts the other side's id or fails the merge; memberlist cannot
			// finish a join without it.
			panic("cluster: joined through " + addr + " but no cluster id was adopted")
		}
		return nil
	}
	if err == nil {
		return errors.New("no node answered")
	}
	if refusal := m.view.refusalIn(err); refusal != nil {
		return refusal
	}
	return flatten(err)
}

// rejoin asks the seeds and the members known as dead or left to merge with this node, so that
// the two sides of a healed network split become one cluster again (memberlist forgets dead
// members after GossipToTheDeadTime, and then neither side would contact the other).
func (m *Membership) rejoin() {
	addrs := slices.Concat(m.seeds, m.view.goneAddrs())
	slices.Sort(addrs)
	for _, addr := range slices.Compact(addrs) {
		if m.stopping() {
			return
		}
		if _, err := m.list.Join([]string{addr}); err != nil {
			m.log.Debug("re-join attempt failed", "addr", addr, "error", flatten(err))
		}
	}
}

// advertise re-announces this node's metadata if it changed (an adopted cluster id).
func (m *Membership) advertise() {
	select {
	case <-m.view.metaChanged:
	default:
		return
	}
	if err := m.list.UpdateNode(m.cfg.broadcastTimeout()); err != nil {
		m.log.Debug("metadata update not yet gossiped; push/pull will carry it", "error", err)
	}
}

// flatten turns memberlist's multi-line multierror into one line.
func flatten(err error) error {
	var multi interface{ WrappedErrors() []error }
	if !errors.As(err, &multi) {
		return err
	}
	texts := make([]string, 0, len(multi.WrappedErrors()))
	for _, e := range multi.WrappedErrors() {
		texts = append(texts, e.Error())
	}
	return errors.New(strings.Join(texts, "; "))
}
