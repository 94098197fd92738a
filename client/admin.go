package client

import (
	"context"
	"fmt"

	"github.com/shoalmq/shoal/protocol"
)

// CreateTopic creates topic name; zero fields of cfg take the server's defaults. It fails with
// an error wrapping protocol.ErrTopicExists when the topic exists.
func (c *Client) CreateTopic(ctx context.Context, name string, cfg protocol.TopicConfig) error {
	if err := checkTopicName(name); err != nil {
		return err
	}
	var resp protocol.Empty
	if err := c.callAnyRetry(ctx, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: name, Config: cfg}, &resp); err != nil {
		return fmt.Errorf("create topic %q: %w", name, err)
	}
	c.meta.forget(name)
	return nil
}

// DeleteTopic deletes topic name and its data. It fails with an error wrapping
// protocol.ErrUnknownTopic when there is no such topic.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	if err := checkTopicName(name); err != nil {
		return err
	}
	var resp protocol.Empty
	err := c.callAnyRetry(ctx, protocol.TypeDeleteTopic, &protocol.DeleteTopicRequest{Name: name}, &resp)
	c.meta.forget(name)
	if err != nil {
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	return nil
}

// ListTopics returns the names of the topics, as the server orders them.
func (c *Client) ListTopics(ctx context.Context) ([]string, error) {
	var resp protocol.ListTopicsResponse
	if err := c.callAnyRetry(ctx, protocol.TypeListTopics, &protocol.Empty{}, &resp); err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	return resp.Topics, nil
}

// Metadata asks a broker for the brokers and the named topics (every topic when none is
// named), bypassing the cache, and refreshes the cache with the answer.
func (c *Client) Metadata(ctx context.Context, topics ...string) (protocol.MetadataResponse, error) {
	var resp protocol.MetadataResponse
	if err := c.callAnyRetry(ctx, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: topics}, &resp); err != nil {
		return resp, fmt.Errorf("metadata: %w", err)
	}
	c.meta.store(resp)
	return resp, nil
}

// DescribeTopic returns one topic's settings and partitions (leader, replicas, epoch, log start
// and end), fresh from a broker. An unknown topic is an error wrapping protocol.ErrUnknownTopic.
func (c *Client) DescribeTopic(ctx context.Context, name string) (protocol.TopicMetadata, error) {
	if err := checkTopicName(name); err != nil {
		return protocol.TopicMetadata{}, err
	}
	resp, err := c.Metadata(ctx, name)
	if err != nil {
		return protocol.TopicMetadata{}, err
	}
	for _, t := range resp.Topics {
		if t.Name == name {
			return t, nil
		}
	}
	return protocol.TopicMetadata{}, fmt.Errorf("describe topic: %w: %q", protocol.ErrUnknownTopic, name)
}

// checkTopicName refuses an empty name before it travels.
func checkTopicName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty topic name", protocol.ErrInvalidArgument)
	}
	return nil
}
