package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalmq/shoal/storage/vfs"
)

// The node's files at the top of its data dir.
const (
	nodeIDFile    = "node.id"
	clusterIDFile = "cluster.id"
	dataLockFile  = "shoal.lock"
)

// openDataDir creates the data dir if needed, locks it for this process, and returns the node id
// kept in it: the one written at the first start (from --node-id, or generated), which a later
// --node-id must match. The returned Closer releases the lock.
func openDataDir(dir, wantID string) (nodeID string, unlock io.Closer, err error) {
	fsys := vfs.OS()
	// Durably (its entry in its parent synced): node.id is written in it next, and a power loss
	// must not take the dir back and bring the node up empty under a new id.
	if err := vfs.MkdirAllDurably(fsys, dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("cannot create data dir %s: %w", dir, err)
	}
	lock, err := fsys.Lock(filepath.Join(dir, dataLockFile))
	if errors.Is(err, vfs.ErrLocked) {
		return "", nil, fmt.Errorf("data dir %s is in use by another shoal process: stop it, or give this one another --data-dir", dir)
	}
	if err != nil {
		return "", nil, fmt.Errorf("cannot lock data dir %s: %w", dir, err)
	}
	nodeID, err = nodeIdentity(fsys, dir, wantID)
	if err != nil {
		lock.Close()
		return "", nil, err
	}
	return nodeID, lock, nil
}

func nodeIdentity(fsys vfs.FS, dir, wantID string) (string, error) {
	path := filepath.Join(dir, nodeIDFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		stored := strings.TrimSpace(string(data))
		if !validNodeID(stored) {
			return "", fmt.Errorf("%s holds %q, which is not a node id: fix or remove the file", path, stored)
		}
		if wantID != "" && wantID != stored {
			return "", fmt.Errorf("data dir %s belongs to node %q, not %q: use --node-id %s, or another --data-dir", dir, stored, wantID, stored)
		}
		return stored, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	id := wantID
	if id == "" {
		var random [4]byte
		if _, err := rand.Read(random[:]); err != nil {
			return "", err
		}
		id = "node-" + hex.EncodeToString(random[:])
	}
	if err := vfs.WriteFileAtomic(fsys, dir, nodeIDFile, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", path, err)
	}
	return id, nil
}

// readClusterID returns the cluster id kept in the data dir, or "" when the node has never been
// part of a cluster.
func readClusterID(dir string) (string, error) {
	path := filepath.Join(dir, clusterIDFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	id := strings.TrimSpace(string(data))
	if !validNodeID(id) { // cluster ids have the node ids' alphabet and length
		return "", fmt.Errorf("%s holds %q, which is not a cluster id: fix or remove the file", path, id)
	}
	return id, nil
}

// writeClusterID keeps the cluster id in the data dir (written atomically and fsynced), so that
// a restarted node refuses to join any other cluster.
func writeClusterID(dir, id string) error {
	if err := vfs.WriteFileAtomic(vfs.OS(), dir, clusterIDFile, []byte(id+"\n")); err != nil {
		return fmt.Errorf("cannot write %s: %w", filepath.Join(dir, clusterIDFile), err)
	}
	return nil
}

// newClusterID returns a fresh random cluster id: 16 bytes of crypto/rand in hex.
func newClusterID() (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", fmt.Errorf("cannot generate a cluster id: %w", err)
	}
	return hex.EncodeToString(random[:]), nil
}
