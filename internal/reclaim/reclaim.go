// Package reclaim lets a run take back what a dead run left behind, and
// never what a live one is using: every temporary file or directory is held
// under an exclusive flock(2) by the process that made it, for as long as
// it exists. The kernel drops the lock when the process dies, however it
// dies (kill -9 included), so a temporary whose lock can be taken belongs
// to nobody and may be removed.
//
// The protocol closes the window between creating a file and locking it:
// the maker locks the file it created, then checks that its name still
// refers to it (a reclaimer that took the lock in between has removed the
// name, and the maker starts again); a reclaimer removes a name only while
// it holds the lock of the very file the name refers to.
package reclaim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Lock takes the exclusive lock of f, just created at path by this
// process, and reports whether path still refers to f: if not, a reclaimer
// removed it before the lock was taken, and the caller must close f and
// create another.
func Lock(f *os.File, path string) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return false, fmt.Errorf("reclaim: lock %s: %w", path, err)
		}
	}
	return same(f, path), nil
}

// same reports whether path names the file f has open.
func same(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, pi)
}

// tryLock opens path and takes its lock without waiting. It returns nil
// (and no error) when the lock is held by a live process or the name is
// gone.
func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ELOOP) {
			return nil, nil
		}
		return nil, fmt.Errorf("reclaim: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, nil // alive
		}
		return nil, fmt.Errorf("reclaim: lock %s: %w", path, err)
	}
	if !same(f, path) {
		f.Close()
		return nil, nil
	}
	return f, nil
}

// Files removes the regular files of dir whose names match and whose lock
// is free: temporaries of dead processes. It returns the names removed. A
// missing dir has nothing to reclaim.
func Files(dir string, match func(name string) bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reclaim: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() || !match(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := tryLock(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if f == nil {
			continue
		}
		err = os.Remove(p) // while locked: the name is the locked file's
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("reclaim: %w", err))
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// lockSuffix names a temporary directory's lock file: DIR.lock beside DIR.
const lockSuffix = ".lock"

// Dir is a temporary directory held by this process.
type Dir struct {
	path string
	lock *os.File
}

// TempDir creates a new directory in parent whose name starts with prefix,
// held by this process until Remove: its lock file (the same name with
// ".lock") is created and locked before the directory exists, and removed
// after it.
func TempDir(parent, prefix string) (*Dir, error) {
	if strings.ContainsRune(prefix, os.PathSeparator) {
		return nil, fmt.Errorf("reclaim: prefix %q holds a path separator", prefix)
	}
	for {
		f, err := os.CreateTemp(parent, prefix+"*"+lockSuffix)
		if err != nil {
			return nil, fmt.Errorf("reclaim: %w", err)
		}
		ok, err := Lock(f, f.Name())
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		if !ok {
			f.Close()
			continue // reclaimed before it was locked: another name
		}
		dir := strings.TrimSuffix(f.Name(), lockSuffix)
		if err := os.Mkdir(dir, 0o755); err != nil {
			os.Remove(f.Name())
			f.Close()
			return nil, fmt.Errorf("reclaim: %w", err)
		}
		return &Dir{path: dir, lock: f}, nil
	}
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// Remove removes the directory, then its lock file, and releases the lock.
// A second call does nothing.
func (d *Dir) Remove() error {
	if d.lock == nil {
		return nil
	}
	err := os.RemoveAll(d.path)
	if err == nil {
		err = os.Remove(d.lock.Name())
	}
	d.lock.Close()
	d.lock = nil
	if err != nil {
		return fmt.Errorf("reclaim: %w", err)
	}
	return nil
}

// Dirs removes the directories in parent made by [TempDir] with prefix
// whose makers are dead (their lock is free), with their lock files, and
// returns the directory names removed. A directory without a lock file is
// left alone: nothing proves its maker dead.
func Dirs(parent, prefix string) ([]string, error) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reclaim: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, lockSuffix) {
			continue
		}
		lp := filepath.Join(parent, name)
		f, err := tryLock(lp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if f == nil {
			continue
		}
		dir := strings.TrimSuffix(name, lockSuffix)
		err = os.RemoveAll(filepath.Join(parent, dir))
		if err == nil {
			err = os.Remove(lp)
		}
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("reclaim: %w", err))
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}
