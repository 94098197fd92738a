// Command produce_consume is the Go client's first example: it writes a few keyed records to a
// topic, waits for each one's offset, and reads them back from where they landed.
//
// Start a node with `make run`, then:
//
//	go run ./client/examples/produce_consume [-brokers 127.0.0.1:7070] [-topic example] [-records 10]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
)

func main() {
	brokers := flag.String("brokers", client.DefaultBroker, "comma-separated broker addresses")
	topic := flag.String("topic", "example", "topic to write to and read from (created on first produce)")
	records := flag.Int("records", 10, "records to produce")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := run(ctx, strings.Split(*brokers, ","), *topic, *records); err != nil {
		fmt.Fprintln(os.Stderr, "produce_consume:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, brokers []string, topic string, records int) error {
	c, err := client.New(ctx, client.Config{Brokers: brokers, ClientID: "example"})
	if errors.Is(err, client.ErrUnreachable) {
		return fmt.Errorf("%w\nis a node running? start one with make run", err)
	}
	if err != nil {
		return err
	}
	defer c.Close()

	// Produce: Send is asynchronous and batches per partition; each Future gives the record's
	// partition, offset and id once the broker has acknowledged it (acks=quorum by default).
	p, err := c.NewProducer(client.ProducerConfig{})
	if err != nil {
		return err
	}
	futures := make([]*client.Future, records)
	for i := range futures {
		key := fmt.Sprintf("user-%d", i%3) // one key always goes to the same partition
		value := fmt.Sprintf("hello %d at %s", i, time.Now().Format(time.TimeOnly))
		futures[i] = p.Send(ctx, client.Record{Topic: topic, Key: []byte(key), Value: []byte(value)})
	}
	if err := p.Close(ctx); err != nil { // Close flushes and waits for every acknowledgement
		return err
	}
	first := map[int32]uint64{} // per partition, the first offset written by this run
	last := map[int32]uint64{}
	for i, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		fmt.Printf("produced  partition %d  offset %-4d id %s\n", res.Partition, res.Offset, res.ID)
		if off, ok := first[res.Partition]; !ok || res.Offset < off {
			first[res.Partition] = res.Offset
		}
		last[res.Partition] = max(last[res.Partition], res.Offset)
	}

	// Consume what this run wrote: start each partition at its first offset (an application
	// would store Consumer.Position and Seek back to it on restart).
	partitions := make([]int32, 0, len(first))
	for partition := range first {
		partitions = append(partitions, partition)
	}
	cons, err := c.NewConsumer(client.ConsumerConfig{Topic: topic, Partitions: partitions})
	if err != nil {
		return err
	}
	defer cons.Close()
	for partition, offset := range first {
		if err := cons.Seek(partition, offset); err != nil {
			return err
		}
	}
	for read := 0; read < records; {
		msgs, err := cons.Poll(ctx) // long-polls when there is nothing yet
		if errors.Is(err, protocol.ErrUnknownTopic) {
			return fmt.Errorf("topic %q is gone: %w", topic, err)
		}
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Offset > last[m.Partition] {
				continue // written by someone else after this run
			}
			fmt.Printf("consumed  partition %d  offset %-4d key %-7s value %q\n", m.Partition, m.Offset, m.Key, m.Value)
			read++
		}
	}
	return nil
}
