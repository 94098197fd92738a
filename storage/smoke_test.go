package storage

import (
	"testing"

	"github.com/shoalmq/shoal/storage/vfs"
)

func TestSmoke(t *testing.T) {
	l, _ := openLog(t, testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways))
	for i := range 50 {
		appendDurably(t, l, autoBatch(t, i*10, 10, 1000), 1, uint64(1000+i))
	}
	got := readAllFrom(t, l, 0)
	if len(got) != 500 {
		t.Fatalf("read %d records, want 500", len(got))
	}
	for i, r := range got {
		if r.offset != uint64(i) || r.value != string(valueFor(i)) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	t.Logf("segments %d, last id %v, len %d", len(l.segments), l.LastID(), l.Len())
}
