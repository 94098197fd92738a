package main

import (
	"fmt"
	"io"
)

// runDemo is the `shoal demo` subcommand.
//
// TODO(demo): temporary stub; the real demo (write records to a partition log, read them back)
// replaces this file.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [--data-dir DIR]", stderr)
	fs.String("data-dir", "data/demo", "directory of the demo's partition log")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stderr, "demo: not built yet")
	return exitFail
}
