package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// EpochStart records that the leader epoch Epoch wrote its first batch at StartOffset.
type EpochStart struct {
	Epoch       uint64 `json:"epoch"`
	StartOffset uint64 `json:"start_offset"`
}

// partitionMeta is the small per-partition state that is not derivable cheaply from the
// segments. It is rewritten whole and atomically (write, fsync, rename, fsync the directory).
//
// Invariant: Epochs rise strictly in Epoch and never decrease in StartOffset; Tombstones are
// [offset, by] pairs sorted and unique by offset, with LogStart <= offset < by < TombstonesThrough.
type partitionMeta struct {
	Version       int          `json:"version"`
	Epochs        []EpochStart `json:"epochs"`
	PromisedEpoch uint64       `json:"promised_epoch"`
	LogStart      uint64       `json:"log_start"`
	// LastIDFloor is the last id of segments deleted by retention: the log's last id when no
	// data record is left on disk.
	LastIDFloor batch.ID `json:"last_id_floor"`
	// Tombstones are the deleted offsets (XDEL) with the offset of the control record that
	// deleted each, found in control batches below TombstonesThrough;
	// recovery scans control batches from there on.
	Tombstones        [][2]uint64 `json:"tombstones"`
	TombstonesThrough uint64      `json:"tombstones_through"`
	// TrimmedRecords counts the data records (deleted ones too) that left the log through trims
	// and retention: with the records above the log start, the records ever added (Redis's
	// entries-added).
	TrimmedRecords uint64 `json:"trimmed_records,omitempty"`
	// SetID is the newest XSETID below TombstonesThrough (nil: none); recovery scans the
	// control batches after it for newer ones.
	SetID *SetIDState `json:"set_id,omitempty"`
	// CleanShutdown is true only between Close and the next Open.
	CleanShutdown bool `json:"clean_shutdown"`
}

// SetIDState is the stream figures an XSETID set, where it was logged, and how many data records
// the log had ever taken before it (so entries-added goes on counting from the value it set).
type SetIDState struct {
	batch.SetIDValue
	At      uint64 `json:"at"`
	AddedAt uint64 `json:"added_at"`
}

const (
	metaFileName    = "partition.meta"
	metaVersion     = 1
	metaMagic       = 0x53484d54 // "SHMT"
	metaHeaderSize  = 8
	metaMaxFileSize = 256 << 20
)

// encodeMeta returns the file bytes: magic, CRC32C of the JSON body, the body.
func encodeMeta(m partitionMeta) []byte {
	body, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("storage: marshal partition meta: %v", err)) // only plain fields: cannot fail
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, metaHeaderSize+len(body)), metaMagic)
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(body, castagnoli))
	return append(buf, body...)
}

// decodeMeta parses and checks a meta file. It never panics.
func decodeMeta(b []byte) (partitionMeta, error) {
	var m partitionMeta
	if len(b) < metaHeaderSize || binary.LittleEndian.Uint32(b) != metaMagic {
		return m, errors.New("not a partition meta file (bad magic or short)")
	}
	body := b[metaHeaderSize:]
	if binary.LittleEndian.Uint32(b[4:]) != crc32.Checksum(body, castagnoli) {
		return m, errors.New("crc mismatch")
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return m, err
	}
	return m, m.check()
}

func (m partitionMeta) check() error {
	if m.Version != metaVersion {
		return fmt.Errorf("version %d, want %d", m.Version, metaVersion)
	}
	for i := 1; i < len(m.Epochs); i++ {
		if m.Epochs[i].Epoch <= m.Epochs[i-1].Epoch || m.Epochs[i].StartOffset < m.Epochs[i-1].StartOffset {
			return fmt.Errorf("epoch history out of order at %d: %v after %v", i, m.Epochs[i], m.Epochs[i-1])
		}
	}
	for i, t := range m.Tombstones {
		offset, by := t[0], t[1]
		if offset < m.LogStart || offset >= by || by >= m.TombstonesThrough || (i > 0 && offset <= m.Tombstones[i-1][0]) {
			return fmt.Errorf("tombstone %d (offset %d by %d) out of order or range", i, offset, by)
		}
	}
	return nil
}

// readMeta reads the partition's meta file; found is false when there is none yet.
func readMeta(fsys vfs.FS, dir string) (m partitionMeta, found bool, err error) {
	path := filepath.Join(dir, metaFileName)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return partitionMeta{Version: metaVersion}, false, nil
	}
	if err != nil {
		return m, false, err
	}
	defer f.Close()
	b, err := readWhole(f, metaMaxFileSize)
	if err != nil {
		return m, false, fmt.Errorf("read %s: %w", path, err)
	}
	if m, err = decodeMeta(b); err != nil {
		return m, false, fmt.Errorf("%w: %s: %w (restore it from a replica, or move the partition directory aside)", ErrCorrupt, path, err)
	}
	return m, true, nil
}

// writeMeta replaces the meta file atomically and durably.
func writeMeta(fsys vfs.FS, dir string, m partitionMeta) error {
	m.Version = metaVersion
	return vfs.WriteFileAtomic(fsys, dir, metaFileName, encodeMeta(m))
}

// readWhole reads a whole file of at most limit bytes.
func readWhole(f vfs.File, limit int64) ([]byte, error) {
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("%d bytes, above the limit of %d", size, limit)
	}
	b := make([]byte, size)
	n, err := f.ReadAt(b, 0)
	if int64(n) == size {
		err = nil
	}
	return b[:n], err
}
