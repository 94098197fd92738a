package actors

import (
	"context"
	"strings"
	"testing"

	"github.com/shoalmq/shoal/protocol/resp"
)

// redisDo runs one Redis command line (words split on spaces) on b and returns its RESP2 reply.
func redisDo(t testing.TB, b *Broker, line string) string {
	t.Helper()
	var args [][]byte
	for _, w := range strings.Fields(line) {
		args = append(args, []byte(w))
	}
	cmd, err := resp.Parse(args)
	if err != nil {
		return string(resp.AppendValue(nil, resp.ErrorValue(err), 2))
	}
	ctx := testContext(t)
	v := b.RedisCommand(ctx, cmd, args, 2)(ctx)
	return string(resp.AppendValue(nil, v, 2))
}

// TestRedisStreamCommandsStandalone runs the stream and group commands through the broker's
// Redis executor on one node, checking Redis's replies byte for byte.
func TestRedisStreamCommandsStandalone(t *testing.T) {
	b, stop := startBroker(t, testConfig(t, t.TempDir()))
	defer stop()
	steps := []struct{ cmd, want string }{
		{"XADD s 1-1 a 1", "$3\r\n1-1\r\n"},
		{"XADD s 1-2 b 2 c 3", "$3\r\n1-2\r\n"},
		{"XADD s 1-2 x y", "-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"},
		{"XADD s 1-* d 4", "$3\r\n1-3\r\n"},
		{"XLEN s", ":3\r\n"},
		{"XLEN nope", ":0\r\n"},
		{"XRANGE s - +", "*3\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$3\r\n1-3\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"XREVRANGE s + - COUNT 1", "*1\r\n*2\r\n$3\r\n1-3\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"XRANGE s (1-1 1-2", "*1\r\n*2\r\n$3\r\n1-2\r\n*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"},
		{"XREAD COUNT 1 STREAMS s 1-2", "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-3\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"XREAD STREAMS s $", "*-1\r\n"},
		{"XGROUP CREATE s g 0", "+OK\r\n"},
		{"XGROUP CREATE s g 0", "-BUSYGROUP Consumer Group name already exists\r\n"},
		{"XGROUP CREATE nope g 0", "-" + errNoKeyXGroup + "\r\n"},
		{"XREADGROUP GROUP g alice COUNT 2 STREAMS s >", "*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n1-2\r\n*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"},
		{"XPENDING s g", "*4\r\n:2\r\n$3\r\n1-1\r\n$3\r\n1-2\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n2\r\n"},
		{"XACK s g 1-1 9-9", ":1\r\n"},
		{"XREADGROUP GROUP g bob STREAMS s >", "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-3\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"XREADGROUP GROUP g bob STREAMS s >", "*-1\r\n"},
		{"XCLAIM s g bob 0 1-2 JUSTID", "*1\r\n$3\r\n1-2\r\n"},
		{"XDEL s 1-1 7-7", ":1\r\n"},
		{"XLEN s", ":2\r\n"},
		{"XTRIM s MAXLEN 1", ":1\r\n"},
		{"XRANGE s - +", "*1\r\n*2\r\n$3\r\n1-3\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n"},
		{"XSETID s 1-2", "-ERR The ID specified in XSETID is smaller than the target stream top item\r\n"},
		{"XSETID s 9-0 ENTRIESADDED 0", "-ERR The entries_added specified in XSETID is smaller than the target stream length\r\n"},
		{"XSETID s 9-0 ENTRIESADDED 50 MAXDELETEDID 8-0", "+OK\r\n"},
		{"XSETID nope 9-0", "-ERR no such key\r\n"},
		{"XADD s 9-0 e 5", "-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"},
		{"XADD s 9-* e 5", "$3\r\n9-1\r\n"},
		{"TYPE s", "+stream\r\n"},
		{"EXISTS s nope", ":1\r\n"},
		{"KEYS *", "*1\r\n$1\r\ns\r\n"},
		{"DEL s", ":1\r\n"},
		{"EXISTS s", ":0\r\n"},
	}
	for _, s := range steps {
		if got := redisDo(t, b, s.cmd); got != s.want {
			t.Fatalf("%s:\n got %q\nwant %q", s.cmd, got, s.want)
		}
	}
	_ = context.Background
}

// TestRedisDeadLetters: an entry delivered MAXDELIVERIES times without an ack goes to
// <key>.dlq (with the group, consumer, delivery count and original id) and leaves the pending
// list.
func TestRedisDeadLetters(t *testing.T) {
	b, stop := startBroker(t, testConfig(t, t.TempDir()))
	defer stop()
	for _, s := range []struct{ cmd, want string }{
		{"XADD jobs 5-1 task a", "$3\r\n5-1\r\n"},
		{"XGROUP CREATE jobs w 0 MAXDELIVERIES 2", "+OK\r\n"},
		{"XREADGROUP GROUP w c1 STREAMS jobs >", "*1\r\n*2\r\n$4\r\njobs\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$4\r\ntask\r\n$1\r\na\r\n"},
		{"XREADGROUP GROUP w c1 STREAMS jobs 0", "*1\r\n*2\r\n$4\r\njobs\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$4\r\ntask\r\n$1\r\na\r\n"},
		// The third delivery would pass the bound: dead-lettered instead.
		{"XREADGROUP GROUP w c1 STREAMS jobs 0", "*1\r\n*2\r\n$4\r\njobs\r\n*0\r\n"},
		{"XPENDING jobs w", "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"},
		{"XLEN jobs.dlq", ":1\r\n"},
	} {
		if got := redisDo(t, b, s.cmd); got != s.want {
			t.Fatalf("%s:\n got %q\nwant %q", s.cmd, got, s.want)
		}
	}
	got := redisDo(t, b, "XRANGE jobs.dlq - +")
	for _, field := range []string{"dlq-group\r\n$1\r\nw", "dlq-consumer\r\n$2\r\nc1", "dlq-deliveries\r\n$1\r\n2", "dlq-id\r\n$3\r\n5-1", "task\r\n$1\r\na"} {
		if !strings.Contains(got, field) {
			t.Errorf("the dead letter %q lacks %q", got, field)
		}
	}
}
