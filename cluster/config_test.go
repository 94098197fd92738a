// Table tests of Config validation and of the node metadata codec: each bad config names the
// fields whose messages must appear (one message per field); the metadata round-trips, is
// refused past memberlist's 512 bytes, and its decoder never panics (FuzzDecodeMeta).
package cluster

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	long := strings.Repeat("h", 300)
	cases := []struct {
		name string
		edit func(*Config)
		want []string // one substring per expected message; nil: valid
	}{
		{"valid first node", func(*Config) {}, nil},
		{"valid joiner without cluster id", func(c *Config) { c.ClusterID, c.Join = "", []string{"10.0.0.1:7946"} }, nil},
		{"lan profile by default", func(c *Config) { c.Profile = "" }, nil},
		{"everything wrong", func(c *Config) {
			*c = Config{NodeID: "a b", ClusterID: "c/1", GossipAddr: "node1:7946", BrokerAddr: "nohost",
				HTTPAddr: "h:99999", Join: []string{"x"}, Profile: "wan", ProtocolMin: 3, ProtocolMax: 2, RejoinInterval: -1}
		}, []string{"NodeID", "ClusterID", "GossipAddr", "BrokerAddr", "HTTPAddr", "Join[0]", "Profile", "ProtocolMin..ProtocolMax", "RejoinInterval"}},
		{"empty fields", func(c *Config) { *c = Config{} },
			[]string{"NodeID", "ClusterID is empty and Join is empty", "GossipAddr", "BrokerAddr", "HTTPAddr", "ProtocolMin..ProtocolMax"}},
		{"node id too long", func(c *Config) { c.NodeID = strings.Repeat("n", 65) }, []string{"NodeID"}},
		{"metadata too long", func(c *Config) { c.BrokerAddr, c.HTTPAddr = long+":1", long+":2" },
			[]string{"memberlist allows 512"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testNode("a", "c1")
			tc.edit(&cfg)
			err := cfg.validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("validate = %v, want ErrInvalidConfig", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d messages, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("message %d = %q, want it to mention %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestStartRefusesBadConfig: Start validates before binding anything.
func TestStartRefusesBadConfig(t *testing.T) {
	verifyNoLeaks(t)
	cfg := testNode("a", "c1")
	cfg.BrokerAddr = strings.Repeat("b", 400) + ":1"
	cfg.HTTPAddr = strings.Repeat("h", 200) + ":1"
	if _, err := Start(cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "shorten the broker address") {
		t.Errorf("Start with 600 bytes of addresses: %v, want an ErrInvalidConfig about the metadata size", err)
	}
	// A joiner whose only seed is itself is a first node: it needs a cluster id.
	addr := freeAddr(t)
	cfg = testNode("a", "", addr)
	cfg.GossipAddr = addr
	if _, err := Start(cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "names only this node") {
		t.Errorf("Start with only itself to join and no cluster id: %v, want ErrInvalidConfig", err)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	in := nodeMeta{ClusterID: "c1", BrokerAddr: "10.0.0.1:7070", HTTPAddr: "10.0.0.1:7071", ProtocolMin: 1, ProtocolMax: 3, Leaving: true}
	b, err := encodeMeta(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeMeta(b)
	if err != nil || out != in {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", in, out, err)
	}
	for _, bad := range [][]byte{nil, {0xc1}, b[:len(b)-3], make([]byte, metaBytesMax+1)} {
		if m, err := decodeMeta(bad); err == nil {
			t.Errorf("decodeMeta(%x) = %+v, want an error", bad, m)
		}
	}
	empty, _ := encodeMeta(nodeMeta{ClusterID: "c1"})
	if _, err := decodeMeta(empty); err == nil {
		t.Error("decodeMeta accepted an empty version range")
	}
}

func FuzzDecodeMeta(f *testing.F) {
	b, _ := encodeMeta(nodeMeta{ClusterID: "c1", BrokerAddr: "a:1", HTTPAddr: "a:2", ProtocolMin: 1, ProtocolMax: 2})
	f.Add(b)
	f.Add([]byte{0x81, 0xa1, 0x63, 0xdb, 0xff, 0xff, 0xff, 0xff}) // {"c": str32 of 4 GiB}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMeta(data)
		if err != nil {
			return
		}
		if m.ProtocolMax == 0 || m.ProtocolMin > m.ProtocolMax {
			t.Fatalf("accepted an empty range: %+v", m)
		}
	})
}
