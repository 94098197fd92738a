// Client tests: bootstrap, configuration, the metadata cache and the admin calls, against the
// in-memory fake cluster (fake_test.go). Timing (metadata age) runs on synctest's virtual clock.
package client

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

func TestNewSkipsAnUnreachableBootstrapBroker(t *testing.T) {
	f := newFakeCluster(t)
	c := newTestClient(t, f, Config{Brokers: []string{"nowhere:1", f.addr(0)}})
	if _, err := c.ListTopics(context.Background()); err != nil {
		t.Fatalf("ListTopics through the second bootstrap address: %v", err)
	}
}

func TestNewFailsWhenNoBrokerAnswers(t *testing.T) {
	f := newFakeCluster(t)
	_, err := New(context.Background(), Config{Brokers: []string{"nowhere:1", "nowhere:2"}, Dial: f.dial})
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, errFakeRefused) {
		t.Fatalf("got %v, want ErrUnreachable wrapping each dial's error", err)
	}
	for _, addr := range []string{"nowhere:1", "nowhere:2"} {
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("error %q does not name %s", err, addr)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no brokers", Config{}, []string{"Brokers"}},
		{"empty address", Config{Brokers: []string{""}}, []string{"empty address"}},
		{"negative durations", Config{Brokers: []string{"a:1"}, DialTimeout: -1, MetadataMaxAge: -1, RetryBackoff: -1},
			[]string{"DialTimeout", "MetadataMaxAge", "RetryBackoff"}},
	}
	for _, tc := range cases {
		_, err := New(context.Background(), tc.cfg)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want one naming %s", tc.name, err, want)
			}
		}
	}
}

// Sends to one topic ask for its metadata once, and again only once it is MetadataMaxAge old.
func TestMetadataIsCachedUntilItsMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster(t)
		f.createTopic("t", 2)
		c := newTestClient(t, f, Config{MetadataMaxAge: time.Minute})
		p := newTestProducer(t, c, ProducerConfig{})
		for range 10 {
			if _, err := p.SendSync(context.Background(), rec("k", "v")); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.callCount(protocol.TypeMetadata); n != 1 {
			t.Fatalf("%d metadata requests for 10 sends, want 1", n)
		}
		time.Sleep(time.Minute)
		if _, err := p.SendSync(context.Background(), rec("k", "v")); err != nil {
			t.Fatal(err)
		}
		if n := f.callCount(protocol.TypeMetadata); n != 2 {
			t.Fatalf("%d metadata requests after MetadataMaxAge, want 2", n)
		}
	})
}

// Lookups of one topic that miss the cache at the same time share one metadata request.
func TestConcurrentLookupsShareOneRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster(t)
		f.createTopic("t", 1)
		c := newTestClient(t, f, Config{})
		f.mu.Lock()
		f.metadataHold = make(chan struct{})
		f.mu.Unlock()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { _, errs[i] = c.meta.topic(context.Background(), "t") })
		}
		synctest.Wait()
		close(f.metadataHold)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("lookup %d: %v", i, err)
			}
		}
		if n := f.callCount(protocol.TypeMetadata); n != 1 {
			t.Errorf("%d metadata requests for 8 concurrent lookups, want 1", n)
		}
	})
}

func TestTopicAdmin(t *testing.T) {
	f := newFakeCluster(t)
	c := newTestClient(t, f, Config{})
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "orders", protocol.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(ctx, "events", protocol.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(ctx, "orders", protocol.TopicConfig{}); !errors.Is(err, protocol.ErrTopicExists) {
		t.Errorf("creating orders twice: %v, want ErrTopicExists", err)
	}
	topics, err := c.ListTopics(ctx)
	if err != nil || !slices.Equal(topics, []string{"events", "orders"}) {
		t.Errorf("ListTopics: %v, %v; want [events orders]", topics, err)
	}
	desc, err := c.DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != "orders" || len(desc.Partitions) != 3 || desc.Partitions[2].Leader != "node-1" {
		t.Errorf("DescribeTopic: %+v, want orders with 3 partitions led by node-1", desc)
	}
	if err := c.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeTopic(ctx, "orders"); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Errorf("describing a deleted topic: %v, want ErrUnknownTopic", err)
	}
	if err := c.DeleteTopic(ctx, "orders"); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Errorf("deleting a deleted topic: %v, want ErrUnknownTopic", err)
	}
	if err := c.CreateTopic(ctx, "", protocol.TopicConfig{}); !errors.Is(err, protocol.ErrInvalidArgument) {
		t.Errorf("creating a topic without a name: %v, want ErrInvalidArgument", err)
	}
}

func TestClosedClientRefusesCalls(t *testing.T) {
	f := newFakeCluster(t)
	c := newTestClient(t, f, Config{})
	c.Close()
	if _, err := c.ListTopics(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("ListTopics after Close: %v, want ErrClosed", err)
	}
}
