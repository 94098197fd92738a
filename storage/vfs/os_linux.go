package vfs

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// datasync calls fdatasync(2): it skips the inode timestamps that fsync would also write, which
// the log never reads, and still persists the file size when an append changed it.
//
// It goes through SyscallConn rather than f.Fd() because RawConn.Control holds a reference on the
// descriptor for the duration of the call, so a concurrent Close cannot hand the number to another
// file while we sync it, and it leaves the descriptor's blocking mode alone.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	var syncErr error
	ctlErr := rc.Control(func(fd uintptr) {
		for {
			syncErr = syscall.Fdatasync(int(fd))
			if syncErr != syscall.EINTR {
				return
			}
		}
	})
	if ctlErr != nil {
		// Control fails only when it cannot take a reference on the descriptor, i.e. the file
		// is closed; say so in the terms of the os package so errors.Is(err, os.ErrClosed) works.
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: os.ErrClosed}
	}
	if syncErr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: syncErr}
	}
	return nil
}

// Lock takes a flock(2) on name: exclusive, non-blocking, released by Close or by the process's
// death (so a crashed node never leaves a stale lock behind).
func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var lockErr error
	if err := rc.Control(func(fd uintptr) {
		lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		lockErr = err
	}
	if lockErr != nil {
		f.Close()
		if errors.Is(lockErr, syscall.EWOULDBLOCK) {
			return nil, &os.PathError{Op: "lock", Path: name, Err: ErrLocked}
		}
		return nil, &os.PathError{Op: "lock", Path: name, Err: lockErr}
	}
	return f, nil
}
