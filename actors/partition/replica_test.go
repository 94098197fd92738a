package partition

// Table test of how a replica decides at start that it is unclean (design rule 3): after a crash
// under fsync interval or never, or while the unclean marker of an earlier such crash is still
// there; never after a crash under fsync always.

import (
	"path/filepath"
	"testing"

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
		})
	}
}
