package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/actors/node"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
)

// Broker is one node's broker core: the actor system, the node supervisor and the request
// handlers. Its methods are safe for concurrent use.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	system *actor.ActorSystem
	node   *node.Node
	// cluster is the broker's cluster half; nil standalone.
	cluster *clusterRuntime

	stopOnce sync.Once
	stopErr  error
}

// Start validates cfg, starts the actor system (its logs go to cfg.Logger), loads the catalog
// and opens every partition (recovering the logs). It returns once the broker is ready.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.logger()
	// NB(actors): protoactor's default logger writes coloured text to stderr; its Prometheus
	// provider would take the global HTTP mux and port 2222. Neither is used.
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(system *actor.ActorSystem) *slog.Logger {
		return logger.With("lib", "protoactor", "system", system.ID)
	}))
	b := &Broker{cfg: cfg, log: logger, system: system}
	nodeCfg := cfg.nodeConfig()
	if cfg.Cluster != nil {
		b.cluster = newClusterRuntime(*cfg.Cluster, cfg.NodeID, b)
		nodeCfg.Cluster = b.cluster.nodeConfig(cfg.NodeID)
	}
	n, err := node.Start(context.Background(), system, nodeCfg)
	if err != nil {
		if b.cluster != nil {
			b.cluster.closePeers()
		}
		system.Shutdown()
		return nil, err
	}
	b.node = n
	if b.cluster != nil {
		b.cluster.start(n)
	}
	logger.Info("broker started", "node_id", cfg.NodeID, "data_dir", cfg.DataDir, "fsync", cfg.Fsync.String(),
		"topics", len(n.Topics()), "auto_create_topics", cfg.AutoCreateTopics, "clustered", cfg.Cluster != nil)
	return b, nil
}

// Stop stops every partition (each makes what it appended durable and closes its log), the
// node supervisor and the actor system. Requests still running get protocol.ErrShuttingDown;
// stop accepting requests and let in-flight ones finish before calling Stop. Stop is idempotent.
func (b *Broker) Stop(ctx context.Context) error {
	b.stopOnce.Do(func() {
		if b.cluster != nil {
			b.cluster.close()
		}
		b.stopErr = b.node.Stop(ctx)
		if b.cluster != nil {
			b.cluster.closePeers()
		}
		b.system.Shutdown()
		if b.stopErr != nil {
			b.log.Error("broker stopped with errors", "err", b.stopErr)
			return
		}
		b.log.Info("broker stopped", "node_id", b.cfg.NodeID)
	})
	return b.stopErr
}

// HandOver transfers every leadership this node holds to other nodes and waits until none is
// left or ctx ends (a cluster node about to stop: call it before closing the listener, the
// new leaders need this node's answers). It returns the leaderships left; 0 standalone.
func (b *Broker) HandOver(ctx context.Context) int {
	left := b.node.HandOverLeaderships(ctx)
	if left > 0 {
		b.log.Warn("leaving with leaderships not handed over; those partitions fail over", "left", left)
	}
	return left
}

// ClusterMetrics are the cluster's health and move figures as this node sees them.
type ClusterMetrics struct {
	UnderReplicated, Leaderless                 int
	MovesInProgress, MovesQueued                int
	MovesStarted, MovesFinished, MovesCancelled uint64
	// MovedBytes: log bytes this node's leaders sent to learners.
	MovedBytes uint64
}

// ClusterMetrics returns the cluster's figures (zero standalone).
func (b *Broker) ClusterMetrics(ctx context.Context) ClusterMetrics {
	var m ClusterMetrics
	c := b.node.MoveCounters()
	if c == nil {
		return m
	}
	if st, err := b.clusterStatus(ctx, &protocol.Empty{}); err == nil {
		m.UnderReplicated, m.Leaderless = st.Partitions.UnderReplicated, st.Partitions.Leaderless
		m.MovesInProgress, m.MovesQueued = st.Moves.InProgress, st.Moves.Queued
	}
	m.MovesStarted, m.MovesFinished, m.MovesCancelled = c.Started.Load(), c.Finished.Load(), c.Cancelled.Load()
	for _, s := range b.node.Stats() {
		m.MovedBytes += s.MovedBytes
	}
	return m
}

// Ready reports whether the catalog is loaded and the partitions are open (for /readyz).
func (b *Broker) Ready() bool { return b.node.Ready() }

// Stats returns a snapshot of every hosted partition, sorted by topic and partition.
func (b *Broker) Stats() []partition.Stats { return b.node.Stats() }

// NodeID returns this node's id.
func (b *Broker) NodeID() string { return b.cfg.NodeID }

// Node returns the node supervisor (topics and partitions), for tools and tests.
func (b *Broker) Node() *node.Node { return b.node }

// Handle serves one request: it decodes body as the request of type t and returns the response
// struct (a pointer). It may block (a produce waits for durability, a fetch long-polls) and
// respects ctx. Errors wrap protocol sentinels. A response never aliases body.
func (b *Broker) Handle(ctx context.Context, t protocol.MessageType, body []byte) (any, error) {
	resp, err := b.handle(ctx, t, body)
	if err != nil {
		return nil, wireError(err)
	}
	return resp, nil
}

// Admit is the ordered half of Handle, for a transport that calls it on a connection's reader
// goroutine in arrival order (transport.Admitter): a produce's batches are handed to their
// partitions here, so a client that pipelines batches for one partition has them appended in the
// order it sent them; the returned function waits for the answers. Other requests are served
// entirely by the returned function. body must stay valid until that function returns.
func (b *Broker) Admit(ctx context.Context, t protocol.MessageType, body []byte) func(context.Context) (any, error) {
	if t == protocol.TypeReplicate {
		err := b.replicate(body)
		return func(context.Context) (any, error) {
			if err != nil {
				return nil, wireError(err)
			}
			return &protocol.Empty{}, nil
		}
	}
	if t != protocol.TypeProduce {
		return func(ctx context.Context) (any, error) { return b.Handle(ctx, t, body) }
	}
	var req protocol.ProduceRequest
	wait, err := func() (func(context.Context) *protocol.ProduceResponse, error) {
		if err := protocol.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		return b.submitProduce(ctx, &req)
	}()
	if err != nil {
		return func(context.Context) (any, error) { return nil, wireError(err) }
	}
	return func(ctx context.Context) (any, error) { return wait(ctx), nil }
}

func (b *Broker) handle(ctx context.Context, t protocol.MessageType, body []byte) (any, error) {
	switch t {
	case protocol.TypeMetadata:
		return decodeAndServe(ctx, body, b.metadata)
	case protocol.TypeCreateTopic:
		return decodeAndServe(ctx, body, b.createTopic)
	case protocol.TypeDeleteTopic:
		return decodeAndServe(ctx, body, b.deleteTopic)
	case protocol.TypeListTopics:
		return decodeAndServe(ctx, body, b.listTopics)
	case protocol.TypeProduce:
		return decodeAndServe(ctx, body, b.produce)
	case protocol.TypeFetch:
		return decodeAndServe(ctx, body, b.fetch)
	case protocol.TypeListOffsets:
		return decodeAndServe(ctx, body, b.listOffsets)
	case protocol.TypeTrim:
		return decodeAndServe(ctx, body, b.trim)
	case protocol.TypeClusterStatus:
		return decodeAndServe(ctx, body, b.clusterStatus)
	case protocol.TypeClusterAdmin:
		return decodeAndServe(ctx, body, b.clusterAdmin)
	case protocol.TypeDelete:
		return decodeAndServe(ctx, body, b.deleteRecords)
	case protocol.TypeStreamInfo:
		return decodeAndServe(ctx, body, b.streamInfo)
	case protocol.TypeCommand:
		return decodeAndServe(ctx, body, b.redisForwarded)
	case protocol.TypeReplicate:
		if err := b.replicate(body); err != nil {
			return nil, err
		}
		return &protocol.Empty{}, nil
	}
	return nil, protocol.Errorf(protocol.ErrMalformed, "message type %v is not a request the broker serves", t)
}

// decodeAndServe decodes body into a Req and calls serve with it.
func decodeAndServe[Req any, Resp any](ctx context.Context, body []byte, serve func(context.Context, *Req) (*Resp, error)) (any, error) {
	var req Req
	if err := protocol.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("decode %T: %w", req, err)
	}
	resp, err := serve(ctx, &req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// notStopping returns protocol.ErrShuttingDown once Stop has begun.
func (b *Broker) notStopping() error {
	if !b.node.Ready() {
		return protocol.Errorf(protocol.ErrShuttingDown, "node %s is not serving (stopping or failed)", b.cfg.NodeID)
	}
	return nil
}

// errTopicRequired is the error of a request without a topic.
var errTopicRequired = errors.New("the request names no topic")
