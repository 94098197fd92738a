// Tests of `shoal sim`: flags, exit codes per failure kind, the text and JSON summaries, the
// canary list, the HTML page. Method: runSim in process with small runs (short phases, few
// seeds); the simulator itself is tested in simulation/.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func runSimArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runSim(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSimCommand(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		{"one seed", []string{"--seed", "3", "--duration", "200"}, exitOK,
			[]string{"seeds 3..3", "invariants", "acked-lost", "result: every seed passed"}, ""},
		{"a swarm", []string{"--seeds", "4", "--duration", "10s", "--workers", "2"}, exitOK,
			[]string{"seeds 0..3", "faults injected by class"}, "4/4 seeds"},
		{"a caught canary", []string{"--canary", "ack-before-replication", "--seeds", "3", "--duration", "300"}, exitSimSafety,
			[]string{"canary ack-before-replication: caught", "acked-lost", "reproduce: shoal sim --seed", "--duration 300 --canary ack-before-replication"}, ""},
		{"list canaries", []string{"--list-canaries"}, exitOK, []string{"commit-old-epoch", "SEEDS"}, ""},
		{"cluster tier", []string{"--tier", "cluster", "--seed", "3", "--nodes", "3", "--duration", "2s", "--faults", "crash,isolate", "--html", "PAGE"}, exitOK,
			[]string{"tier cluster, seeds 3..3", "seed 3: 3 nodes", "time to restore RF", "result: every seed passed"}, "timeline of seed 3 in"},
		{"cluster tier canary", []string{"--tier", "cluster", "--canary", "ack-before-fsync"}, exitUsage, nil, "no canaries"},
		{"cluster tier bad nodes", []string{"--tier", "cluster", "--nodes", "6"}, exitUsage, nil, "want 3..5"},
		{"cluster tier bad faults", []string{"--tier", "cluster", "--faults", "reorder"}, exitUsage, nil, "for the cluster tier"},
		{"bad tier", []string{"--tier", "moon"}, exitUsage, nil, "want protocol or cluster"},
		{"bad nodes", []string{"--nodes", "4"}, exitUsage, nil, "want 3 or 5"},
		{"bad canary", []string{"--canary", "nope"}, exitUsage, nil, "unknown \"nope\""},
		{"bad faults", []string{"--faults", "crash,flood"}, exitUsage, nil, "unknown fault class \"flood\""},
		{"bad duration", []string{"--duration", "soon"}, exitUsage, nil, "--duration"},
		{"bad seed", []string{"--seed", "x"}, exitUsage, nil, "want a number or random"},
		{"trace of several seeds", []string{"--seeds", "2", "--trace"}, exitUsage, nil, "--trace replays one seed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// An argument PAGE after --html is a file in a temporary directory, checked below.
			args, page := slices.Clone(c.args), ""
			if i := slices.Index(args, "--html"); i >= 0 {
				page = filepath.Join(t.TempDir(), "timeline.html")
				args[i+1] = page
			}
			code, stdout, stderr := runSimArgs(t, args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.wantCode, stdout, stderr)
			}
			for _, w := range c.wantStdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if !strings.Contains(stderr, c.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", c.wantStderr, stderr)
			}
			if page != "" {
				data, err := os.ReadFile(page)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(data, []byte("<svg")) {
					t.Errorf("the page lacks the timeline:\n%.500s", data)
				}
			}
		})
	}
}

func TestSimCommandJSON(t *testing.T) {
	code, stdout, _ := runSimArgs(t, "--seeds", "2", "--duration", "200", "--json")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	var got struct {
		Tier    string `json:"tier"`
		Result  string `json:"result"`
		Summary struct {
			Seeds      int            `json:"seeds"`
			Invariants map[string]int `json:"invariants"`
			Ops        map[string]int `json:"ops"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	if got.Tier != "protocol" || got.Result != "pass" || got.Summary.Seeds != 2 || len(got.Summary.Invariants) == 0 || got.Summary.Ops["produce ok"] == 0 {
		t.Fatalf("summary %+v", got)
	}
}

func TestSimCommandTraceAndHTML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timeline.html")
	code, stdout, stderr := runSimArgs(t, "--seed", "5", "--duration", "100", "--trace", "--html", path)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "promise") || !strings.Contains(stdout, "append") {
		t.Errorf("the trace lacks messages:\n%.500s", stdout)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("<svg")) || !bytes.Contains(page, []byte("seed 5")) {
		t.Errorf("the page lacks the timeline:\n%.500s", page)
	}
}

func TestParseTicks(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"600", 600, true},
		{"30s", 600, true},
		{"1m", 1200, true},
		{"75ms", 1, true},
		{"-3", 0, false},
		{"later", 0, false},
	}
	for _, c := range cases {
		got, err := parseTicks(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseTicks(%q) = %d, %v; want %d, ok %t", c.in, got, err, c.want, c.ok)
		}
	}
}
