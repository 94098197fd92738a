package main

// `shoal cluster drain|undrain|remove|rebalance`: an operator's decisions, written to the
// cluster's catalog through any node, and their progress.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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

// watchMoves shows the moves as a progress bar (moves done out of the most seen at once) with
// the bytes the moves under way still have to send, the rate they go at and an estimate, until
// none is in progress or queued. The bytes come from each member's HTTP /moves (a member whose
// HTTP address is unknown or silent is left out of the sums).
func watchMoves(ctx context.Context, f adminFlags, stdout, stderr io.Writer) int {
	most := 0
	var rate moveRate
	for {
		status, err := fetchClusterStatus(ctx, f.addrs, f.timeout)
		if err != nil {
			fmt.Fprintf(stderr, "shoal cluster rebalance: %v\n", err)
			return exitFail
		}
		left := status.Moves.InProgress + status.Moves.Queued
		most = max(most, left)
		bytes := fetchMoveBytes(ctx, status.Members, f.timeout)
		rate.observe(bytes.SentBytes, time.Now())
		fmt.Fprintf(stdout, "\r%s", moveProgress(most-left, most, left, bytes, rate.bytesPerSecond(), status.Moves.Paused))
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

// fetchMoveBytes sums the move figures of the alive members that answer on HTTP.
func fetchMoveBytes(ctx context.Context, members []protocol.MemberStatus, timeout time.Duration) moveReport {
	var sum moveReport
	for _, m := range members {
		if m.State != "alive" || m.HTTPAddr == "" {
			continue
		}
		r, err := fetchMoveReport(ctx, m.HTTPAddr, timeout)
		if err != nil {
			continue
		}
		sum.SentBytes += r.SentBytes
		sum.HeldBytes += r.HeldBytes
		sum.BytesLeft += r.BytesLeft
		if r.RateLimit == 0 || sum.RateLimit < 0 {
			sum.RateLimit = -1 // some node is unlimited
		} else {
			sum.RateLimit += r.RateLimit
		}
	}
	return sum
}

func fetchMoveReport(ctx context.Context, addr string, timeout time.Duration) (moveReport, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+movesPath, nil)
	if err != nil {
		return moveReport{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return moveReport{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return moveReport{}, fmt.Errorf("%s%s: %s", addr, movesPath, resp.Status)
	}
	var r moveReport
	return r, json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&r)
}

// moveRate is the rate of the bytes sent to catching-up replicas over the last few polls.
type moveRate struct {
	samples []rateSample // oldest first, at most rateWindow
}

type rateSample struct {
	sent uint64
	at   time.Time
}

// rateWindow: the rate is measured over this many polls (2 s at statusPoll).
const rateWindow = 8

func (r *moveRate) observe(sent uint64, at time.Time) {
	if n := len(r.samples); n > 0 && sent < r.samples[n-1].sent {
		r.samples = r.samples[:0] // a member restarted or left: start over
	}
	r.samples = append(r.samples, rateSample{sent, at})
	if len(r.samples) > rateWindow {
		r.samples = r.samples[1:]
	}
}

// bytesPerSecond returns the rate over the window (0 before two samples).
func (r *moveRate) bytesPerSecond() float64 {
	if len(r.samples) < 2 {
		return 0
	}
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	if secs := last.at.Sub(first.at).Seconds(); secs > 0 {
		return float64(last.sent-first.sent) / secs
	}
	return 0
}

// moveProgress renders one progress line: a bar, counts, the bytes left, the rate against
// --move-rate, and the ETA of the bytes left.
func moveProgress(done, total, left int, bytes moveReport, rate float64, paused bool) string {
	const width = 30
	filled := width
	if total > 0 {
		filled = width * done / total
	}
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	line := fmt.Sprintf("[%s] %d/%d moves done, %d left, %s left at %s/s", bar, done, total, left,
		humanBytes(float64(bytes.BytesLeft)), humanBytes(rate))
	switch {
	case bytes.RateLimit > 0:
		line += fmt.Sprintf(" (limit %s/s)", humanBytes(float64(bytes.RateLimit)))
	case bytes.RateLimit < 0:
		line += " (no limit)"
	}
	if rate > 0 && bytes.BytesLeft > 0 {
		line += fmt.Sprintf(", ETA %v", time.Duration(float64(bytes.BytesLeft)/rate*float64(time.Second)).Round(time.Second))
	}
	if paused {
		line += " (paused: shoal cluster rebalance --resume)"
	}
	return line
}

// humanBytes renders a byte count in KiB, MiB or GiB.
func humanBytes(n float64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	for i, suffix := range []string{"KiB", "MiB", "GiB"} {
		if n < unit*unit || i == 2 {
			return fmt.Sprintf("%.1f %s", n/unit, suffix)
		}
		n /= unit
	}
	return ""
}
