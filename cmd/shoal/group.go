package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/shoalmq/shoal/client"
)

// Usage lines of the subcommands of `shoal group`.
const (
	usageGroupCreate   = "group create TOPIC GROUP [--from $|0|ID] [--max-deliveries N] [--brokers ADDR[,ADDR...]]"
	usageGroupList     = "group list TOPIC [--json] [--brokers ADDR[,ADDR...]]"
	usageGroupDescribe = "group describe TOPIC GROUP [--json] [--brokers ADDR[,ADDR...]]"
	usageGroupDelete   = "group delete TOPIC GROUP [--brokers ADDR[,ADDR...]]"
)

var groupCommands = []subcommand{
	{"create", "create a consumer group on every partition of a topic", groupCreate},
	{"list", "list a topic's consumer groups with pending and lag", groupList},
	{"describe", "show a group's partitions and consumers", groupDescribe},
	{"delete", "delete a consumer group", groupDelete},
}

// runGroup is `shoal group`.
func runGroup(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return groupMain(ctx, args, stdout, stderr)
}

func groupMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runSubcommand(ctx, "group", groupCommands, args, stdout, stderr)
}

// parsePositional parses flags with n positional words anywhere among them.
func parsePositional(fs *flag.FlagSet, args []string, names ...string) ([]string, int, bool) {
	var words, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-") || a == "-":
			words = append(words, a)
		default:
			flags = append(flags, a)
			if f := fs.Lookup(strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")); f != nil && !strings.Contains(a, "=") {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
					if i+1 < len(args) {
						flags = append(flags, args[i+1])
						i++
					}
				}
			}
		}
	}
	if code, ok := parseFlags(fs, flags); !ok {
		return nil, code, false
	}
	if len(words) != len(names) {
		return nil, usageErrorsCode(fs, fmt.Sprintf("give %s (got %d word(s): %q)", strings.Join(names, " and "), len(words), words)), false
	}
	return words, exitOK, true
}

func groupCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("group create", usageGroupCreate, stderr)
	brokers := brokersFlag(fs)
	from := fs.String("from", "$", "where the group starts: $ (new records only), 0 (everything retained) or an id MS-SEQ")
	maxDeliveries := fs.Int64("max-deliveries", 0, "move a record delivered this many times without an ack to TOPIC.dlq (0: never)")
	words, code, ok := parsePositional(fs, args, "TOPIC", "GROUP")
	if !ok {
		return code
	}
	if *maxDeliveries < 0 {
		return usageErrorsCode(fs, fmt.Sprintf("--max-deliveries %d: give 0 (off) or a positive count", *maxDeliveries))
	}
	return withClient(ctx, "group create", *brokers, stderr, func(c *client.Client) error {
		if err := c.CreateGroup(ctx, words[0], words[1], client.GroupOptions{From: *from, MaxDeliveries: *maxDeliveries}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created group %s on topic %s (from %s)\n", words[1], words[0], *from)
		return nil
	})
}

func groupDelete(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("group delete", usageGroupDelete, stderr)
	brokers := brokersFlag(fs)
	words, code, ok := parsePositional(fs, args, "TOPIC", "GROUP")
	if !ok {
		return code
	}
	return withClient(ctx, "group delete", *brokers, stderr, func(c *client.Client) error {
		found, err := c.DeleteGroup(ctx, words[0], words[1])
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("topic %s has no group %s: `shoal group list %s` shows its groups", words[0], words[1], words[0])
		}
		fmt.Fprintf(stdout, "deleted group %s of topic %s\n", words[1], words[0])
		return nil
	})
}

// groupJSON is one group in `group list --json` and `group describe --json`.
type groupJSON struct {
	Name       string               `json:"name"`
	Consumers  int64                `json:"consumers"`
	Pending    int64                `json:"pending"`
	Lag        *int64               `json:"lag"`
	Partitions []groupPartitionJSON `json:"partitions,omitempty"`
}

type groupPartitionJSON struct {
	Partition       int32          `json:"partition"`
	LastDeliveredID string         `json:"last_delivered_id"`
	Pending         int64          `json:"pending"`
	Lag             *int64         `json:"lag"`
	Consumers       []consumerJSON `json:"consumers"`
}

type consumerJSON struct {
	Name    string `json:"name"`
	Pending int64  `json:"pending"`
	IdleMs  int64  `json:"idle_ms"`
}

func toGroupJSON(g client.GroupInfo, detail bool) groupJSON {
	out := groupJSON{Name: g.Name, Consumers: g.Consumers, Pending: g.Pending}
	if g.LagKnown {
		out.Lag = &g.Lag
	}
	if detail {
		for _, p := range g.Partitions {
			pj := groupPartitionJSON{Partition: p.Partition, LastDeliveredID: p.LastDeliveredID.String(), Pending: p.Pending, Consumers: []consumerJSON{}}
			if p.LagKnown {
				lag := p.Lag
				pj.Lag = &lag
			}
			for _, c := range p.Consumers {
				pj.Consumers = append(pj.Consumers, consumerJSON{Name: c.Name, Pending: c.Pending, IdleMs: c.Idle.Milliseconds()})
			}
			out.Partitions = append(out.Partitions, pj)
		}
	}
	return out
}

func lagText(known bool, lag int64) string {
	if !known {
		return "unknown"
	}
	return fmt.Sprint(lag)
}

func groupList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("group list", usageGroupList, stderr)
	brokers := brokersFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	words, code, ok := parsePositional(fs, args, "TOPIC")
	if !ok {
		return code
	}
	return withClient(ctx, "group list", *brokers, stderr, func(c *client.Client) error {
		groups, err := c.Groups(ctx, words[0])
		if err != nil {
			return err
		}
		if *asJSON {
			out := []groupJSON{}
			for _, g := range groups {
				out = append(out, toGroupJSON(g, false))
			}
			return json.NewEncoder(stdout).Encode(out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tCONSUMERS\tPENDING\tLAG")
		for _, g := range groups {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", g.Name, g.Consumers, g.Pending, lagText(g.LagKnown, g.Lag))
		}
		return tw.Flush()
	})
}

func groupDescribe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("group describe", usageGroupDescribe, stderr)
	brokers := brokersFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	words, code, ok := parsePositional(fs, args, "TOPIC", "GROUP")
	if !ok {
		return code
	}
	return withClient(ctx, "group describe", *brokers, stderr, func(c *client.Client) error {
		groups, err := c.Groups(ctx, words[0])
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g.Name != words[1] {
				continue
			}
			if *asJSON {
				return json.NewEncoder(stdout).Encode(toGroupJSON(g, true))
			}
			fmt.Fprintf(stdout, "group %s of topic %s: %d consumers, %d pending, lag %s\n", g.Name, words[0], g.Consumers, g.Pending, lagText(g.LagKnown, g.Lag))
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PARTITION\tLAST DELIVERED\tPENDING\tLAG\tCONSUMERS")
			for _, p := range g.Partitions {
				var cs []string
				for _, c := range p.Consumers {
					cs = append(cs, fmt.Sprintf("%s (pending %d, idle %s)", c.Name, c.Pending, c.Idle.Round(1e6)))
				}
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", p.Partition, p.LastDeliveredID, p.Pending, lagText(p.LagKnown, p.Lag), strings.Join(cs, ", "))
			}
			return tw.Flush()
		}
		return fmt.Errorf("topic %s has no group %s: `shoal group list %s` shows its groups", words[0], words[1], words[0])
	})
}
