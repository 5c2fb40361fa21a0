package fips

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// maxLinks bounds the symbolic links followed while resolving one path, as
// Linux does (ELOOP after 40).
const maxLinks = 40

// fsPath turns an absolute image path into an fs.FS name.
func fsPath(abs string) string {
	p := strings.TrimPrefix(path.Clean("/"+abs), "/")
	if p == "" {
		return "."
	}
	return p
}

// resolve follows the image's own symbolic links in abs, inside the image:
// absolute targets start at the image root, never at the host's. It needs
// fsys to implement fs.ReadLinkFS; other file systems are trusted to resolve
// links themselves. It returns the resolved absolute path.
func resolve(fsys fs.FS, abs string) (string, error) {
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return path.Clean("/" + abs), nil
	}
	rest := strings.Split(strings.Trim(path.Clean("/"+abs), "/"), "/")
	done := "/"
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, part)
		fi, err := rl.Lstat(fsPath(next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if links++; links > maxLinks {
			return "", &fs.PathError{Op: "resolve", Path: abs, Err: errors.New("too many levels of symbolic links")}
		}
		target, err := rl.ReadLink(fsPath(next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	return done, nil
}

// open opens an absolute image path, following the image's symbolic links.
func open(fsys fs.FS, abs string) (fs.File, string, error) {
	p, err := resolve(fsys, abs)
	if err != nil {
		return nil, "", err
	}
	f, err := fsys.Open(fsPath(p))
	return f, p, err
}

// readFile reads a whole file of at most max bytes.
func readFile(fsys fs.FS, abs string, max int64) ([]byte, error) {
	f, _, err := open(fsys, abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: abs, Err: errors.New("is a directory")}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("fips: read %s: %w", abs, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, abs, max)
	}
	return data, nil
}

// exists reports whether an absolute image path exists (after links).
func exists(fsys fs.FS, abs string) bool {
	p, err := resolve(fsys, abs)
	if err != nil {
		return false
	}
	_, err = fs.Stat(fsys, fsPath(p))
	return err == nil
}

// glob returns the absolute image paths matching an absolute pattern, sorted.
// When only the last element has wildcards, the directory is resolved through
// the image's links first (/lib -> usr/lib in a merged-/usr image).
func glob(fsys fs.FS, pattern string) []string {
	dir, base := path.Split(path.Clean("/" + pattern))
	if !strings.ContainsAny(dir, `*?[\`) {
		if d, err := resolve(fsys, dir); err == nil {
			pattern = path.Join(d, base)
		}
	}
	m, err := fs.Glob(fsys, fsPath(pattern))
	if err != nil {
		return nil
	}
	out := make([]string, len(m))
	for i, p := range m {
		out[i] = "/" + p
	}
	return out
}

// notExist reports whether err says a file is missing.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
