package partition

// Table test of how a replica decides at start that it is unclean (design rule 3): after a crash
// under fsync interval or never, or while the unclean marker of an earlier such crash is still
// there; never after a crash under fsync always.

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

func TestReplicaStartsUnclean(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  storage.Policy
		crashed bool
		marker  bool
		want    bool
	}{
		{"clean shutdown, interval", storage.FsyncInterval, false, false, false},
		{"crash under always", storage.FsyncAlways, true, false, false},
		{"crash under interval", storage.FsyncInterval, true, false, true},
		{"crash under never", storage.FsyncNever, true, false, true},
		{"marker left by an earlier crash", storage.FsyncAlways, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{Topic: "t", NodeID: "n1", Storage: storage.Config{Dir: dir, Fsync: tc.policy}}
			log, rec, err := storage.Open(cfg.Storage)
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			if tc.marker {
				if err := vfs.WriteFileAtomic(vfs.OS(), dir, uncleanFile, []byte("unclean\n")); err != nil {
					t.Fatal(err)
				}
			}
			rec.Unclean = tc.crashed
			opts, err := replicaOptions(cfg, log, rec)
			if err != nil {
				t.Fatal(err)
			}
			if opts.Unclean != tc.want {
				t.Fatalf("unclean = %v, want %v (marker at %s: %v)", opts.Unclean, tc.want, filepath.Join(dir, uncleanFile), tc.marker)
			}
			// An unclean replica has its marker on disk at once: a restart before it caught up,
			// whatever the log says of its last stop, starts it unclean again.
			rec.Unclean = false
			again, err := replicaOptions(cfg, log, rec)
			if err != nil {
				t.Fatal(err)
			}
			if again.Unclean != tc.want {
				t.Fatalf("after a restart that the log calls clean: unclean = %v, want %v", again.Unclean, tc.want)
			}
		})
	}
}

// TestWireConversionKeepsEveryField: a replication message survives the trip through the wire
// form with every field (a field the conversion forgets is a protocol bug no unit of the core
// can see: the transfer flag was once lost this way).
func TestWireConversionKeepsEveryField(t *testing.T) {
	m := replication.Message{Type: replication.MsgPromise, From: "n1", To: "n2", Epoch: 7, Index: 9, PrevEpoch: 6,
		Data: []byte{1, 2}, Commit: 5, Reject: true, Match: 4, Durable: 3, End: 11, LastEpoch: 6,
		History: replication.History{{Epoch: 1, Start: 0}, {Epoch: 6, Start: 8}}, Granted: true, Learner: true, Transfer: true, Behind: true}
	got := fromWire(toWire("t", 3, m))
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
	rv := reflect.ValueOf(m)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("field %s is zero in the test message: set it, so the round trip checks it", rv.Type().Field(i).Name)
		}
	}
}
