package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
)

// Usage lines of the subcommands of `shoal topic`.
const (
	usageTopicCreate   = "topic create NAME [--partitions N] [--replication N] [--retention-ms N] [--retention-bytes N] [--brokers ADDR[,ADDR...]]"
	usageTopicList     = "topic list [--brokers ADDR[,ADDR...]]"
	usageTopicDescribe = "topic describe NAME [--json] [--brokers ADDR[,ADDR...]]"
	usageTopicDelete   = "topic delete NAME [--brokers ADDR[,ADDR...]]"
)

// topicCommands are the subcommands of `shoal topic`, in the order its usage lists them.
var topicCommands = []subcommand{
	{"create", "create a topic", topicCreate},
	{"list", "list the topics", topicList},
	{"describe", "show a topic's settings and partitions", topicDescribe},
	{"delete", "delete a topic and its data", topicDelete},
}

// runTopic is `shoal topic`: it dispatches to create, list, describe or delete.
func runTopic(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return topicMain(ctx, args, stdout, stderr)
}

func topicMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runSubcommand(ctx, "topic", topicCommands, args, stdout, stderr)
}

// parseNamed parses flags and one topic name, which may come before, between or after the
// flags (`topic create orders --partitions 3` and `topic create --partitions 3 orders`).
func parseNamed(fs *flag.FlagSet, args []string) (name string, code int, ok bool) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	} else {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return "", exitOK, false
		}
		if err != nil {
			return "", exitUsage, false
		}
		if fs.NArg() > 0 {
			name, args = fs.Arg(0), fs.Args()[1:]
		} else {
			args = nil
		}
	}
	if code, ok := parseFlags(fs, args); !ok {
		return "", code, false
	}
	if name == "" {
		return "", usageErrorsCode(fs, "missing topic NAME"), false
	}
	return name, exitOK, true
}

// usageErrorsCode is usageErrors for one message.
func usageErrorsCode(fs *flag.FlagSet, msg string) int {
	code, _ := usageErrors(fs, []string{msg})
	return code
}

func topicCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("topic create", usageTopicCreate, stderr)
	brokers := brokersFlag(fs)
	partitions := fs.Int("partitions", 0, "number of partitions (default: the node's --default-partitions)")
	replication := fs.Int("replication", 0, "copies of each partition (default: the node's; 1 on a single node)")
	retentionMs := fs.Int64("retention-ms", 0, "delete records older than this many milliseconds (default: the node's)")
	retentionBytes := fs.Int64("retention-bytes", 0, "keep at most this many bytes per partition (default: the node's)")
	name, code, ok := parseNamed(fs, args)
	if !ok {
		return code
	}
	var usageErrs []string
	if *partitions < 0 || *partitions > math.MaxInt32 {
		usageErrs = append(usageErrs, fmt.Sprintf("--partitions %d: give a number from 1 to %d", *partitions, math.MaxInt32))
	}
	if *replication < 0 || *replication > math.MaxInt16 {
		usageErrs = append(usageErrs, fmt.Sprintf("--replication %d: give a number from 1 to %d", *replication, math.MaxInt16))
	}
	if *retentionMs < 0 {
		usageErrs = append(usageErrs, fmt.Sprintf("--retention-ms %d: give a positive number of milliseconds", *retentionMs))
	}
	if *retentionBytes < 0 {
		usageErrs = append(usageErrs, fmt.Sprintf("--retention-bytes %d: give a positive number of bytes", *retentionBytes))
	}
	if code, ok := usageErrors(fs, usageErrs); !ok {
		return code
	}
	cfg := protocol.TopicConfig{
		Partitions: int32(*partitions), Replication: int16(*replication),
		RetentionMs: *retentionMs, RetentionBytes: *retentionBytes,
	}
	return withClient(ctx, "topic create", *brokers, stderr, func(c *client.Client) error {
		if err := c.CreateTopic(ctx, name, cfg); err != nil {
			return err
		}
		t, err := c.DescribeTopic(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created topic %s: %d partitions, replication %d\n", name, len(t.Partitions), t.Config.Replication)
		return nil
	})
}

func topicList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("topic list", usageTopicList, stderr)
	brokers := brokersFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	return withClient(ctx, "topic list", *brokers, stderr, func(c *client.Client) error {
		topics, err := c.ListTopics(ctx)
		for _, t := range topics {
			fmt.Fprintln(stdout, t)
		}
		return err
	})
}

func topicDelete(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("topic delete", usageTopicDelete, stderr)
	brokers := brokersFlag(fs)
	name, code, ok := parseNamed(fs, args)
	if !ok {
		return code
	}
	return withClient(ctx, "topic delete", *brokers, stderr, func(c *client.Client) error {
		if err := c.DeleteTopic(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted topic %s\n", name)
		return nil
	})
}

// topicJSON is `topic describe --json`.
type topicJSON struct {
	Topic      string          `json:"topic"`
	Partitions []partitionJSON `json:"partitions"`
}

type partitionJSON struct {
	Partition int32    `json:"partition"`
	Leader    string   `json:"leader"`
	Replicas  []string `json:"replicas"`
	InSync    []string `json:"in_sync"` // replicas caught up with the leader
	Epoch     uint64   `json:"epoch"`
	LogStart  uint64   `json:"log_start"`
	LogEnd    uint64   `json:"log_end"`
}

func topicDescribe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("topic describe", usageTopicDescribe, stderr)
	brokers := brokersFlag(fs)
	asJSON := fs.Bool("json", false, `print {"topic":…, "partitions":[{"partition", "leader", "replicas", "in_sync", "epoch", "log_start", "log_end"}]}`)
	name, code, ok := parseNamed(fs, args)
	if !ok {
		return code
	}
	return withClient(ctx, "topic describe", *brokers, stderr, func(c *client.Client) error {
		t, err := c.DescribeTopic(ctx, name)
		if err != nil {
			return err
		}
		if *asJSON {
			return printTopicJSON(stdout, t)
		}
		return printTopicTable(stdout, t)
	})
}

func printTopicJSON(w io.Writer, t protocol.TopicMetadata) error {
	out := topicJSON{Topic: t.Name, Partitions: make([]partitionJSON, len(t.Partitions))}
	for i, p := range t.Partitions {
		out.Partitions[i] = partitionJSON{Partition: p.Partition, Leader: p.Leader, Replicas: nonNil(p.Replicas),
			InSync: nonNil(p.InSync), Epoch: p.Epoch, LogStart: p.LogStart, LogEnd: p.LogEnd}
	}
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

// nonNil returns list, or an empty list for nil: JSON shows [] rather than null.
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func printTopicTable(w io.Writer, t protocol.TopicMetadata) error {
	retention := "none"
	if t.Config.RetentionMs > 0 {
		retention = fmt.Sprintf("%d ms", t.Config.RetentionMs)
	}
	if t.Config.RetentionBytes > 0 {
		retention = strings.TrimPrefix(retention+fmt.Sprintf(", %d bytes", t.Config.RetentionBytes), "none, ")
	}
	fmt.Fprintf(w, "topic %s: %d partitions, replication %d, retention %s\n",
		t.Name, len(t.Partitions), t.Config.Replication, retention)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tIN-SYNC\tEPOCH\tLOG-START\tLOG-END")
	for _, p := range t.Partitions {
		leader := p.Leader
		if leader == "" {
			leader = "(none)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\n", p.Partition, leader, orNone(strings.Join(p.Replicas, ",")),
			orNone(strings.Join(p.InSync, ",")), p.Epoch, p.LogStart, p.LogEnd)
	}
	return tw.Flush()
}
