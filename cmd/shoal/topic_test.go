// Tests of `shoal topic`: usage errors are a table over topicMain; the end-to-end case walks a
// topic's life on an in-process node (startTestNode in produce_test.go) through create, list,
// describe (text and the exact --json shape) and delete.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/shoalmq/shoal/protocol"
)

func runTopicCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := topicMain(ctx, args, &stdout, &stderr)
	return cliRun{code, stdout.String(), stderr.String()}
}

func TestTopicUsage(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no subcommand", nil, exitUsage, "", "shoal topic: missing subcommand"},
		{"help", []string{"help"}, exitOK, "describe", ""},
		{"unknown subcommand", []string{"rename"}, exitUsage, "", `unknown subcommand "rename"`},
		{"create without name", []string{"create"}, exitUsage, "", "shoal topic create: missing topic NAME"},
		{"create -h", []string{"create", "-h"}, exitOK, "", "usage: shoal topic create NAME"},
		{"negative partitions", []string{"create", "t", "--partitions", "-1"}, exitUsage, "", "--partitions -1"},
		{"replication too large", []string{"create", "t", "--replication", "40000"}, exitUsage, "", "--replication 40000"},
		{"negative retention", []string{"create", "t", "--retention-ms", "-5"}, exitUsage, "", "--retention-ms -5"},
		{"two names", []string{"delete", "a", "b"}, exitUsage, "", `unexpected argument "b"`},
		{"list with a name", []string{"list", "t"}, exitUsage, "", `unexpected argument "t"`},
		{"describe bad flag", []string{"describe", "t", "--yaml"}, exitUsage, "", "flag provided but not defined: -yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runTopicCLI(t, tc.args...)
			if r.code != tc.wantCode || !strings.Contains(r.stdout, tc.wantStdout) || !strings.Contains(r.stderr, tc.wantStderr) ||
				(tc.wantStdout == "" && r.stdout != "") || (tc.wantStderr == "" && r.stderr != "") {
				t.Errorf("got %v; want exit %d, stdout with %q, stderr with %q", r, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

func TestTopicLifecycleEndToEnd(t *testing.T) {
	node := startTestNode(t)
	brokers := []string{"--brokers", node.addr}
	r := mustSucceed(t, "create", runTopicCLI(t, append([]string{"create", "orders", "--partitions", "3"}, brokers...)...))
	if r.stdout != "created topic orders: 3 partitions, replication 1\n" {
		t.Errorf("create: stdout %q", r.stdout)
	}
	// The name may also follow the flags.
	mustSucceed(t, "create, name last", runTopicCLI(t, append([]string{"create", "--partitions", "1"}, append(brokers, "events")...)...))
	if r := runTopicCLI(t, append([]string{"create", "orders"}, brokers...)...); r.code != exitFail || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("creating orders again: %v; want exit 1 saying it exists", r)
	}
	if r := mustSucceed(t, "list", runTopicCLI(t, append([]string{"list"}, brokers...)...)); r.stdout != "events\norders\n" {
		t.Errorf("list: stdout %q, want events and orders", r.stdout)
	}
	mustSucceed(t, "produce", runProduceCLI(t, "a\nb\n", "--brokers", node.addr, "--topic", "orders", "--partition", "1"))

	desc, err := node.newClient(t).DescribeTopic(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString(`{"topic":"orders","partitions":[`)
	for i, p := range desc.Partitions {
		if i > 0 {
			want.WriteString(",")
		}
		logEnd := 0
		if i == 1 {
			logEnd = 2
		}
		// in_sync is what the node reports (a standalone node may leave it empty): [] rather than null.
		inSync, _ := json.Marshal(nonNil(p.InSync))
		fmt.Fprintf(&want, `{"partition":%d,"leader":"node-1","replicas":["node-1"],"in_sync":%s,"epoch":%d,"log_start":0,"log_end":%d}`,
			i, inSync, p.Epoch, logEnd)
	}
	want.WriteString("]}\n")
	if r := mustSucceed(t, "describe --json", runTopicCLI(t, append([]string{"describe", "orders", "--json"}, brokers...)...)); r.stdout != want.String() {
		t.Errorf("describe --json:\n got %s\nwant %s", r.stdout, want.String())
	}
	r = mustSucceed(t, "describe", runTopicCLI(t, append([]string{"describe", "orders"}, brokers...)...))
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "topic orders: 3 partitions, replication 1") ||
		strings.Join(strings.Fields(lines[1]), " ") != "PARTITION LEADER REPLICAS IN-SYNC EPOCH LOG-START LOG-END" ||
		strings.Join(strings.Fields(lines[3]), " ") != fmt.Sprintf("1 node-1 node-1 %s %d 0 2",
			orNone(strings.Join(desc.Partitions[1].InSync, ",")), desc.Partitions[1].Epoch) {
		t.Errorf("describe:\n%s", r.stdout)
	}

	if r := mustSucceed(t, "delete", runTopicCLI(t, append([]string{"delete", "orders"}, brokers...)...)); r.stdout != "deleted topic orders\n" {
		t.Errorf("delete: stdout %q", r.stdout)
	}
	if r := runTopicCLI(t, append([]string{"describe", "orders"}, brokers...)...); r.code != exitFail || !strings.Contains(r.stderr, "unknown topic") {
		t.Errorf("describe after delete: %v; want exit 1, unknown topic", r)
	}
	if r := mustSucceed(t, "list", runTopicCLI(t, append([]string{"list"}, brokers...)...)); r.stdout != "events\n" {
		t.Errorf("list after delete: stdout %q, want events", r.stdout)
	}
}

// TestTopicDescribeShowsInSync: a replicated partition's leader, epoch and in-sync replicas, in
// the exact --json shape and in the table (a partition without a leader shows "(none)").
func TestTopicDescribeShowsInSync(t *testing.T) {
	topic := protocol.TopicMetadata{Name: "orders", Config: protocol.TopicConfig{Replication: 3}, Partitions: []protocol.PartitionMetadata{
		{Partition: 0, Leader: "n2", Replicas: []string{"n1", "n2", "n3"}, InSync: []string{"n2", "n3"}, Epoch: 4, LogStart: 0, LogEnd: 17},
		{Partition: 1, Replicas: []string{"n1", "n2", "n3"}, Epoch: 2, LogEnd: 5},
	}}
	var out bytes.Buffer
	if err := printTopicJSON(&out, topic); err != nil {
		t.Fatal(err)
	}
	want := `{"topic":"orders","partitions":[` +
		`{"partition":0,"leader":"n2","replicas":["n1","n2","n3"],"in_sync":["n2","n3"],"epoch":4,"log_start":0,"log_end":17},` +
		`{"partition":1,"leader":"","replicas":["n1","n2","n3"],"in_sync":[],"epoch":2,"log_start":0,"log_end":5}]}` + "\n"
	if out.String() != want {
		t.Errorf("--json:\n got %s\nwant %s", out.String(), want)
	}
	out.Reset()
	if err := printTopicTable(&out, topic); err != nil {
		t.Fatal(err)
	}
	want = `topic orders: 2 partitions, replication 3, retention none
PARTITION  LEADER  REPLICAS  IN-SYNC  EPOCH  LOG-START  LOG-END
0          n2      n1,n2,n3  n2,n3    4      0          17
1          (none)  n1,n2,n3  -        2      0          5
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}
