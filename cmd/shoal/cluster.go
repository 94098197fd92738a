package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/transport"
)

// Usage lines of the subcommands of `shoal cluster`.
const usageClusterStatus = "cluster status [--brokers ADDR[,ADDR...]] [--json] [--timeout D]"

// clusterCommands are the subcommands of `shoal cluster`, in the order its usage lists them.
var clusterCommands = []subcommand{
	{"status", "members, their replicas and leaders, and the partitions that need attention", clusterStatus},
	{"drain", "move every replica and leadership off a node, then say it is safe to stop", clusterDrain},
	{"undrain", "cancel a drain: the node takes replicas again", clusterUndrain},
	{"remove", "forget a node that is gone for good and re-replicate what it held", clusterRemove},
	{"rebalance", "pause, resume or watch the replica moves", clusterRebalance},
}

// runCluster is `shoal cluster`: it dispatches to its subcommands.
func runCluster(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return clusterMain(ctx, args, stdout, stderr)
}

func clusterMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runSubcommand(ctx, "cluster", clusterCommands, args, stdout, stderr)
}

// clusterStatus is `shoal cluster status`: it asks the first node of --brokers that answers.
func clusterStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cluster status", usageClusterStatus, stderr)
	brokers := brokersFlag(fs)
	asJSON := fs.Bool("json", false, `print the status as one JSON object: {"members":[…], "partitions":{…}, "moves":{…}}`)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for each node")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	addrs := splitBrokers(*brokers)
	var usageErrs []string
	if len(addrs) == 0 {
		usageErrs = append(usageErrs, "--brokers is empty: give the address of any node, e.g. "+client.DefaultBroker)
	}
	if *timeout <= 0 {
		usageErrs = append(usageErrs, fmt.Sprintf("--timeout %v: must be positive", *timeout))
	}
	if code, ok := usageErrors(fs, usageErrs); !ok {
		return code
	}
	status, err := fetchClusterStatus(ctx, addrs, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "shoal cluster status: %v\n", err)
		return exitFail
	}
	if *asJSON {
		err = printClusterStatusJSON(stdout, status)
	} else {
		err = printClusterStatusText(stdout, status)
	}
	if err != nil {
		fmt.Fprintf(stderr, "shoal cluster status: %v\n", err)
		return exitFail
	}
	return exitOK
}

// fetchClusterStatus asks each address in turn and returns the first answer. Any node of the
// cluster answers for the whole cluster (from its own view), so a dead or starting node is
// skipped; the error names every address that did not answer, and why.
func fetchClusterStatus(ctx context.Context, addrs []string, timeout time.Duration) (protocol.ClusterStatusResponse, error) {
	var failures []string
	for _, addr := range addrs {
		status, err := askClusterStatus(ctx, addr, timeout)
		if err == nil {
			return status, nil
		}
		if ctx.Err() != nil {
			return status, ctx.Err()
		}
		failures = append(failures, fmt.Sprintf("%s: %v", addr, err))
	}
	if len(addrs) == 1 {
		return protocol.ClusterStatusResponse{}, fmt.Errorf("%s (is a node running there?)", failures[0])
	}
	return protocol.ClusterStatusResponse{}, fmt.Errorf("no node answered: %s", strings.Join(failures, "; "))
}

func askClusterStatus(ctx context.Context, addr string, timeout time.Duration) (protocol.ClusterStatusResponse, error) {
	var status protocol.ClusterStatusResponse
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := transport.Dial(ctx, addr, transport.DialOptions{
		ClientID: "shoal-cluster-status", Timeout: timeout, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return status, errors.New("connection refused")
		}
		return status, err
	}
	defer conn.Close()
	err = conn.Call(ctx, protocol.TypeClusterStatus, protocol.Empty{}, &status)
	return status, err
}

// printClusterStatusJSON prints the response as its JSON contract, on one line: empty lists are
// [] rather than null.
func printClusterStatusJSON(w io.Writer, status protocol.ClusterStatusResponse) error {
	if status.Members == nil {
		status.Members = []protocol.MemberStatus{}
	}
	line, err := json.Marshal(status)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

// printClusterStatusText prints the members table, one line per problem, and a summary.
func printClusterStatusText(w io.Writer, status protocol.ClusterStatusResponse) error {
	if status.ClusterID != "" {
		fmt.Fprintf(w, "cluster %s: %d members\n", status.ClusterID, len(status.Members))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tBROKER\tREPLICAS\tLEADERS")
	for _, m := range status.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", m.ID, m.State, orNone(m.BrokerAddr), m.Replicas, m.Leaders)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, problem := range status.Problems {
		fmt.Fprintf(w, "problem: %s\n", problem)
	}
	p, moves := status.Partitions, status.Moves
	_, err := fmt.Fprintf(w, "partitions: %d total, %d leaderless, %d under-replicated; moves: %d in progress, %d queued\n",
		p.Total, p.Leaderless, p.UnderReplicated, moves.InProgress, moves.Queued)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
