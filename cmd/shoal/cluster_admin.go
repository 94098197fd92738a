package main

// `shoal cluster drain|undrain|remove|rebalance`: an operator's decisions, written to the
// cluster's catalog through any node, and their progress.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/transport"
)

const (
	usageClusterDrain     = "cluster drain NODE [--wait] [--brokers ADDR[,ADDR...]] [--timeout D]"
	usageClusterUndrain   = "cluster undrain NODE [--brokers ADDR[,ADDR...]]"
	usageClusterRemove    = "cluster remove NODE [--force] [--brokers ADDR[,ADDR...]]"
	usageClusterRebalance = "cluster rebalance [--pause | --resume | --watch] [--brokers ADDR[,ADDR...]]"
	// statusPoll is how often --wait and --watch ask for the cluster's status.
	statusPoll = 250 * time.Millisecond
)

// adminCall sends a cluster-admin request to the first node of addrs that answers.
func adminCall(ctx context.Context, addrs []string, req protocol.ClusterAdminRequest, timeout time.Duration) error {
	var failures []string
	for _, addr := range addrs {
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			conn, err := transport.Dial(ctx, addr, transport.DialOptions{ClientID: "shoal-cluster-admin", Timeout: timeout,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					return errors.New("connection refused")
				}
				return err
			}
			defer conn.Close()
			return conn.Call(ctx, protocol.TypeClusterAdmin, req, nil)
		}()
		if err == nil {
			return nil
		}
		if code := protocol.CodeOf(err); code != protocol.CodeUnknown && !code.Retriable() {
			return err // the cluster's answer (a refusal): another node would say the same
		}
		failures = append(failures, fmt.Sprintf("%s: %v", addr, err))
	}
	return fmt.Errorf("no node answered: %s", strings.Join(failures, "; "))
}

// adminFlags parses the flags every admin subcommand shares and its NODE argument.
type adminFlags struct {
	addrs   []string
	timeout time.Duration
	node    string
}

func parseAdmin(name, usage string, needNode bool, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (adminFlags, int, bool) {
	fs := newFlagSet(name, usage, stderr)
	brokers := brokersFlag(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for each node to answer")
	if extra != nil {
		extra(fs)
	}
	var node string
	if needNode && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		node, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args); !ok {
		return adminFlags{}, code, false
	}
	var errs []string
	if needNode && node == "" {
		errs = append(errs, "missing NODE: give the id of a member (see shoal cluster status)")
	}
	addrs := splitBrokers(*brokers)
	if len(addrs) == 0 {
		errs = append(errs, "--brokers is empty: give the address of any node, e.g. "+client.DefaultBroker)
	}
	if *timeout <= 0 {
		errs = append(errs, fmt.Sprintf("--timeout %v: must be positive", *timeout))
	}
	if code, ok := usageErrors(fs, errs); !ok {
		return adminFlags{}, code, false
	}
	return adminFlags{addrs: addrs, timeout: *timeout, node: node}, exitOK, true
}

func clusterDrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var wait *bool
	f, code, ok := parseAdmin("cluster drain", usageClusterDrain, true, args, stderr, func(fs *flag.FlagSet) {
		wait = fs.Bool("wait", false, "wait until the node holds no replica and no leadership, showing progress")
	})
	if !ok {
		return code
	}
	if err := adminCall(ctx, f.addrs, protocol.ClusterAdminRequest{Op: protocol.AdminDrain, Node: f.node}, f.timeout); err != nil {
		fmt.Fprintf(stderr, "shoal cluster drain: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "draining %s: its replicas and leaderships move to the other nodes\n", f.node)
	if !*wait {
		fmt.Fprintf(stdout, "follow it with: shoal cluster drain %s --wait (or shoal cluster status)\n", f.node)
		return exitOK
	}
	return waitDrained(ctx, f, stdout, stderr)
}

// waitDrained polls the status until the node holds nothing, printing its counts as they fall.
func waitDrained(ctx context.Context, f adminFlags, stdout, stderr io.Writer) int {
	last := ""
	for {
		status, err := fetchClusterStatus(ctx, f.addrs, f.timeout)
		if err != nil {
			fmt.Fprintf(stderr, "shoal cluster drain: %v\n", err)
			return exitFail
		}
		var m protocol.MemberStatus
		for _, x := range status.Members {
			if x.ID == f.node {
				m = x
			}
		}
		line := fmt.Sprintf("%s: %d replicas, %d leaderships left; moves %d in progress, %d queued",
			f.node, m.Replicas, m.Leaders, status.Moves.InProgress, status.Moves.Queued)
		if line != last {
			fmt.Fprintln(stdout, line)
			last = line
		}
		if m.Replicas == 0 && m.Leaders == 0 && status.Moves.InProgress == 0 {
			fmt.Fprintf(stdout, "%s is drained: it is safe to stop it (SIGTERM), then forget it with shoal cluster remove %s\n", f.node, f.node)
			return exitOK
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "shoal cluster drain: stopped waiting; the drain goes on (shoal cluster status shows it)\n")
			return exitFail
		case <-time.After(statusPoll):
		}
	}
}

func clusterUndrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseAdmin("cluster undrain", usageClusterUndrain, true, args, stderr, nil)
	if !ok {
		return code
	}
	if err := adminCall(ctx, f.addrs, protocol.ClusterAdminRequest{Op: protocol.AdminUndrain, Node: f.node}, f.timeout); err != nil {
		fmt.Fprintf(stderr, "shoal cluster undrain: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s takes replicas again\n", f.node)
	return exitOK
}

func clusterRemove(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var force *bool
	f, code, ok := parseAdmin("cluster remove", usageClusterRemove, true, args, stderr, func(fs *flag.FlagSet) {
		force = fs.Bool("force", false, "remove the node even though it is alive")
	})
	if !ok {
		return code
	}
	req := protocol.ClusterAdminRequest{Op: protocol.AdminRemove, Node: f.node, Force: *force}
	if err := adminCall(ctx, f.addrs, req, f.timeout); err != nil {
		fmt.Fprintf(stderr, "shoal cluster remove: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "removed %s: what it held is re-replicated on the other nodes\n", f.node)
	return exitOK
}

func clusterRebalance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var pause, resume, watch *bool
	f, code, ok := parseAdmin("cluster rebalance", usageClusterRebalance, false, args, stderr, func(fs *flag.FlagSet) {
		pause = fs.Bool("pause", false, "stop starting replica moves (replacing dead replicas goes on)")
		resume = fs.Bool("resume", false, "start replica moves again")
		watch = fs.Bool("watch", false, "show the moves' progress until none is left")
	})
	if !ok {
		return code
	}
	switch {
	case *pause && *resume:
		fmt.Fprintln(stderr, "shoal cluster rebalance: --pause and --resume together: give one")
		return exitUsage
	case *pause || *resume:
		op := protocol.AdminPause
		if *resume {
			op = protocol.AdminResume
		}
		if err := adminCall(ctx, f.addrs, protocol.ClusterAdminRequest{Op: op}, f.timeout); err != nil {
			fmt.Fprintf(stderr, "shoal cluster rebalance: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "rebalancing %sd\n", op)
		if !*watch {
			return exitOK
		}
	}
	return watchMoves(ctx, f, stdout, stderr)
}

// watchMoves shows the moves as a progress bar (moves done out of the most seen at once), with a
// rate and an estimate, until none is in progress or queued.
func watchMoves(ctx context.Context, f adminFlags, stdout, stderr io.Writer) int {
	start, most := time.Now(), 0
	for {
		status, err := fetchClusterStatus(ctx, f.addrs, f.timeout)
		if err != nil {
			fmt.Fprintf(stderr, "shoal cluster rebalance: %v\n", err)
			return exitFail
		}
		left := status.Moves.InProgress + status.Moves.Queued
		most = max(most, left)
		done := most - left
		fmt.Fprintf(stdout, "\r%s", moveProgress(done, most, left, time.Since(start), status.Moves.Paused))
		if left == 0 {
			fmt.Fprintln(stdout, "\nno moves left: every partition is where placement wants it")
			return exitOK
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout)
			return exitOK
		case <-time.After(statusPoll):
		}
	}
}

// moveProgress renders one progress line: a bar, counts, rate and ETA.
func moveProgress(done, total, left int, elapsed time.Duration, paused bool) string {
	const width = 30
	filled := width
	if total > 0 {
		filled = width * done / total
	}
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	line := fmt.Sprintf("[%s] %d/%d moves done, %d left", bar, done, total, left)
	if done > 0 && elapsed > 0 {
		rate := float64(done) / elapsed.Seconds()
		line += fmt.Sprintf(", %.1f/s, ETA %v", rate, (time.Duration(float64(left) / rate * float64(time.Second))).Round(time.Second))
	}
	if paused {
		line += " (paused: shoal cluster rebalance --resume)"
	}
	return line
}
