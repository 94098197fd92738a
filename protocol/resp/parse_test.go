// Parse scenarios: each row is a request and either the command Parse must build or the
// exact error text. The error texts were checked against redis-server 7.0.15 with redis-cli
// (see the package comment for where Shoal deliberately reports an argument error before a
// keyspace error).
package resp

import (
	"math"
	"reflect"
	gostrings "strings"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
)

func req(s string) [][]byte {
	var args [][]byte
	for _, f := range gostrings.Fields(s) {
		args = append(args, []byte(f))
	}
	return args
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ request, want string }{
		{"foo a b", "ERR unknown command 'foo', with args beginning with: 'a' 'b' "},
		{"foo", "ERR unknown command 'foo', with args beginning with: "},
		{"xgroup", "ERR wrong number of arguments for 'xgroup' command"},
		{"xgroup foo k g", "ERR unknown subcommand 'foo'. Try XGROUP HELP."},
		{"XgRoup foo", "ERR unknown subcommand 'foo'. Try XGROUP HELP."},
		{"xgroup create k", "ERR wrong number of arguments for 'xgroup|create' command"},
		{"xgroup help x", "ERR wrong number of arguments for 'xgroup|help' command"},
		{"XgRoup create k g 0 Bar", "ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP."},
		{"xgroup create k g 0 entriesread -2", "ERR value for ENTRIESREAD must be positive or -1"},
		{"xgroup create k g 0 mkstream entriesread x", "ERR value is not an integer or out of range"},
		{"xinfo", "ERR wrong number of arguments for 'xinfo' command"},
		{"xinfo foo k", "ERR unknown subcommand 'foo'. Try XINFO HELP."},
		{"xinfo stream", "ERR wrong number of arguments for 'xinfo|stream' command"},
		{"xinfo stream k foo", "ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP."},
		{"xinfo stream k full count", "ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP."},
		{"xinfo stream k full count x", "ERR value is not an integer or out of range"},
		{"xinfo groups k x", "ERR wrong number of arguments for 'xinfo|groups' command"},
		{"xadd k", "ERR wrong number of arguments for 'xadd' command"},
		{"xadd k * a", "ERR wrong number of arguments for 'xadd' command"},
		{"xadd k * a b c", "ERR wrong number of arguments for 'xadd' command"},
		{"xadd k 0 a b", "ERR The ID specified in XADD must be greater than 0-0"},
		{"xadd k 0-0 a b", "ERR The ID specified in XADD must be greater than 0-0"},
		{"xadd k maxlen x * a b", "ERR value is not an integer or out of range"},
		{"xadd k maxlen -1 * a b", "ERR The MAXLEN argument must be >= 0."},
		{"xadd k limit 5 * a b", "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"},
		{"xadd k maxlen 5 limit 5 * a b", "ERR syntax error, LIMIT cannot be used without the special ~ option"},
		{"xadd k minid = 5 maxlen 4 * a b", "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"},
		{"xadd k 1-x a b", "ERR Invalid stream ID specified as stream command argument"},
		{"xadd k -1 a b", "ERR Invalid stream ID specified as stream command argument"},
		{"xadd k + a b", "ERR Invalid stream ID specified as stream command argument"},
		{"xadd k 18446744073709551616 a b", "ERR Invalid stream ID specified as stream command argument"},
		{"xrange k a b", "ERR Invalid stream ID specified as stream command argument"},
		{"xrange k - (0-0", "ERR invalid end ID for the interval"},
		{"xrange k (18446744073709551615-18446744073709551615 +", "ERR invalid start ID for the interval"},
		{"xrange k - + count x", "ERR value is not an integer or out of range"},
		{"xrange k - + foo", "ERR syntax error"},
		{"xread streams k", "ERR wrong number of arguments for 'xread' command"},
		{"xread count 1", "ERR wrong number of arguments for 'xread' command"},
		{"xread streams k 0 1", "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."},
		{"xread group g c streams k 0", "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."},
		{"xread noack streams k 0", "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."},
		{"xread block -1 streams k 0", "ERR timeout is negative"},
		{"xread block x streams k 0", "ERR timeout is not an integer or out of range"},
		{"xread count x streams k 0", "ERR value is not an integer or out of range"},
		{"xread streams k >", "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."},
		{"xreadgroup streams k 0", "ERR wrong number of arguments for 'xreadgroup' command"},
		{"xreadgroup count 1 noack streams k 0", "ERR Missing GROUP option for XREADGROUP"},
		{"xreadgroup group g c streams k $", "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."},
		{"xreadgroup group g c streams k 0 extra", "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."},
		{"xautoclaim k g c x 0", "ERR Invalid min-idle-time argument for XAUTOCLAIM"},
		{"xautoclaim k g c 1 0 count 0", "ERR COUNT must be > 0"},
		{"xautoclaim k g c 1 x", "ERR Invalid stream ID specified as stream command argument"},
		{"xautoclaim k g c 1 0 foo", "ERR syntax error"},
		{"xclaim k g c x 0", "ERR Invalid min-idle-time argument for XCLAIM"},
		{"xclaim k g c 1 0 foo", "ERR Unrecognized XCLAIM option 'foo'"},
		{"xclaim k g c 1 0 idle x", "ERR Invalid IDLE option argument for XCLAIM"},
		{"xclaim k g c 1 0 time x", "ERR Invalid TIME option argument for XCLAIM"},
		{"xclaim k g c 1 0 retrycount x", "ERR Invalid RETRYCOUNT option argument for XCLAIM"},
		{"xclaim k g c 1 0 lastid x", "ERR Invalid stream ID specified as stream command argument"},
		{"xclaim k g c 1 x", "ERR Unrecognized XCLAIM option 'x'"},
		{"xpending k g x", "ERR syntax error"},
		{"xpending k g idle x - + 1", "ERR value is not an integer or out of range"},
		{"xpending k g idle 5 - +", "ERR syntax error"},
		{"xpending k g - + x", "ERR value is not an integer or out of range"},
		{"xpending k g x + 1", "ERR Invalid stream ID specified as stream command argument"},
		{"xsetid k 1 entriesadded -1", "ERR entries_added must be positive"},
		{"xsetid k 1 maxdeletedid 2", "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"},
		{"xsetid k x", "ERR Invalid stream ID specified as stream command argument"},
		{"xsetid k 1 foo", "ERR syntax error"},
		{"xsetid k 1 entriesadded", "ERR syntax error"},
		{"xtrim k foo", "ERR wrong number of arguments for 'xtrim' command"},
		{"xtrim k 1 2", "ERR syntax error"},
		{"xtrim k maxlen 1 limit 1", "ERR syntax error, LIMIT cannot be used without the special ~ option"},
		{"xack k g x", "ERR Invalid stream ID specified as stream command argument"},
		{"xdel k x", "ERR Invalid stream ID specified as stream command argument"},
		{"xlen k a", "ERR wrong number of arguments for 'xlen' command"},
		{"keys", "ERR wrong number of arguments for 'keys' command"},
		{"type", "ERR wrong number of arguments for 'type' command"},
		{"scan x", "ERR invalid cursor"},
		{"scan 0 count 0", "ERR syntax error"},
		{"scan 0 foo", "ERR syntax error"},
		{"scan 0 match", "ERR syntax error"},
		{"scan 0 count x", "ERR value is not an integer or out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.request, func(t *testing.T) {
			cmd, err := Parse(req(tc.request))
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want error %q", tc.request, cmd, tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("Parse(%q)\ngot:  %q\nwant: %q", tc.request, err.Error(), tc.want)
			}
		})
	}
}

func TestParseCommands(t *testing.T) {
	maxSeq := uint64(math.MaxUint64)
	id := func(ms, seq uint64) batch.ID { return batch.ID{Ms: ms, Seq: seq} }
	cases := []struct {
		request string
		want    Command
	}{
		{"XADD k * a b", &XAdd{Key: "k", ID: XAddID{Auto: true}, Fields: req("a b")}},
		{"xadd k nomkstream maxlen ~ 10 limit 5 5-* a b c d", &XAdd{Key: "k", NoMkStream: true,
			Trim: Trim{Strategy: TrimMaxLen, Approx: true, MaxLen: 10, Limit: 5}, ID: XAddID{AutoSeq: true, ID: id(5, 0)}, Fields: req("a b c d")}},
		{"xadd k minid = 7-1 01 a b", &XAdd{Key: "k", Trim: Trim{Strategy: TrimMinID, MinID: id(7, 1)}, ID: XAddID{ID: id(1, 0)}, Fields: req("a b")}},
		{"xrange k 1000 1000", &XRange{Key: "k", Start: id(1000, 0), End: id(1000, maxSeq), Count: -1}},
		{"xrange k (1-5 (2-0 COUNT 3", &XRange{Key: "k", Start: id(1, 6), End: id(1, maxSeq), Count: 3}},
		{"xrevrange k + - count -4", &XRange{Key: "k", Start: id(0, 0), End: batch.MaxID, Count: 0, Reverse: true}},
		{"xread count 2 block 0 streams a b $ +", &XRead{Count: 2, Block: true, Streams: []ReadStream{{Key: "a", From: ReadNew}, {Key: "b", From: ReadLastEntry}}}},
		{"xread streams a 5", &XRead{Streams: []ReadStream{{Key: "a", ID: id(5, 0)}}}},
		{"xreadgroup group g c claim 100 noack block 10 streams a b > 3-4", &XReadGroup{Group: "g", Consumer: "c", NoAck: true, Block: true, BlockMs: 10,
			ClaimMinIdleMs: 100, Streams: []ReadStream{{Key: "a", From: ReadUndelivered}, {Key: "b", ID: id(3, 4)}}}},
		{"xgroup create k g $ mkstream entriesread 5 maxdeliveries 3", &XGroupCreate{Key: "k", Group: "g", Start: GroupStart{Last: true}, MkStream: true, EntriesRead: 5, MaxDeliveries: 3}},
		{"xgroup setid k g 5", &XGroupSetID{Key: "k", Group: "g", Start: GroupStart{ID: id(5, 0)}, EntriesRead: -1}},
		{"xpending k g idle 9 - + 10 c", &XPending{Key: "k", Group: "g", Extended: true, MinIdleMs: 9, End: batch.MaxID, Count: 10, Consumer: "c", HasConsumer: true}},
		{"xclaim k g c -5 1 2-2 idle 7 retrycount 3 force justid lastid 9", &XClaim{Key: "k", Group: "g", Consumer: "c", IDs: []batch.ID{id(1, 0), id(2, 2)},
			Delivery: DeliveryTime{Set: true, Idle: true, Ms: 7}, RetryCount: 3, Force: true, JustID: true, LastID: id(9, 0)}},
		{"xautoclaim k g c 5 (1-0 count 7 justid", &XAutoClaim{Key: "k", Group: "g", Consumer: "c", MinIdleMs: 5, Start: id(1, 1), Count: 7, JustID: true}},
		{"xinfo stream k full count 0", &XInfoStream{Key: "k", Full: true, Count: 0}},
		{"xsetid k 5-5 entriesadded 9 maxdeletedid 5-5", &XSetID{Key: "k", LastID: id(5, 5), EntriesAdded: 9, MaxDeletedID: id(5, 5)}},
		{"scan 0 match k* count 5 type stream", &Scan{Match: "k*", HasMatch: true, Count: 5, TypeName: "stream"}},
		{"unlink a b", &Del{KeyList: []string{"a", "b"}, Unlink: true}},
	}
	for _, tc := range cases {
		t.Run(tc.request, func(t *testing.T) {
			got, err := Parse(req(tc.request))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.request, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q)\ngot:  %#v\nwant: %#v", tc.request, got, tc.want)
			}
		})
	}
}

// TestParseIDQuirks: Redis's string2ull accepts what strtoull accepts after string2ll fails.
func TestParseIDQuirks(t *testing.T) {
	cases := []struct {
		text string
		want batch.ID
		ok   bool
	}{
		{" 1", batch.ID{Ms: 1}, true}, {"+1-+2", batch.ID{Ms: 1, Seq: 2}, true}, {"01-02", batch.ID{Ms: 1, Seq: 2}, true},
		{"1--1", batch.ID{}, false}, {"1- -1", batch.ID{Ms: 1, Seq: math.MaxUint64}, true}, {"", batch.ID{}, false},
		{"1-2-3", batch.ID{}, false}, {"1 ", batch.ID{}, false},
	}
	for _, tc := range cases {
		got, err := parseID([]byte(tc.text), 0, idStrict)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseID(%q) = %v, %v; want %v, ok %v", tc.text, got, err, tc.want, tc.ok)
		}
	}
}

func TestHelpReply(t *testing.T) {
	cmd, err := Parse(req("xinfo help"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(AppendValue(nil, cmd.(*Help).Reply(), 2))
	want := "*9\r\n+XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CONSUMERS <key> <groupname>\r\n" +
		"+    Show consumers of <groupname>.\r\n+GROUPS <key>\r\n+    Show the stream consumer groups.\r\n" +
		"+STREAM <key> [FULL [COUNT <count>]\r\n+    Show information about the stream.\r\n+HELP\r\n+    Prints this help.\r\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestXAutoClaimCountNotInteger(t *testing.T) {
	if _, err := Parse(req("xautoclaim k g c 1 0 count x")); err != ErrCountPositive {
		t.Fatalf("got %v, want %v", err, ErrCountPositive)
	}
}
