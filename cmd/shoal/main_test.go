// Tests of the subcommand dispatcher: each case runs dispatch on a table with one fake
// subcommand (or the real table, for help) and checks the exit code and where the text went.
package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// fakeCommands is a table with one subcommand, "echo", that parses an -n flag the way real
// subcommands do and prints its value.
func fakeCommands() []command {
	echo := func(args []string, stdout, stderr io.Writer) int {
		fs := newFlagSet("echo", "echo [-n N]", stderr)
		n := fs.Int("n", 1, "a number")
		if code, ok := parseFlags(fs, args); !ok {
			return code
		}
		fmt.Fprintf(stdout, "n=%d\n", *n)
		return exitOK
	}
	return []command{{name: "echo", summary: "print -n", run: echo}}
}

func TestDispatch(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring; "" means stdout must be empty
		wantStderr string // substring; "" means stderr must be empty
	}{
		{"no subcommand", nil, exitUsage, "", "missing subcommand"},
		{"help", []string{"help"}, exitOK, "echo", ""},
		{"-h", []string{"-h"}, exitOK, "usage: shoal", ""},
		{"--help", []string{"--help"}, exitOK, "echo", ""},
		{"unknown subcommand", []string{"serve"}, exitUsage, "", `unknown subcommand "serve"`},
		{"flag before subcommand", []string{"-v"}, exitUsage, "", "flag -v given before a subcommand"},
		{"subcommand runs", []string{"echo", "-n", "7"}, exitOK, "n=7", ""},
		{"subcommand default", []string{"echo"}, exitOK, "n=1", ""},
		{"subcommand -h", []string{"echo", "-h"}, exitOK, "", "usage: shoal echo"},
		{"help subcommand", []string{"help", "echo"}, exitOK, "", "usage: shoal echo"},
		{"help unknown", []string{"help", "nope"}, exitUsage, "", `unknown subcommand "nope"`},
		{"bad flag", []string{"echo", "-x"}, exitUsage, "", "flag provided but not defined: -x"},
		{"bad flag value", []string{"echo", "-n", "many"}, exitUsage, "", "invalid value"},
		{"stray argument", []string{"echo", "extra"}, exitUsage, "", `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(fakeCommands(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr: %q)", code, tc.wantCode, stderr.String())
			}
			checkOutput(t, "stdout", stdout.String(), tc.wantStdout)
			checkOutput(t, "stderr", stderr.String(), tc.wantStderr)
		})
	}
}

func checkOutput(t *testing.T, stream, got, want string) {
	t.Helper()
	if want == "" && got != "" {
		t.Errorf("%s: got %q, want nothing", stream, got)
	}
	if !strings.Contains(got, want) {
		t.Errorf("%s: got %q, want it to contain %q", stream, got, want)
	}
}

// TestHelpListsEverySubcommand runs `shoal help` on the real table.
func TestHelpListsEverySubcommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch(commands, []string{"help"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("shoal help: exit code %d, want %d", code, exitOK)
	}
	for _, c := range commands {
		if !strings.Contains(stdout.String(), "  "+c.name+" ") {
			t.Errorf("shoal help does not list %q:\n%s", c.name, stdout.String())
		}
	}
	var unknownOut, unknownErr bytes.Buffer
	if code := dispatch(commands, []string{"no-such-subcommand"}, &unknownOut, &unknownErr); code != exitUsage {
		t.Errorf("shoal no-such-subcommand: exit code %d, want %d", code, exitUsage)
	}
}
