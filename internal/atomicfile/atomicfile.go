// Package atomicfile writes files atomically: into a temporary file in the
// destination's directory, fsynced, then renamed over the destination, with
// the directory fsynced after. A write that fails or is abandoned leaves
// nothing behind; one whose process was killed leaves a temporary that
// [Reclaim] removes on the next run (the writer holds it under a flock, so
// a live writer's temporary is never taken).
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/internal/reclaim"
)

// tmpSuffix ends the name of every temporary file: ".NAME.tmp-RANDOM.partial".
const tmpSuffix = ".partial"

// File is a file being written atomically. Write to it, then Commit; Close
// (or Abort) without Commit removes the temporary file.
type File struct {
	*os.File
	path string
	perm os.FileMode
	done bool
}

// Create starts an atomic write of path with permission perm.
func Create(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	for {
		f, err := os.CreateTemp(dir, "."+base+".tmp-*"+tmpSuffix)
		if err != nil {
			return nil, fmt.Errorf("atomicfile: %w", err)
		}
		ok, err := reclaim.Lock(f, f.Name())
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("atomicfile: %w", err)
		}
		if ok {
			return &File{File: f, path: path, perm: perm}, nil
		}
		f.Close() // reclaimed before it was locked: another name
	}
}

// IsTemp reports whether name is the name of a temporary file of this
// package.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") && strings.HasSuffix(name, tmpSuffix)
}

// Reclaim removes from dir the temporary files of writers that died
// (killed before Commit or Abort) and returns their names. Temporaries of
// live writers, in this process or another, are left alone.
func Reclaim(dir string) ([]string, error) {
	removed, err := reclaim.Files(dir, IsTemp)
	if err != nil {
		return removed, fmt.Errorf("atomicfile: %w", err)
	}
	return removed, nil
}

// ReclaimFor removes the temporary files that writers of path killed
// before they finished left beside it, and returns their names. Only
// path's own temporaries are looked at, so a writer of a large file can
// call it before it starts without touching its neighbours' work.
func ReclaimFor(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	prefix := "." + base + ".tmp-"
	removed, err := reclaim.Files(dir, func(name string) bool {
		return IsTemp(name) && strings.HasPrefix(name, prefix)
	})
	if err != nil {
		return removed, fmt.Errorf("atomicfile: %w", err)
	}
	return removed, nil
}

// Path returns the destination path.
func (f *File) Path() string { return f.path }

// Commit syncs the data, closes the file, sets its mode, renames it over the
// destination and syncs the directory.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	tmp := f.File.Name()
	// Renamed while still open, so still locked: a reclaimer never sees
	// the temporary unlocked.
	err := f.File.Sync()
	if err == nil {
		err = f.File.Chmod(f.perm)
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("atomicfile: commit %s: %w", f.path, err)
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort removes the temporary file. It is safe to call after Commit, where
// it does nothing, so `defer f.Abort()` is the idiom.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	tmp := f.File.Name()
	err := os.Remove(tmp) // before Close: removed while locked
	f.File.Close()
	return err
}

// Close aborts the write unless it was committed.
func (f *File) Close() error { return f.Abort() }

// WriteFile writes the output of write to path atomically.
func WriteFile(path string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
}

// WriteBytes writes b to path atomically.
func WriteBytes(path string, perm os.FileMode, b []byte) error {
	return WriteFile(path, perm, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// SyncDir fsyncs a directory so that a rename into it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync dir %s: %w", dir, err)
	}
	return nil
}
