package osconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Owner is the numeric owner of a file.
type Owner struct{ UID, GID uint32 }

// Tree is the root file system Apply configures. Names are slash-separated
// and relative to the root ("etc/passwd"); symlinks resolve inside the tree.
// image.Rootfs satisfies it through an adapter.
type Tree interface {
	fs.ReadFileFS
	fs.StatFS    // Stat follows symlinks
	fs.ReadDirFS // sorted by name
	Lstat(name string) (fs.FileInfo, error)
	ReadLink(name string) (string, error)
	// Owner returns the owner of name, not following a final symlink.
	Owner(name string) (Owner, error)
	// WriteFile creates or replaces the regular file name; its parent must
	// exist.
	WriteFile(name string, data []byte, perm fs.FileMode, owner Owner) error
	// Mkdir creates directory name (its parent must exist) or updates an
	// existing one to perm and owner.
	Mkdir(name string, perm fs.FileMode, owner Owner) error
	// Symlink creates the symlink name pointing at target.
	Symlink(target, name string) error
	// Link makes newname another name of the regular file oldname.
	Link(oldname, newname string) error
	// Remove removes a file, a symlink or an empty directory.
	Remove(name string) error
}

// state is one Apply's view of the tree: the files it wrote, for the report.
type state struct {
	t     Tree
	files map[string]bool
}

func errf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfigure}, args...)...)
}

func wrap(err error) error {
	if err == nil || errors.Is(err, ErrConfigure) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrConfigure, err)
}

// mkdirAll creates name and its missing parents, 0755 root:root.
func (s *state) mkdirAll(name string) error {
	if name == "." || name == "" {
		return nil
	}
	if fi, err := s.t.Stat(name); err == nil {
		if !fi.IsDir() {
			return errf("%s exists and is not a directory", name)
		}
		return nil
	}
	if err := s.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	return wrap(s.t.Mkdir(name, 0o755, Owner{}))
}

// write writes a file as root, making its parents, and records it.
func (s *state) write(name string, data []byte, perm fs.FileMode) error {
	return s.writeAs(name, data, perm, Owner{})
}

func (s *state) writeAs(name string, data []byte, perm fs.FileMode, o Owner) error {
	if err := s.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if err := s.t.WriteFile(name, data, perm, o); err != nil {
		return wrap(err)
	}
	s.files["/"+name] = true
	return nil
}

// symlink replaces whatever is at name (not a directory) with a symlink.
func (s *state) symlink(target, name string) error {
	if err := s.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if fi, err := s.t.Lstat(name); err == nil {
		if fi.IsDir() {
			return errf("%s is a directory: cannot make it a symlink to %s", name, target)
		}
		if err := s.t.Remove(name); err != nil {
			return wrap(err)
		}
	}
	if err := s.t.Symlink(target, name); err != nil {
		return wrap(err)
	}
	s.files["/"+name] = true
	return nil
}

// exists reports whether name exists (following symlinks).
func (s *state) exists(name string) bool {
	_, err := s.t.Stat(name)
	return err == nil
}

// binary finds an executable by name in the directories a merged-/usr or a
// split tree keeps them, returning its absolute path, "" if none.
func (s *state) binary(name string) string {
	for _, d := range []string{"usr/bin", "usr/sbin", "bin", "sbin", "usr/lib/systemd", "lib/systemd"} {
		p := d + "/" + name
		if fi, err := s.t.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return "/" + p
		}
	}
	return ""
}

func appendLine(b []byte, line string) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(append(b, line...), '\n')
}

// lines splits a text file into its lines, without the final newline.
func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
