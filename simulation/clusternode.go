package simulation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmq/shoal/actors"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/cluster"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Addresses and names of the cluster tier's nodes.
const (
	gossipPort   = 7946
	brokerPort   = 7070
	simClusterID = "sim"
	simTopic     = "sim"
	simDataDir   = "/data"
	clientHost   = "client"
	// simSegmentBytes is small so that logs have sealed segments (bit flips go there).
	simSegmentBytes = 16 << 10
	// maxJoins bounds the nodes that join during a run.
	maxJoins = 2
)

// nodeState is where a node of the cluster tier is in its life.
type nodeState int

const (
	nodeNew     nodeState = iota // never started
	nodeUp                       // running
	nodeDown                     // crashed or left; it restarts later
	nodeGone                     // killed for good (removed, or its disk is damaged)
	nodeRefused                  // its restart failed: it is down until removed
)

// cnode is one node of the cluster tier: a broker, its gossip membership and its crashable
// disk, which outlives restarts.
type cnode struct {
	run   *clusterRun
	id    string
	index int
	fs    *vfs.CrashFS
	skew  time.Duration
	// clockSkew is what the node's clock adds to the wall clock now: 0 while the cluster forms,
	// skew from the safety phase on (the clock steps, as an NTP correction would).
	clockSkew atomic.Int64

	gossipAddr, brokerAddr string

	// mu guards the fields below; lifecycle changes happen on the schedule's goroutine only.
	mu       sync.Mutex
	state    nodeState
	ms       *cluster.Membership
	b        *actors.Broker
	started  bool // started at least once (a restart does not bootstrap)
	draining bool
	removed  bool // an operator's remove was accepted
	// incarnation counts starts: the monitor's per-replica progress resets with it.
	incarnation int
	// endsAtCrash are the log ends of its partitions when it last went down (to tell the
	// checker what the crash dropped).
	endsAtCrash map[int]uint64
}

func (r *clusterRun) newNode(index int) *cnode {
	id := fmt.Sprintf("n%d", index+1)
	nd := &cnode{run: r, id: id, index: index, fs: vfs.NewCrashFS(), skew: r.faults.Skews[index],
		gossipAddr: hostAddr(index, gossipPort), brokerAddr: hostAddr(index, brokerPort)}
	r.net.AddHost(id, nd.gossipAddr, nd.brokerAddr)
	return nd
}

func hostAddr(index, port int) string {
	return fmt.Sprintf("10.0.%d.%d:%d", index/250, index%250+1, port)
}

func (nd *cnode) broker() *actors.Broker {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.state != nodeUp {
		return nil
	}
	return nd.b
}

func (nd *cnode) getState() nodeState {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.state
}

// start starts the node's gossip and broker on its disk, joining seeds. An error is the
// broker's refusal to start (a damaged disk) or a simulator failure.
func (nd *cnode) start(seeds []string) error {
	r := nd.run
	// The node makes its data dir itself, durably (actors/node.Start; the simulator used to
	// provision it durably because nothing synced it: a power loss in a node's first moments
	// lost the dir whole).
	r.net.SetDown(nd.id, false)
	tr, err := r.net.NewTransport(nd.id)
	if err != nil {
		return err
	}
	logger := r.logger.With("node", nd.id)
	ms, err := cluster.Start(cluster.Config{NodeID: nd.id, ClusterID: simClusterID, GossipAddr: nd.gossipAddr,
		BrokerAddr: nd.brokerAddr, HTTPAddr: hostAddr(nd.index, 1), Join: seeds, Profile: cluster.ProfileLocal,
		ProtocolMin: 1, ProtocolMax: 1, Logger: logger, Transport: tr})
	if err != nil {
		return fmt.Errorf("start gossip of %s: %w", nd.id, err)
	}
	cfg := actors.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.BrokerAddr, cfg.Logger, cfg.FS = nd.id, simDataDir, nd.brokerAddr, logger, nd.fs
	cfg.SegmentBytes = simSegmentBytes
	if r.faults.FsyncInterval {
		cfg.Fsync, cfg.FsyncInterval = storage.FsyncInterval, r.faults.SyncEvery
	}
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(nd.clockSkew.Load())) }
	id := nd.id
	cfg.Cluster = &actors.ClusterConfig{Membership: ms, Bootstrap: !nd.started && len(seeds) == 0, DeadGrace: r.faults.DeadGrace,
		Dial: func(ctx context.Context, addr string) (actors.PeerConn, error) {
			c, err := r.net.Dial(ctx, id, addr)
			if err != nil {
				return nil, err
			}
			return c, nil
		}}
	b, err := actors.Start(cfg)
	if err != nil {
		_ = ms.Shutdown()
		r.net.SetDown(nd.id, true)
		return err
	}
	nd.mu.Lock()
	nd.ms, nd.b, nd.state, nd.started = ms, b, nodeUp, true
	nd.incarnation++
	nd.mu.Unlock()
	r.net.SetHandler(nd.id, b)
	return nil
}

// crash stops the node as a power loss would: it drops off the network, its disk loses what
// was not synced (torn: a random prefix of each unsynced tail survives), then the broker and
// the gossip stop (their writes fail: the handles are stale).
func (nd *cnode) crash(torn bool, next nodeState) {
	r := nd.run
	r.net.SetDown(nd.id, true)
	r.net.SetHandler(nd.id, nil)
	if torn {
		r.mu.Lock()
		rng := r.diskRNG
		r.mu.Unlock()
		nd.fs.CrashKeepingTail(rng)
	} else {
		nd.fs.Crash()
	}
	nd.mu.Lock()
	b, ms := nd.b, nd.ms
	nd.state = next
	nd.mu.Unlock()
	ends := map[int]uint64{}
	if b != nil {
		for _, s := range b.Stats() {
			if s.Topic == simTopic {
				ends[int(s.Partition)] = s.LogEnd
			}
		}
	}
	nd.mu.Lock()
	nd.endsAtCrash = ends
	nd.mu.Unlock()
	if ms != nil {
		_ = ms.Shutdown()
	}
	if b != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = b.Stop(ctx)
		cancel()
	}
}

// leave stops the node as SIGTERM does: leaderships handed over, requests refused, broker
// stopped (everything synced), gossip left.
func (nd *cnode) leave() {
	r := nd.run
	nd.mu.Lock()
	b, ms := nd.b, nd.ms
	nd.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	b.HandOver(ctx)
	cancel()
	r.net.SetHandler(nd.id, nil)
	nd.mu.Lock()
	nd.state = nodeDown
	nd.endsAtCrash = nil
	nd.mu.Unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	_ = b.Stop(ctx)
	cancel()
	_ = ms.Leave(time.Second)
	_ = ms.Shutdown()
	r.net.SetDown(nd.id, true)
}

// partition returns the node's replica of the simulated topic's partition p, or nil.
func (nd *cnode) partition(p int) *partition.Partition {
	part, _ := nd.partitionErr(p)
	return part
}

func (nd *cnode) partitionErr(p int) (*partition.Partition, error) {
	b := nd.broker()
	if b == nil {
		return nil, errors.New("not running")
	}
	return b.Node().Partition(simTopic, int32(p))
}

// flipBit flips one bit of one sealed segment of the node's disk (the node is down) and
// returns the file and position, or "" when no partition has a sealed segment yet.
func (nd *cnode) flipBit(victim int) (string, int, error) {
	dir := filepath.Join(simDataDir, "topics", simTopic)
	parts, err := nd.fs.ReadDir(dir)
	if err != nil {
		return "", 0, nil
	}
	var sealed []string
	for _, p := range parts {
		names, err := nd.fs.ReadDir(filepath.Join(dir, p))
		if err != nil {
			continue
		}
		var logs []string
		for _, n := range names {
			if strings.HasSuffix(n, ".log") {
				logs = append(logs, filepath.Join(dir, p, n))
			}
		}
		slices.Sort(logs)
		if len(logs) > 1 {
			sealed = append(sealed, logs[:len(logs)-1]...)
		}
	}
	if len(sealed) == 0 {
		return "", 0, nil
	}
	path := sealed[victim%len(sealed)]
	data, err := vfs.ReadFile(nd.fs, path, 1<<30)
	if err != nil || len(data) == 0 {
		return "", 0, err
	}
	pos := (victim / len(sealed)) % len(data)
	data[pos] ^= 1 << (victim % 8)
	f, err := nd.fs.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "", 0, err
	}
	if _, err := f.Write(data); err != nil {
		return "", 0, errors.Join(err, f.Close())
	}
	if err := f.Sync(); err != nil {
		return "", 0, errors.Join(err, f.Close())
	}
	return path, pos, f.Close()
}

// discardLogger drops every log line.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
