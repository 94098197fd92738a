package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

// metadataCache maps topics to partitions to leaders, and leaders to addresses. An entry is
// trusted until it is maxAge old or a request marks it stale (not leader, broken connection);
// then the next lookup asks a broker again. Concurrent lookups of one topic share one request.
type metadataCache struct {
	client *Client
	maxAge time.Duration

	mu      sync.Mutex
	topics  map[string]*topicEntry
	brokers map[string]string // node id → address
	// refreshing holds the refresh in progress per topic.
	refreshing map[string]*refresh
}

type topicEntry struct {
	meta    protocol.TopicMetadata
	fetched time.Time
	stale   bool
}

// refresh is one metadata request that concurrent lookups of a topic wait on.
type refresh struct {
	done chan struct{}
	err  error // set before done is closed
}

func newMetadataCache(c *Client, maxAge time.Duration) *metadataCache {
	return &metadataCache{
		client:     c,
		maxAge:     maxAge,
		topics:     make(map[string]*topicEntry),
		brokers:    make(map[string]string),
		refreshing: make(map[string]*refresh),
	}
}

// topic returns the metadata of topic, from the cache when it is fresh. A topic the cluster
// does not know is an error wrapping protocol.ErrUnknownTopic.
func (m *metadataCache) topic(ctx context.Context, topic string) (protocol.TopicMetadata, error) {
	return m.topicAt(ctx, topic, time.Now())
}

// topicAt is topic for a caller that has just read the clock (the producer reads it once per
// record).
func (m *metadataCache) topicAt(ctx context.Context, topic string, now time.Time) (protocol.TopicMetadata, error) {
	for {
		m.mu.Lock()
		if e, ok := m.topics[topic]; ok && !e.stale && now.Sub(e.fetched) < m.maxAge {
			meta := e.meta
			m.mu.Unlock()
			return meta, nil
		}
		r, running := m.refreshing[topic]
		if !running {
			r = &refresh{done: make(chan struct{})}
			m.refreshing[topic] = r
		}
		m.mu.Unlock()
		if !running {
			m.run(ctx, topic, r)
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return protocol.TopicMetadata{}, ctx.Err()
		}
		// A refresh that failed because its starter gave up says nothing about this lookup:
		// loop and start another.
		if r.err != nil && (ctx.Err() != nil || !isContextError(r.err)) {
			return protocol.TopicMetadata{}, r.err
		}
	}
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// run performs refresh r of topic and stores what it learnt.
func (m *metadataCache) run(ctx context.Context, topic string, r *refresh) {
	var resp protocol.MetadataResponse
	err := m.client.callAnyRetry(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{topic}}, &resp)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.refreshing, topic)
	if err == nil {
		m.storeLocked(resp)
		if e, ok := m.topics[topic]; !ok || len(e.meta.Partitions) == 0 {
			err = fmt.Errorf("%w: %q", protocol.ErrUnknownTopic, topic)
		}
	}
	if errors.Is(err, protocol.ErrUnknownTopic) {
		delete(m.topics, topic)
	}
	r.err = err
	close(r.done)
}

// store records a metadata response (from a refresh, or from an admin call that asked).
func (m *metadataCache) store(resp protocol.MetadataResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storeLocked(resp)
}

func (m *metadataCache) storeLocked(resp protocol.MetadataResponse) {
	for _, b := range resp.Brokers {
		if b.Addr != "" {
			m.brokers[b.NodeID] = b.Addr
		}
	}
	now := time.Now()
	for _, t := range resp.Topics {
		m.topics[t.Name] = &topicEntry{meta: t, fetched: now}
	}
}

// invalidate marks topic's metadata stale: the next lookup asks a broker.
func (m *metadataCache) invalidate(topic string) {
	m.mu.Lock()
	if e, ok := m.topics[topic]; ok {
		e.stale = true
	}
	m.mu.Unlock()
}

// forget drops topic (after it was deleted).
func (m *metadataCache) forget(topic string) {
	m.mu.Lock()
	delete(m.topics, topic)
	m.mu.Unlock()
}

// leaderAddr returns the address of the leader of topic's partition.
func (m *metadataCache) leaderAddr(ctx context.Context, topic string, partition int32) (string, error) {
	meta, err := m.topic(ctx, topic)
	if err != nil {
		return "", err
	}
	p, err := partitionOf(meta, partition)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	addr, ok := m.brokers[p.Leader]
	m.mu.Unlock()
	if p.Leader == "" || !ok {
		return "", fmt.Errorf("%w: %s/%d (leader %q)", ErrNoLeader, topic, partition, p.Leader)
	}
	return addr, nil
}

// partitionOf finds partition in meta.
func partitionOf(meta protocol.TopicMetadata, partition int32) (protocol.PartitionMetadata, error) {
	// Partitions are normally listed in order: try the index first.
	if partition >= 0 && int(partition) < len(meta.Partitions) && meta.Partitions[partition].Partition == partition {
		return meta.Partitions[partition], nil
	}
	for _, p := range meta.Partitions {
		if p.Partition == partition {
			return p, nil
		}
	}
	return protocol.PartitionMetadata{}, fmt.Errorf("%w: %s/%d (the topic has %d partitions)",
		protocol.ErrUnknownPartition, meta.Name, partition, len(meta.Partitions))
}

// brokerAddrs lists the addresses of the brokers metadata named.
func (m *metadataCache) brokerAddrs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	addrs := make([]string, 0, len(m.brokers))
	for _, a := range m.brokers {
		addrs = append(addrs, a)
	}
	return addrs
}
