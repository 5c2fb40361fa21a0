package osconfig_test

import (
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing/fstest"
	"time"

	"github.com/hardvm/hardvm/image/osconfig"
)

// memTree is an in-memory osconfig.Tree for tests: fstest.MapFS for reads
// (through a view that resolves symlinks inside the tree), owners on the
// side.
type memTree struct {
	files  fstest.MapFS
	owners map[string]osconfig.Owner
}

func newTree() *memTree {
	return &memTree{files: fstest.MapFS{}, owners: map[string]osconfig.Owner{}}
}

// resolve follows symlinks in name's directories (and the final component
// when follow), inside the tree.
func (t *memTree) resolve(name string, follow bool) (string, error) {
	parts := strings.Split(name, "/")
	cur := ""
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		next := p
		if cur != "" {
			next = cur + "/" + p
		}
		f, ok := t.files[next]
		if ok && f.Mode&fs.ModeSymlink != 0 && (follow || len(parts) > 0) {
			if hops++; hops > 40 {
				return "", fs.ErrInvalid
			}
			target := string(f.Data)
			if strings.HasPrefix(target, "/") {
				cur = ""
				target = strings.TrimPrefix(target, "/")
			}
			parts = append(strings.Split(target, "/"), parts...)
			continue
		}
		if p == ".." {
			cur = path.Dir(cur)
			if cur == "." {
				cur = ""
			}
			continue
		}
		if p == "." || p == "" {
			continue
		}
		cur = next
	}
	if cur == "" {
		return ".", nil
	}
	return cur, nil
}

func (t *memTree) Open(name string) (fs.File, error) {
	n, err := t.resolve(name, true)
	if err != nil {
		return nil, err
	}
	return t.files.Open(n)
}

func (t *memTree) ReadFile(name string) ([]byte, error) {
	n, err := t.resolve(name, true)
	if err != nil {
		return nil, err
	}
	return t.files.ReadFile(n)
}

func (t *memTree) Stat(name string) (fs.FileInfo, error) {
	n, err := t.resolve(name, true)
	if err != nil {
		return nil, err
	}
	return t.files.Stat(n)
}

func (t *memTree) Lstat(name string) (fs.FileInfo, error) {
	n, err := t.resolve(name, false)
	if err != nil {
		return nil, err
	}
	return t.files.Lstat(n)
}

func (t *memTree) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.resolve(name, true)
	if err != nil {
		return nil, err
	}
	ents, err := t.files.ReadDir(n)
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents, err
}

func (t *memTree) ReadLink(name string) (string, error) {
	n, err := t.resolve(name, false)
	if err != nil {
		return "", err
	}
	f, ok := t.files[n]
	if !ok || f.Mode&fs.ModeSymlink == 0 {
		return "", fs.ErrInvalid
	}
	return string(f.Data), nil
}

func (t *memTree) Owner(name string) (osconfig.Owner, error) {
	n, err := t.resolve(name, false)
	if err != nil {
		return osconfig.Owner{}, err
	}
	return t.owners[n], nil
}

func (t *memTree) parent(name string) (string, error) {
	d := path.Dir(name)
	if d == "." {
		return "", nil
	}
	fi, err := t.Stat(d)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fs.ErrInvalid
	}
	return t.resolve(d, true)
}

func (t *memTree) WriteFile(name string, data []byte, perm fs.FileMode, o osconfig.Owner) error {
	dir, err := t.parent(name)
	if err != nil {
		return err
	}
	n := path.Join(dir, path.Base(name))
	if f, ok := t.files[n]; ok && f.Mode.IsDir() {
		return &fs.PathError{Op: "write", Path: n, Err: fs.ErrExist}
	}
	t.files[n] = &fstest.MapFile{Data: append([]byte(nil), data...), Mode: perm, ModTime: time.Unix(0, 0)}
	t.owners[n] = o
	return nil
}

func (t *memTree) Mkdir(name string, perm fs.FileMode, o osconfig.Owner) error {
	dir, err := t.parent(name)
	if err != nil {
		return err
	}
	n := path.Join(dir, path.Base(name))
	if f, ok := t.files[n]; ok && !f.Mode.IsDir() {
		return &fs.PathError{Op: "mkdir", Path: n, Err: fs.ErrExist}
	}
	t.files[n] = &fstest.MapFile{Mode: fs.ModeDir | perm}
	t.owners[n] = o
	return nil
}

func (t *memTree) Symlink(target, name string) error {
	dir, err := t.parent(name)
	if err != nil {
		return err
	}
	n := path.Join(dir, path.Base(name))
	if _, ok := t.files[n]; ok {
		return &fs.PathError{Op: "symlink", Path: n, Err: fs.ErrExist}
	}
	t.files[n] = &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
	return nil
}

func (t *memTree) Link(oldname, newname string) error {
	o, err := t.resolve(oldname, false)
	if err != nil {
		return err
	}
	f, ok := t.files[o]
	if !ok || !f.Mode.IsRegular() {
		return fs.ErrInvalid
	}
	dir, err := t.parent(newname)
	if err != nil {
		return err
	}
	n := path.Join(dir, path.Base(newname))
	t.files[n] = f // the same MapFile: a hardlink
	t.owners[n] = t.owners[o]
	return nil
}

func (t *memTree) Remove(name string) error {
	n, err := t.resolve(name, false)
	if err != nil {
		return err
	}
	f, ok := t.files[n]
	if !ok {
		return fs.ErrNotExist
	}
	if f.Mode.IsDir() {
		for k := range t.files {
			if strings.HasPrefix(k, n+"/") {
				return fs.ErrInvalid
			}
		}
	}
	delete(t.files, n)
	delete(t.owners, n)
	return nil
}

// put adds files for a test: a name ending in "/" is a directory, "->"
// in the content makes a symlink.
func (t *memTree) put(entries map[string]string) *memTree {
	for name, content := range entries {
		switch {
		case strings.HasSuffix(name, "/"):
			t.files[strings.TrimSuffix(name, "/")] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		case strings.HasPrefix(content, "->"):
			t.files[name] = &fstest.MapFile{Data: []byte(strings.TrimPrefix(content, "->")), Mode: fs.ModeSymlink | 0o777}
		default:
			mode := fs.FileMode(0o644)
			if strings.Contains(name, "bin/") {
				mode = 0o755
			}
			t.files[name] = &fstest.MapFile{Data: []byte(content), Mode: mode}
		}
	}
	return t
}
