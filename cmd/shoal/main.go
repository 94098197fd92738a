// Command shoal is the single Shoal binary. Each subcommand owns a flag.FlagSet and lives in its
// own file (demo.go, later serve.go, produce.go, ...); this file only dispatches to them, so it
// holds no product logic.
//
// Exit codes: 0 success, 1 the subcommand failed, 2 usage error (unknown subcommand or bad flag).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// command is one subcommand: its name, a one-line summary for `shoal help`, and its entry point.
// run parses its own flags (see newFlagSet and parseFlags) and returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is the subcommand table, in the order `shoal help` lists it.
var commands = []command{
	{name: "serve", summary: "run a node: the broker for clients, HTTP metrics and status", run: runServe},
	{name: "demo", summary: "write records to a local partition log and read them back", run: runDemo},
	{name: "produce", summary: "write one record per line of stdin to a topic", run: runProduce},
	{name: "consume", summary: "print a topic's records (kcat-style --format, or --json)", run: runConsume},
	{name: "topic", summary: "create, list, describe or delete topics", run: runTopic},
	{name: "group", summary: "create, list, describe or delete consumer groups", run: runGroup},
	{name: "cluster", summary: "show the cluster's members and the health of its partitions", run: runCluster},
	{name: "bench", summary: "measure produce or consume throughput and latency against a node", run: runBench},
	{name: "sim", summary: "run the seeded chaos simulator over the replication core (safety and liveness checks)", run: runSim},
}

func main() {
	os.Exit(dispatch(commands, os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0] with the remaining arguments and returns the exit
// code. It writes usage to stdout when help was asked for and to stderr on a usage error.
func dispatch(table []command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "shoal: missing subcommand")
		printUsage(stderr, table)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			printUsage(stdout, table)
			return exitOK
		}
		// `shoal help demo` is `shoal demo -h`.
		name, rest = rest[0], []string{"-h"}
	}
	for _, c := range table {
		if c.name == name {
			return c.run(rest, stdout, stderr)
		}
	}
	if len(name) > 0 && name[0] == '-' {
		fmt.Fprintf(stderr, "shoal: flag %s given before a subcommand; flags follow the subcommand\n", name)
	} else {
		fmt.Fprintf(stderr, "shoal: unknown subcommand %q\n", name)
	}
	printUsage(stderr, table)
	return exitUsage
}

func printUsage(w io.Writer, table []command) {
	fmt.Fprintln(w, "usage: shoal <subcommand> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	for _, c := range table {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help       list subcommands; `shoal help <subcommand>` shows its flags")
}

// newFlagSet returns the FlagSet for one subcommand: it reports errors instead of exiting, and
// writes its messages and usage to stderr. usageLine is shown after "usage: shoal ".
func newFlagSet(name, usageLine string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal %s\n\nflags:\n", usageLine)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. ok is false when the subcommand must stop at once and return
// code: exitOK after -h (usage was printed), exitUsage after a bad flag or a stray argument (the
// flag package has already printed the error and the usage).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, false
	}
	if err != nil {
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "shoal %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}

// subcommand is one subcommand of a command with subcommands (`shoal topic create`).
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// runSubcommand dispatches `shoal <parent> <sub> ...` to the subcommand named by args[0].
func runSubcommand(ctx context.Context, parent string, table []subcommand, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "shoal %s: missing subcommand\n", parent)
		printSubcommands(stderr, parent, table)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printSubcommands(stdout, parent, table)
		return exitOK
	}
	for _, c := range table {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "shoal %s: unknown subcommand %q\n", parent, args[0])
	printSubcommands(stderr, parent, table)
	return exitUsage
}

func printSubcommands(w io.Writer, parent string, table []subcommand) {
	fmt.Fprintf(w, "usage: shoal %s <subcommand> [flags]\n", parent)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	for _, c := range table {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "`shoal %s <subcommand> -h` shows its flags\n", parent)
}
