package storage

// Method: testing.AllocsPerRun over Append and Read with batches of 1 and of 500 records: the
// hot path must not allocate per record, so both sizes allocate the same (small) amount.

import (
	"testing"

	"github.com/shoalmq/shoal/storage/vfs"
)

func TestHotPathAllocatesPerBatchNotPerRecord(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncNever)
	cfg.SegmentBytes, cfg.MaxBatchBytes = 64<<20, 1<<20
	l, _ := openLog(t, cfg)
	small, large := autoBatch(t, 0, 1, 5), autoBatch(t, 0, 500, 5)
	appendAllocs := func(b []byte) float64 {
		work := make([]byte, len(b)) // Append stamps the header in place: append a fresh copy
		return testing.AllocsPerRun(200, func() {
			copy(work, b)
			if _, err := l.Append(work, 1, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
	a1, a500 := appendAllocs(small), appendAllocs(large)
	t.Logf("Append allocs: %.1f (1 record), %.1f (500 records)", a1, a500)
	if a500 > a1+0.5 || a1 > 2 {
		t.Fatalf("Append allocations: %.1f for 1 record, %.1f for 500; want the same, at most 2", a1, a500)
	}
	buf := make([]byte, 0, 1<<20)
	readAllocs := func(maxBytes int) float64 {
		return testing.AllocsPerRun(200, func() {
			res, err := l.Read(0, maxBytes, l.LogEnd(), buf)
			if err != nil || len(res.Data) == 0 {
				t.Fatalf("Read: %d bytes, %v", len(res.Data), err)
			}
			rs := res.Records()
			for rs.Next() {
			}
			if rs.Err() != nil {
				t.Fatal(rs.Err())
			}
		})
	}
	r1, rMany := readAllocs(1), readAllocs(1<<20)
	if r1 != 0 || rMany != 0 {
		t.Fatalf("Read allocations: %.1f for one batch, %.1f for 1 MiB; want 0", r1, rMany)
	}
}
