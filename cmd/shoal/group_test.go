// Tests of consumer groups through the CLI and the Go client on an in-process node: a group over
// a three-partition topic hands every record to exactly one of two consumers, acks clear the
// pending list, a consumer that stops without acking has its records claimed by another, and
// `shoal group list|describe|delete` report what happened.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoalmq/shoal/client"
)

func runGroupCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := groupMain(ctx, args, &stdout, &stderr)
	return cliRun{code, stdout.String(), stderr.String()}
}

func TestGroupUsage(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		wantStderr string
	}{
		{nil, "missing subcommand"},
		{[]string{"rename"}, `unknown subcommand "rename"`},
		{[]string{"create", "t"}, "give TOPIC and GROUP"},
		{[]string{"create", "t", "g", "--max-deliveries", "-1"}, "--max-deliveries -1"},
		{[]string{"list"}, "give TOPIC"},
	} {
		r := runGroupCLI(t, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.wantStderr) {
			t.Errorf("group %q: %v; want exit %d and %q", tc.args, r, exitUsage, tc.wantStderr)
		}
	}
	r := runConsumeCLI(t, "--topic", "t", "--group", "g")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--group and --consumer go together") {
		t.Errorf("consume --group without --consumer: %v", r)
	}
}

func TestGroupsEndToEnd(t *testing.T) {
	node := consumeTopic(t, 3, 30) // key-i:value-i over three partitions
	brokers := []string{"--brokers", node.addr}
	mustSucceed(t, "group create", runGroupCLI(t, append([]string{"create", "t", "g", "--from", "0"}, brokers...)...))
	if r := runGroupCLI(t, append([]string{"create", "t", "g"}, brokers...)...); r.code == exitOK || !strings.Contains(r.stderr, "exists on every partition") {
		t.Errorf("creating the group twice: %v", r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	c := node.newClient(t)
	alice, err := c.NewGroupConsumer("t", "g", "alice")
	if err != nil {
		t.Fatal(err)
	}
	// alice takes 12 records and "crashes" without acking them.
	taken, err := alice.Read(ctx, 12, 0)
	if err != nil || len(taken) != 12 {
		t.Fatalf("alice read %d records (err %v), want 12", len(taken), err)
	}
	// bob consumes the rest through the CLI, acking each.
	r := mustSucceed(t, "consume --group", runConsumeCLI(t, append([]string{"--topic", "t", "--group", "g", "--consumer", "bob",
		"--exit-at-end", "--format", `%v\n`}, brokers...)...))
	bobValues := strings.Fields(r.stdout)
	if len(bobValues) != 18 {
		t.Fatalf("bob printed %d records, want 18:\n%s", len(bobValues), r.stdout)
	}
	seen := map[string]string{}
	for _, v := range bobValues {
		seen[v] = "bob"
	}
	for _, m := range taken {
		if who, dup := seen[string(m.Value)]; dup {
			t.Fatalf("%s went to alice and %s", m.Value, who)
		}
		seen[string(m.Value)] = "alice"
	}
	if len(seen) != 30 {
		t.Fatalf("%d distinct records delivered, want 30", len(seen))
	}

	var groups []groupJSON
	r = mustSucceed(t, "group list", runGroupCLI(t, append([]string{"list", "t", "--json"}, brokers...)...))
	if err := json.Unmarshal([]byte(r.stdout), &groups); err != nil || len(groups) != 1 || groups[0].Pending != 12 ||
		groups[0].Consumers != 2 || groups[0].Lag == nil || *groups[0].Lag != 0 {
		t.Fatalf("group list --json: %s (err %v); want g with 2 consumers, 12 pending, lag 0", r.stdout, err)
	}

	// carol claims alice's records once they are idle; acking them empties the pending list.
	carol, err := c.NewGroupConsumer("t", "g", "carol")
	if err != nil {
		t.Fatal(err)
	}
	var claimed []client.Message
	deadline := time.Now().Add(10 * time.Second)
	for len(claimed) < 12 && time.Now().Before(deadline) {
		more, err := carol.Claim(ctx, 50*time.Millisecond, 12-len(claimed))
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, more...)
		if len(claimed) < 12 {
			time.Sleep(20 * time.Millisecond) // the records must be idle 50 ms to be claimable
		}
	}
	if len(claimed) != 12 {
		t.Fatalf("carol claimed %d records, want alice's 12", len(claimed))
	}
	for _, m := range claimed {
		if seen[string(m.Value)] != "alice" {
			t.Errorf("carol claimed %s, which was %s's", m.Value, seen[string(m.Value)])
		}
	}
	if n, err := carol.Ack(ctx, claimed...); err != nil || n != 12 {
		t.Fatalf("carol acked %d (err %v), want 12", n, err)
	}
	r = mustSucceed(t, "group describe", runGroupCLI(t, append([]string{"describe", "t", "g"}, brokers...)...))
	if !strings.Contains(r.stdout, "0 pending") || !strings.Contains(r.stdout, "carol (pending 0") {
		t.Errorf("group describe after the acks:\n%s", r.stdout)
	}
	mustSucceed(t, "group delete", runGroupCLI(t, append([]string{"delete", "t", "g"}, brokers...)...))
	if r := runGroupCLI(t, append([]string{"describe", "t", "g"}, brokers...)...); r.code == exitOK || !strings.Contains(r.stderr, "has no group g") {
		t.Errorf("describe after delete: %v", r)
	}
}
