// Tests of `shoal demo`: each runs runDemo on a t.TempDir() and checks the exit code and the
// transcript, parsed line by line.
package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalmq/shoal/storage"
)

const refusedLine = "  refused as expected: ERR The ID specified in XADD is equal or smaller than the target stream top item"

// demoRun is the parsed outcome of one runDemo call.
type demoRun struct {
	code     int
	stdout   string
	stderr   string
	appended []demoRecord // the "  offset N  id ID" lines printed while appending
	read     []demoRecord // the "  offset N  id ID  key K  value V" lines printed while reading
}

type demoRecord struct {
	offset     uint64
	id         string
	key, value string
}

var (
	appendedLine = regexp.MustCompile(`^  offset (\d+)  id (\d+-\d+)$`)
	readLine     = regexp.MustCompile(`^  offset (\d+)  id (\d+-\d+)  key (\S+)  value "([^"]*)"$`)
)

func runDemoT(t *testing.T, args ...string) demoRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	r := demoRun{code: runDemo(args, &stdout, &stderr), stdout: stdout.String(), stderr: stderr.String()}
	for _, line := range strings.Split(r.stdout, "\n") {
		if m := appendedLine.FindStringSubmatch(line); m != nil {
			r.appended = append(r.appended, demoRecord{offset: parseUint(t, m[1]), id: m[2]})
		} else if m := readLine.FindStringSubmatch(line); m != nil {
			r.read = append(r.read, demoRecord{offset: parseUint(t, m[1]), id: m[2], key: m[3], value: m[4]})
		}
	}
	return r
}

func parseUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mustSucceed fails the test unless the run exited 0 with nothing on stderr.
func (r demoRun) mustSucceed(t *testing.T) {
	t.Helper()
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitOK, r.stdout, r.stderr)
	}
}

func (r demoRun) wantLine(t *testing.T, line string) {
	t.Helper()
	if !slices.Contains(strings.Split(r.stdout, "\n"), line) {
		t.Errorf("stdout has no line %q:\n%s", line, r.stdout)
	}
}

// checkRecords checks the record lines of a run that appended offsets [from, to) to a log that
// starts at 0: the appended offsets, and the read-back of every record with its key and value.
func (r demoRun) checkRecords(t *testing.T, from, to uint64) {
	t.Helper()
	if got := uint64(len(r.appended)); got != to-from {
		t.Fatalf("printed %d appended records, want %d:\n%s", got, to-from, r.stdout)
	}
	for i, a := range r.appended {
		if a.offset != from+uint64(i) {
			t.Errorf("appended record %d has offset %d, want %d", i, a.offset, from+uint64(i))
		}
	}
	if uint64(len(r.read)) != to {
		t.Fatalf("read back %d records, want %d:\n%s", len(r.read), to, r.stdout)
	}
	for i, rec := range r.read {
		want := demoRecord{offset: uint64(i), id: rec.id, key: fmt.Sprintf("k%d", i+1), value: fmt.Sprintf("hello %d", i+1)}
		if rec != want {
			t.Errorf("read back %+v, want %+v", rec, want)
		}
	}
	// The ids printed while appending are the ids read back.
	for _, a := range r.appended {
		if got := r.read[a.offset].id; got != a.id {
			t.Errorf("offset %d: appended with id %s, read back id %s", a.offset, a.id, got)
		}
	}
}

func TestDemoTwiceContinuesTheLog(t *testing.T) {
	dir := t.TempDir()
	first := runDemoT(t, "--data-dir", dir)
	first.mustSucceed(t)
	first.wantLine(t, "opened: empty log")
	first.checkRecords(t, 0, 5)
	first.wantLine(t, refusedLine)
	first.wantLine(t, fmt.Sprintf("log: start 0, end 5, last id %s, len 5", first.appended[4].id))

	second := runDemoT(t, "--data-dir", dir, "--records", "3")
	second.mustSucceed(t)
	second.wantLine(t, "opened: 5 records from earlier runs, offsets 0..4")
	second.checkRecords(t, 5, 8)
	second.wantLine(t, refusedLine)
	second.wantLine(t, fmt.Sprintf("log: start 0, end 8, last id %s, len 8", second.appended[2].id))
	// The first run's records come back unchanged, ids included.
	if !slices.Equal(second.read[:5], first.read) {
		t.Errorf("second run read\n%v\nwant the first run's records\n%v", second.read[:5], first.read)
	}
	if strings.Contains(second.stdout, "recovery:") {
		t.Errorf("a clean reopen printed a recovery report:\n%s", second.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "partitions", "demo-0")); err != nil {
		t.Errorf("the log is not in DIR/partitions/demo-0: %v", err)
	}
}

func TestDemoFsyncPolicies(t *testing.T) {
	durable := map[string]string{
		"always":   "durable: fsynced through offset 1",
		"interval": "durable under fsync interval: written; the syncer fsyncs every 100ms",
		"never":    "durable under fsync never: written; fsynced only when a segment rolls or the log closes",
	}
	for policy, line := range durable {
		t.Run(policy, func(t *testing.T) {
			dir := t.TempDir()
			r := runDemoT(t, "--data-dir", dir, "--fsync", policy, "--records", "2")
			r.mustSucceed(t)
			r.wantLine(t, fmt.Sprintf("partition log %s (fsync %s)", filepath.Join(dir, "partitions", "demo-0"), policy))
			r.wantLine(t, line)
			r.checkRecords(t, 0, 2)
		})
	}
}

func TestDemoUsageErrors(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"bad fsync", []string{"--fsync", "sometimes"}, `--fsync: unknown fsync policy "sometimes": use always, interval or never`},
		{"zero records", []string{"--records", "0"}, "--records 0: give a number from 1 to 1000"},
		{"too many records", []string{"--records", "1001"}, "--records 1001: give a number from 1 to 1000"},
		{"records not a number", []string{"--records", "five"}, "invalid value"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "demo")
			r := runDemoT(t, append([]string{"--data-dir", dataDir}, tc.args...)...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d", r.code, exitUsage)
			}
			if r.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", r.stderr, tc.wantStderr)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("a usage error touched the data directory (stat: %v)", err)
			}
		})
	}
}

// TestDemoUnusableDataDir gives a regular file as the data directory.
func TestDemoUnusableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runDemoT(t, "--data-dir", file)
	if r.code != exitFail {
		t.Errorf("exit code %d, want %d", r.code, exitFail)
	}
	if want := "rm -rf " + file; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr: got %q, want advice containing %q", r.stderr, want)
	}
}

// TestDemoReportsRecovery makes the log look crashed between runs (a torn last batch, a meta file
// that says the log is open): the next run prints the recovery report and continues after what
// survived.
func TestDemoReportsRecovery(t *testing.T) {
	dir := t.TempDir()
	runDemoT(t, "--data-dir", dir).mustSucceed(t)
	runDemoT(t, "--data-dir", dir).mustSucceed(t)
	partition := filepath.Join(dir, "partitions", "demo-0")

	// The meta file of an open log, put back after Close: the log looks never closed.
	l, _, err := storage.Open(storage.Config{Dir: partition, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	metaPath := filepath.Join(partition, "partition.meta")
	openMeta, err := os.ReadFile(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath, openMeta, 0o644); err != nil {
		t.Fatal(err)
	}
	// Tear the second run's batch (offsets 5..9): its last 7 bytes never reached the disk.
	segments, err := filepath.Glob(filepath.Join(partition, "*.log"))
	if err != nil || len(segments) != 1 {
		t.Fatalf("want one segment file in %s, got %v (%v)", partition, segments, err)
	}
	info, err := os.Stat(segments[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(segments[0], info.Size()-7); err != nil {
		t.Fatal(err)
	}

	r := runDemoT(t, "--data-dir", dir)
	if r.code != exitOK {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitOK, r.stdout, r.stderr)
	}
	r.wantLine(t, "recovery: the log was not closed cleanly last time")
	cut := regexp.MustCompile(`(?m)^recovery: cut \d+ bytes of torn or corrupt tail at byte \d+ of ` +
		regexp.QuoteMeta(filepath.Base(segments[0])) + ` \(offsets from 5 lost\): `)
	if !cut.MatchString(r.stdout) {
		t.Errorf("stdout does not report the cut (want a line matching %s):\n%s", cut, r.stdout)
	}
	r.wantLine(t, "opened: 5 records from earlier runs, offsets 0..4")
	r.checkRecords(t, 5, 10)
	for _, want := range []string{"level=WARN", "cut a torn or corrupt tail", "not closed cleanly"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr has no %q (the storage log):\n%s", want, r.stderr)
		}
	}
}
