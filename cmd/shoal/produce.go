package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
)

// produceWindow bounds the records `shoal produce` has sent and not yet seen acknowledged: past
// it, it waits for them before reading more of stdin, so its memory stays flat on any input.
const produceWindow = 1 << 16

// runProduce is `shoal produce`: one record per line of stdin, acknowledged before it exits.
func runProduce(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return produceMain(ctx, args, os.Stdin, stdout, stderr)
}

// produceMain is runProduce with its input and context passed in (for tests).
func produceMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("produce", "produce --topic T [--brokers ADDR[,ADDR...]] [--acks quorum|leader|none] [--key-sep SEP] [--partition N]", stderr)
	brokers := brokersFlag(fs)
	topic := fs.String("topic", "", "topic to write to (required; created on first produce when the node auto-creates topics)")
	acksText := fs.String("acks", protocol.AcksQuorum.String(), "when a record counts as written: quorum, leader or none")
	keySep := fs.String("key-sep", "", "split each line at the first SEP into key and value (a line without SEP has no key)")
	partition := fs.Int("partition", -1, "write every record to partition N (default: by key, spread round-robin without one)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	acks, err := protocol.ParseAcks(*acksText)
	var usageErrs []string
	if err != nil {
		usageErrs = append(usageErrs, fmt.Sprintf("--acks %q: use quorum, leader or none", *acksText))
	}
	if *topic == "" {
		usageErrs = append(usageErrs, "--topic is required")
	}
	if *partition < -1 || *partition > math.MaxInt32 {
		usageErrs = append(usageErrs, fmt.Sprintf("--partition %d: give a partition number (0 or more), or leave it out", *partition))
	}
	if code, ok := usageErrors(fs, usageErrs); !ok {
		return code
	}
	p := producer{topic: *topic, keySep: []byte(*keySep), stderr: stderr}
	if *partition >= 0 {
		p.partition = new(int32(*partition))
	}
	return withClient(ctx, "produce", *brokers, stderr, func(c *client.Client) error {
		return p.run(ctx, c, acks, stdin)
	})
}

// producer is one run of `shoal produce`.
type producer struct {
	topic     string
	keySep    []byte
	partition *int32
	stderr    io.Writer

	sent, failed int
	firstErr     error
	pending      []*client.Future
}

func (pr *producer) run(ctx context.Context, c *client.Client, acks protocol.Acks, stdin io.Reader) error {
	p, err := c.NewProducer(client.ProducerConfig{Acks: acks})
	if err != nil {
		return err
	}
	readErr := pr.sendLines(ctx, p, stdin)
	closeErr := p.Close(ctx)
	pr.settle(ctx)
	switch {
	case readErr != nil:
		return readErr
	case pr.failed > 0:
		return fmt.Errorf("%d of %d records were not acknowledged; the first failed with: %w", pr.failed, pr.sent, pr.firstErr)
	case closeErr != nil:
		return closeErr
	}
	fmt.Fprintf(pr.stderr, "shoal produce: %d records acknowledged (topic %s, acks %s)\n", pr.sent, pr.topic, acks)
	return nil
}

// sendLines sends one record per line of stdin (without its newline).
func (pr *producer) sendLines(ctx context.Context, p *client.Producer, stdin io.Reader) error {
	lines := bufio.NewScanner(stdin)
	lines.Buffer(make([]byte, 0, 64<<10), client.MaxBatchBytes)
	for lines.Scan() {
		rec := client.Record{Topic: pr.topic, Value: lines.Bytes(), Partition: pr.partition}
		if len(pr.keySep) > 0 {
			if key, value, found := strings.Cut(lines.Text(), string(pr.keySep)); found {
				rec.Key, rec.Value = []byte(key), []byte(value)
			}
		}
		pr.pending = append(pr.pending, p.Send(ctx, rec)) // Send copies the line's bytes
		pr.sent++
		if len(pr.pending) == produceWindow {
			pr.settle(ctx)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after %d lines: %w", pr.sent, err)
		}
	}
	if err := lines.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d of stdin is longer than %d bytes, the largest record", pr.sent+1, client.MaxBatchBytes)
		}
		return fmt.Errorf("reading stdin: %w", err)
	}
	return nil
}

// settle waits for every pending record and counts the failures.
func (pr *producer) settle(ctx context.Context) {
	for _, f := range pr.pending {
		if _, err := f.Wait(ctx); err != nil {
			pr.failed++
			if pr.firstErr == nil {
				pr.firstErr = err
			}
		}
	}
	pr.pending = pr.pending[:0]
}

// Helpers shared by the client subcommands (produce, consume, topic).

// brokersFlag defines --brokers.
func brokersFlag(fs *flag.FlagSet) *string {
	return fs.String("brokers", client.DefaultBroker, "comma-separated addresses of nodes to bootstrap from (any node of the cluster)")
}

// splitBrokers turns a --brokers value into addresses.
func splitBrokers(value string) []string { return splitList(value) }

// usageErrors prints each message after the subcommand's name, then the usage; ok is false
// (and code exitUsage) when there was any.
func usageErrors(fs *flag.FlagSet, msgs []string) (code int, ok bool) {
	if len(msgs) == 0 {
		return exitOK, true
	}
	for _, m := range msgs {
		fmt.Fprintf(fs.Output(), "shoal %s: %s\n", fs.Name(), m)
	}
	fs.Usage()
	return exitUsage, false
}

// withClient connects to brokers, runs do, closes the client, and turns the outcome into an
// exit code and, on failure, one message on stderr. name is the subcommand's name.
func withClient(ctx context.Context, name, brokers string, stderr io.Writer, do func(*client.Client) error) int {
	addrs := splitBrokers(brokers)
	if len(addrs) == 0 {
		fmt.Fprintf(stderr, "shoal %s: --brokers is empty: give an address such as %s\n", name, client.DefaultBroker)
		return exitUsage
	}
	c, err := client.New(ctx, client.Config{
		Brokers:  addrs,
		ClientID: "shoal-" + name,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err == nil {
		err = do(c)
		c.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "shoal %s: %s\n", name, describeError(err, addrs))
		return exitFail
	}
	return exitOK
}

// describeError says what went wrong in the words an operator needs: a node that is not
// running gets the advice to start one, rather than a chain of wrapped dial errors.
func describeError(err error, addrs []string) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("cannot reach %s: is a node running? start one with make run", strings.Join(addrs, ", "))
	}
	return err.Error()
}
