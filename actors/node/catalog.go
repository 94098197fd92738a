package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Limits of the catalog.
const (
	// MaxTopicNameBytes is Kafka's limit on a topic name.
	MaxTopicNameBytes = 249
	// MaxPartitionsPerTopic bounds a topic's partitions.
	MaxPartitionsPerTopic = 10_000
	// MaxReplication bounds a topic's replication factor.
	MaxReplication = 7
	// catalogVersion is the format of catalog.json; a newer one is refused.
	catalogVersion = 1
	// maxCatalogBytes bounds what is read from catalog.json.
	maxCatalogBytes = 64 << 20
	// internalTopicPrefix marks topics the broker keeps for itself (the cluster's __meta).
	internalTopicPrefix = "__"
)

// File and directory names in the data dir.
const (
	catalogFile     = "catalog.json"
	catalogLockFile = "catalog.lock"
	topicsDir       = "topics"
	deletedDir      = "deleted"
)

// TopicSettings are a topic's settings as the catalog keeps them (defaults already applied).
type TopicSettings struct {
	Name        string `json:"name"`
	Partitions  int32  `json:"partitions"`
	Replication int16  `json:"replication"`
	// RetentionMs and RetentionBytes bound each partition by age and size; 0 means no bound.
	RetentionMs    int64 `json:"retention_ms,omitempty"`
	RetentionBytes int64 `json:"retention_bytes,omitempty"`
	// Assignment is each partition's replica set when the topic was created, in ring order
	// (cluster only; a partition's log holds its current set).
	Assignment [][]string `json:"assignment,omitempty"`
	// Created is the catalog (__meta) offset of the record that created the topic (cluster
	// only): placement takes topics in this order, so a new topic leaves older ones in place.
	Created uint64 `json:"created,omitempty"`
}

type catalogContents struct {
	Version int             `json:"version"`
	Topics  []TopicSettings `json:"topics"`
	// MetaApplied is the end of the __meta log applied to this catalog (cluster only): a
	// restart follows the catalog from there.
	MetaApplied uint64 `json:"meta_applied,omitempty"`
	// Ops are the operator's decisions applied from the cluster catalog.
	Ops *Operations `json:"ops,omitempty"`
}

// ValidateTopicName checks a topic name against Kafka's rules: 1 to 249 characters from
// [a-zA-Z0-9._-], not "." or "..". Names starting with "__" are reserved for internal topics.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return protocol.Errorf(protocol.ErrInvalidArgument, "topic name is empty")
	case len(name) > MaxTopicNameBytes:
		return protocol.Errorf(protocol.ErrInvalidArgument, "topic name of %d characters: at most %d", len(name), MaxTopicNameBytes)
	case name == "." || name == "..":
		return protocol.Errorf(protocol.ErrInvalidArgument, "topic name %q is not allowed", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		// Printable ASCII but the path separators and the quote: Redis users name streams
		// "app:events" or "{tenant}.orders"; the name is a directory of the data dir.
		if c <= ' ' || c > '~' || c == '/' || c == '\\' || c == '"' {
			return protocol.Errorf(protocol.ErrInvalidArgument, "topic name %q: character %q at %d; use printable ASCII without spaces, '/', '\\' or '\"'", name, c, i)
		}
	}
	if len(name) >= len(internalTopicPrefix) && name[:len(internalTopicPrefix)] == internalTopicPrefix {
		return protocol.Errorf(protocol.ErrInvalidArgument, "topic name %q: names starting with %q are reserved for internal topics", name, internalTopicPrefix)
	}
	return nil
}

// readCatalog reads catalog.json; a missing file is an empty catalog.
func readCatalog(fsys vfs.FS, dataDir string) ([]TopicSettings, bool, error) {
	c, found, err := readCatalogContents(fsys, dataDir)
	return c.Topics, found, err
}

// readCatalogContents reads catalog.json with the applied end of the cluster catalog.
func readCatalogContents(fsys vfs.FS, dataDir string) (catalogContents, bool, error) {
	var none catalogContents
	path := filepath.Join(dataDir, catalogFile)
	data, err := vfs.ReadFile(fsys, path, maxCatalogBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return none, false, nil
	}
	if err != nil {
		return none, false, fmt.Errorf("node: read %s: %w", path, err)
	}
	var c catalogContents
	if err := json.Unmarshal(data, &c); err != nil {
		return none, false, fmt.Errorf("node: %s is not a catalog (%w): restore it from a backup, or move it away to start empty", path, err)
	}
	if c.Version != catalogVersion {
		return none, false, fmt.Errorf("node: %s has version %d; this build reads version %d", path, c.Version, catalogVersion)
	}
	for _, t := range c.Topics {
		if err := checkSettings(t); err != nil {
			return none, false, fmt.Errorf("node: %s: %w", path, err)
		}
	}
	return c, true, nil
}

// checkSettings validates settings with defaults applied.
func checkSettings(t TopicSettings) error {
	if err := ValidateTopicName(t.Name); err != nil {
		return err
	}
	if t.Partitions < 1 || t.Partitions > MaxPartitionsPerTopic {
		return protocol.Errorf(protocol.ErrInvalidArgument, "topic %q: %d partitions; use 1 to %d", t.Name, t.Partitions, MaxPartitionsPerTopic)
	}
	if t.Replication < 1 || t.Replication > MaxReplication {
		return protocol.Errorf(protocol.ErrInvalidArgument, "topic %q: replication %d; use 1 to %d", t.Name, t.Replication, MaxReplication)
	}
	if t.RetentionMs < 0 || t.RetentionBytes < 0 {
		return protocol.Errorf(protocol.ErrInvalidArgument, "topic %q: negative retention (%d ms, %d bytes)", t.Name, t.RetentionMs, t.RetentionBytes)
	}
	return nil
}

// writeCatalog replaces catalog.json atomically: temp file, fsync, rename, fsync the directory.
func writeCatalog(fsys vfs.FS, dataDir string, topics []TopicSettings, metaApplied uint64, ops ...Operations) error {
	sorted := slices.Clone(topics)
	slices.SortFunc(sorted, func(a, b TopicSettings) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	if sorted == nil {
		sorted = []TopicSettings{}
	}
	contents := catalogContents{Version: catalogVersion, Topics: sorted, MetaApplied: metaApplied}
	if len(ops) > 0 && (len(ops[0].Nodes) > 0 || ops[0].Paused) {
		contents.Ops = &ops[0]
	}
	data, err := json.MarshalIndent(contents, "", "  ")
	if err != nil {
		return fmt.Errorf("node: encode the catalog: %w", err)
	}
	return vfs.WriteFileAtomic(fsys, dataDir, catalogFile, append(data, '\n'))
}

// partitionDirs returns the partition numbers found under a topic directory: the names that are
// decimal numbers, sorted.
func partitionDirs(fsys vfs.FS, topicDir string) ([]int32, error) {
	names, err := fsys.ReadDir(topicDir)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, name := range names {
		id, err := strconv.ParseInt(name, 10, 32)
		if err == nil && id >= 0 && strconv.FormatInt(id, 10) == name {
			ids = append(ids, int32(id))
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// removeAll removes path and everything below it. vfs has no RemoveAll: a directory is listed
// and emptied first.
func removeAll(fsys vfs.FS, path string) error {
	names, err := fsys.ReadDir(path)
	if err == nil {
		for _, name := range names {
			if err := removeAll(fsys, filepath.Join(path, name)); err != nil {
				return err
			}
		}
	}
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
