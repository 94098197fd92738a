// Command rawsync measures the disk's group-commit ceiling: it appends -bytes bytes to a new
// file in -dir in writes of -write bytes, each followed by fdatasync(2), and prints one JSON
// object on stdout with the bytes, seconds, MB/s, syncs and the records/s those bytes are worth
// at -record-bytes per record. No Shoal code runs: it is what a log that commits one write of
// that size at a time could reach at best on this disk.
//
// Usage: rawsync -dir DIR -bytes N [-write 102400] [-record-bytes 100]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory of the file (on the disk under test)")
	total := flag.Int64("bytes", 100_000_000, "bytes to write")
	write := flag.Int("write", 100<<10, "bytes per write, each followed by fdatasync")
	recordBytes := flag.Int("record-bytes", 100, "bytes of one record, to express the rate in records/s")
	flag.Parse()
	if *total < 1 || *write < 1 || *recordBytes < 1 {
		fmt.Fprintln(os.Stderr, "rawsync: -bytes, -write and -record-bytes must be 1 or more")
		os.Exit(2)
	}
	s, err := run(*dir, *total, *write, *recordBytes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rawsync: %v\n", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		fmt.Fprintf(os.Stderr, "rawsync: %v\n", err)
		os.Exit(1)
	}
}

type summary struct {
	Bytes         int64   `json:"bytes"`
	WriteBytes    int     `json:"write_bytes"`
	Syncs         int     `json:"syncs"`
	Seconds       float64 `json:"seconds"`
	MBPerSec      float64 `json:"mb_per_sec"`
	RecordsPerSec float64 `json:"records_per_sec"`
	P50Ms         float64 `json:"p50_ms"` // of one write + fdatasync
	P99Ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
}

func run(dir string, total int64, write, recordBytes int) (summary, error) {
	path := filepath.Join(dir, fmt.Sprintf("rawsync-%d.dat", os.Getpid()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return summary{}, err
	}
	defer os.Remove(path)
	defer f.Close()
	fd := int(f.Fd())
	buf := make([]byte, write)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	var lat []time.Duration
	start := time.Now()
	for written := int64(0); written < total; {
		n := int(min(int64(write), total-written))
		t := time.Now()
		if _, err := f.Write(buf[:n]); err != nil {
			return summary{}, err
		}
		if err := fdatasync(fd); err != nil {
			return summary{}, fmt.Errorf("fdatasync: %w", err)
		}
		lat = append(lat, time.Since(t))
		written += int64(n)
	}
	elapsed := time.Since(start)
	s := summary{Bytes: total, WriteBytes: write, Syncs: len(lat), Seconds: elapsed.Seconds()}
	s.MBPerSec = float64(total) / 1e6 / elapsed.Seconds()
	s.RecordsPerSec = float64(total) / float64(recordBytes) / elapsed.Seconds()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	s.P50Ms, s.P99Ms, s.MaxMs = ms(0.5), ms(0.99), ms(1)
	return s, nil
}

func fdatasync(fd int) error {
	for {
		if err := syscall.Fdatasync(fd); err != syscall.EINTR {
			return err
		}
	}
}
