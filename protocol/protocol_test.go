package protocol

// Method: table tests for frames, the error table and key routing; round trips for every
// message; the fuzz targets (fuzz_test.go) check that decoders are total.

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
)

func TestFrameRoundTrip(t *testing.T) {
	body := []byte("hello")
	h := FrameHeader{Type: TypeProduce, Flags: FlagResponse, RequestID: 1 << 40}
	stream := AppendFrame(nil, h, body)
	stream = AppendFrame(stream, FrameHeader{Type: TypeFetch, RequestID: 7}, nil)
	got, gotBody, rest, err := SplitFrame(stream)
	h.BodyLength = 5
	if err != nil || got != h || !bytes.Equal(gotBody, body) {
		t.Fatalf("first frame: %+v %q %v; want %+v %q", got, gotBody, err, h, body)
	}
	got, gotBody, rest, err = SplitFrame(rest)
	if err != nil || got.Type != TypeFetch || got.RequestID != 7 || len(gotBody) != 0 || len(rest) != 0 {
		t.Fatalf("second frame: %+v %q rest %d %v", got, gotBody, len(rest), err)
	}
}

func TestFrameHeaderRejects(t *testing.T) {
	cases := []struct {
		name string
		h    FrameHeader
		want error
	}{
		{"oversized", FrameHeader{BodyLength: MaxFrameBytes + 1, Type: TypeFetch}, ErrBadFrame},
		{"type zero", FrameHeader{Type: 0}, ErrBadFrame},
		{"unknown type", FrameHeader{Type: typeLast + 1}, ErrBadFrame},
		{"unknown flag", FrameHeader{Type: TypeFetch, Flags: 1 << 5}, ErrBadFrame},
		{"error flag on a request", FrameHeader{Type: TypeFetch, Flags: FlagError}, ErrBadFrame},
		{"ok", FrameHeader{Type: TypeTrim, Flags: FlagResponse | FlagError}, nil},
	}
	for _, tc := range cases {
		b := make([]byte, FrameHeaderBytes)
		PutFrameHeader(b, tc.h)
		if _, err := ReadFrameHeader(b); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := ReadFrameHeader(make([]byte, FrameHeaderBytes-1)); !errors.Is(err, ErrShortFrame) {
		t.Errorf("short header: %v", err)
	}
}

func TestErrorCodesRoundTrip(t *testing.T) {
	seen := map[string]ErrorCode{}
	for code := CodeUnknown; code <= CodeIDZero; code++ {
		sentinel, ok := codeErrors[code]
		if !ok {
			t.Fatalf("code %d has no sentinel", code)
		}
		if other, dup := seen[sentinel.Error()]; dup {
			t.Fatalf("codes %d and %d share a sentinel", other, code)
		}
		seen[sentinel.Error()] = code
		wrapped := fmt.Errorf("partition 3: %w", sentinel)
		body := ErrorBodyOf(wrapped)
		if body.Code != code || !errors.Is(body.Err(), sentinel) || body.Err().Error() != wrapped.Error() {
			t.Errorf("code %d: body %+v, err %v", code, body, body.Err())
		}
	}
	if CodeOf(errors.New("something else")) != CodeUnknown || CodeOf(nil) != CodeOK || (ErrorBody{}).Err() != nil {
		t.Error("unknown errors must map to CodeUnknown and nil to CodeOK")
	}
	if !errors.Is(ErrorBody{Code: 999}.Err(), ErrUnknown) {
		t.Error("a code from a newer server must map to ErrUnknown")
	}
	// The batch layer's Redis errors and ours carry the same text, which clients match on.
	if ErrIDNotIncreasing.Error() != batch.ErrIDNotIncreasing.Error() || ErrIDZero.Error() != batch.ErrIDZero.Error() {
		t.Error("Redis id error texts differ between storage and protocol")
	}
}

func TestPartitionForKey(t *testing.T) {
	// Fixed values: a change here moves every keyed record to another partition.
	for _, tc := range []struct {
		key  string
		p    int32
		want int32
	}{{"", 1, 0}, {"user-1", 12, 4}, {"user-2", 12, 9}, {"order-42", 3, 0}} {
		if got := PartitionForKey([]byte(tc.key), tc.p); got != tc.want {
			t.Errorf("PartitionForKey(%q, %d) = %d, want %d", tc.key, tc.p, got, tc.want)
		}
	}
	counts := make([]int, 8)
	for i := range 8000 {
		counts[PartitionForKey(fmt.Appendf(nil, "key-%d", i), 8)]++
	}
	for p, n := range counts {
		if n < 850 || n > 1150 {
			t.Errorf("partition %d got %d of 8000 keys: not spread evenly", p, n)
		}
	}
}

func TestParseAcks(t *testing.T) {
	for _, a := range []Acks{AcksQuorum, AcksLeader, AcksNone} {
		if got, err := ParseAcks(a.String()); err != nil || got != a {
			t.Errorf("ParseAcks(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := ParseAcks("all"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ParseAcks(all): %v", err)
	}
}

// sampleMessages has one filled value of every message body.
func sampleMessages() []any {
	id := batch.ID{Ms: 1700000000000, Seq: 3}
	return []any{
		&Handshake{VersionMin: 1, VersionMax: 3, ClientID: "c"},
		&HandshakeResponse{Version: 1, NodeID: "n1"},
		&MetadataRequest{Topics: []string{"a", "b"}},
		&MetadataResponse{Brokers: []Broker{{"n1", "127.0.0.1:1"}}, Topics: []TopicMetadata{{Name: "a", Config: TopicConfig{Partitions: 2, Replication: 1, RetentionMs: 5},
			Partitions: []PartitionMetadata{{Partition: 1, Leader: "n1", Replicas: []string{"n1"}, Epoch: 2, LogStart: 3, LogEnd: 9}}}}},
		&CreateTopicRequest{Name: "t", Config: TopicConfig{Partitions: 3}},
		&DeleteTopicRequest{Name: "t"},
		&ListTopicsResponse{Topics: []string{"t"}},
		&ProduceRequest{Topic: "t", Acks: AcksLeader, TimeoutMs: 100, Batches: []ProducePartition{{Partition: 1, Batch: []byte{1, 2, 3}}}},
		&ProduceResponse{Results: []ProduceResult{{Partition: 1, Error: ErrorBody{Code: CodeBusy, Message: "busy"}, BaseOffset: 7, FirstID: id, LastID: id}}},
		&FetchRequest{Topic: "t", MaxWaitMs: 500, Partitions: []FetchPartition{{Partition: 2, From: Position{Kind: PositionID, ID: id}, MaxBytes: 1 << 20}}},
		&FetchResponse{Results: []FetchResult{{Partition: 2, From: 4, Next: 9, LogStart: 1, HighWatermark: 9, Deleted: []uint64{5}, Batches: []byte("xyz")}}},
		&ListOffsetsRequest{Topic: "t", Partitions: []int32{0, 1}, At: Position{Kind: PositionTime, TimeMs: 99}},
		&ListOffsetsResponse{Results: []OffsetResult{{Partition: 0, Offset: 12}}},
		&TrimRequest{Topic: "t", Partition: 0, ByMinID: true, MinID: id, Approx: true},
		&TrimResponse{Removed: 4},
		&DeleteRequest{Topic: "t", Partition: 1, IDs: []batch.ID{id, {Ms: 1}}},
		&CountResponse{Count: 3},
		&StreamInfoRequest{Topic: "t", Partition: 2},
		&CommandRequest{Partition: 1, Args: [][]byte{[]byte("XLEN"), []byte("k")}, Proto: 3},
		&CommandResponse{Reply: []byte(":3\r\n")},
		&StreamInfoResponse{Length: 4, LastID: id, FirstID: id, LogStart: 1, HighWatermark: 9, EntriesAdded: 10, MaxDeletedID: id, Groups: 2},
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	for _, msg := range sampleMessages() {
		body, err := Marshal(msg)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", msg, err)
		}
		appended, err := AppendMarshal([]byte("hdr"), msg)
		if err != nil || !bytes.Equal(appended[3:], body) || string(appended[:3]) != "hdr" {
			t.Fatalf("AppendMarshal(%T) differs from Marshal", msg)
		}
		got := reflect.New(reflect.TypeOf(msg).Elem()).Interface()
		if err := Unmarshal(body, got); err != nil {
			t.Fatalf("Unmarshal(%T): %v", msg, err)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Errorf("%T round trip:\n got %+v\nwant %+v", msg, got, msg)
		}
	}
	if err := Unmarshal([]byte{0xc1}, &FetchRequest{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Unmarshal of garbage: %v, want ErrMalformed", err)
	}
}

// TestUnmarshalRefusesHugeClaimedArrays keeps the regression that FuzzUnmarshal found: six bytes
// claiming a 774M-element array must be refused, not allocated.
func TestUnmarshalRefusesHugeClaimedArrays(t *testing.T) {
	for _, body := range [][]byte{
		[]byte("\x91\xdd.000"),              // fixarray(1) of array32(0x2e303030)
		{0x81, 0xa1, 'x', 0xdd, 0, 1, 0, 0}, // {"x": array32(65536)} with no elements
	} {
		var req FetchRequest
		if err := Unmarshal(body, &req); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(% x): %v, want ErrMalformed", body, err)
		}
	}
}
