package image

import (
	"bytes"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// mapFS is the read-only fs.FS of Layout.ESP: files by slash-separated
// path, with their directories implied.
type mapFS map[string][]byte

func (m mapFS) clean() (files map[string][]byte, dirs map[string][]string) {
	files = map[string][]byte{}
	dirs = map[string][]string{".": nil}
	for p, b := range m {
		p = strings.TrimPrefix(path.Clean("/"+p), "/")
		if p == "" || p == "." {
			continue
		}
		files[p] = b
		for child, dir := p, path.Dir(p); ; child, dir = dir, path.Dir(dir) {
			if !contains(dirs[dir], path.Base(child)) {
				dirs[dir] = append(dirs[dir], path.Base(child))
			}
			if dir == "." {
				break
			}
			if _, ok := dirs[dir]; !ok {
				dirs[dir] = nil
			}
		}
	}
	for _, names := range dirs {
		sort.Strings(names)
	}
	return files, dirs
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// Open opens a file or directory of the map.
func (m mapFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	files, dirs := m.clean()
	if b, ok := files[name]; ok {
		if _, isDir := dirs[name]; !isDir {
			return &mapFile{info: mapInfo{name: path.Base(name), size: int64(len(b))}, r: bytes.NewReader(b)}, nil
		}
	}
	if names, ok := dirs[name]; ok {
		d := &mapDir{info: mapInfo{name: path.Base(name), dir: true}}
		for _, n := range names {
			p := path.Join(name, n)
			_, isDir := dirs[p]
			d.ents = append(d.ents, fs.FileInfoToDirEntry(mapInfo{name: n, dir: isDir, size: int64(len(files[p]))}))
		}
		return d, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

type mapInfo struct {
	name string
	dir  bool
	size int64
}

func (i mapInfo) Name() string { return i.name }
func (i mapInfo) Size() int64  { return i.size }
func (i mapInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i mapInfo) ModTime() time.Time { return time.Time{} }
func (i mapInfo) IsDir() bool        { return i.dir }
func (i mapInfo) Sys() any           { return nil }

type mapFile struct {
	info mapInfo
	r    *bytes.Reader
}

func (f *mapFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *mapFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *mapFile) Close() error               { return nil }

type mapDir struct {
	info mapInfo
	ents []fs.DirEntry
}

func (d *mapDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *mapDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}
func (d *mapDir) Close() error { return nil }
func (d *mapDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		e := d.ents
		d.ents = nil
		return e, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.ents))
	e := d.ents[:k]
	d.ents = d.ents[k:]
	return e, nil
}
