package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/erofs/go-erofs"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/image"
)

// Bounds of a root file system read into memory for `fips check`: the files
// of a minimal image are small, and a bigger one is an error, not an OOM.
const (
	maxTarFile  = 256 << 20
	maxTarTotal = 2 << 30
	maxTarFiles = 500000
)

func init() {
	addCommand(func(e *env) *cobra.Command {
		return group("fips", "check images for kernel-independent FIPS", "hardvm fips check out/disk.raw", newFIPSCheckCmd(e))
	})
}

func newFIPSCheckCmd(e *env) *cobra.Command {
	return leaf(e, "fips check", "check a root file system for kernel-independent FIPS", "fips check [--json] [--openssl-config PATH] [--deny PATTERN]... [--cmdline PATH]... DISK.raw|ROOTFS.tar[.gz]|ROOT.erofs|ROOTFS-DIR",
		"hardvm fips check --json rootfs.tar", func(fl *pflag.FlagSet) runFunc {
			asJSON := fl.Bool("json", false, "print the report as JSON (the predicate of the attested report)")
			conf := fl.String("openssl-config", "", "openssl.cnf in the image (default /etc/ssl/openssl.cnf)")
			var deny, cmdlines multiFlag
			fl.Var(&deny, "deny", "package name pattern of a non-validated crypto library (repeatable; replaces the default deny-list)")
			fl.Var(&cmdlines, "cmdline", "another file in the image holding a kernel command line (repeatable)")
			return func(ctx context.Context, args []string) error {
				if fl.NArg() != 1 {
					return usagef("want exactly one ROOTFS.tar or directory, got %d arguments", fl.NArg())
				}
				var opts []fips.Option
				if *conf != "" {
					opts = append(opts, fips.WithOpenSSLConfig(*conf))
				}
				if len(deny) > 0 {
					opts = append(opts, fips.WithDenyList(deny...))
				}
				if len(cmdlines) > 0 {
					opts = append(opts, fips.WithKernelCmdline(cmdlines...))
				}
				root, closeRoot, err := openRoot(fl.Arg(0))
				if err != nil {
					return err
				}
				defer closeRoot()
				report, err := fips.Check(ctx, root, opts...)
				if report == nil {
					if errors.Is(err, fips.ErrOption) {
						return usageError{err}
					}
					return err
				}
				if *asJSON {
					if err := writeJSONOut(e.stdout, report); err != nil {
						return err
					}
				} else {
					fmt.Fprint(e.stdout, report)
				}
				if err != nil {
					n := 0
					for _, r := range report.Results {
						if r.Status == fips.Fail {
							n++
						}
					}
					return fmt.Errorf("%s: not kernel-independent FIPS: %d of %d checks failed", fl.Arg(0), n, len(report.Results))
				}
				return nil
			}
		})
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
func (m *multiFlag) Type() string       { return "stringArray" }

// erofsMagic is the EROFS superblock magic, little-endian at byte 1024.
var erofsMagic = []byte{0xe2, 0xe1, 0xf5, 0xe0}

// openRoot opens a root file system: a directory (read through os.DirFS,
// whose links fips resolves inside the root), an EROFS image (the root
// partition of a hardvm disk) read in place, or a tar, plain or gzipped,
// read into memory. A whole raw disk needs a GPT reader that image does not
// expose yet. close releases the file behind the FS.
func openRoot(name string) (root fs.FS, close func(), err error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		return os.DirFS(name), func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	magic := make([]byte, 4)
	if _, err := f.ReadAt(magic, 1024); err == nil && bytes.Equal(magic, erofsMagic) {
		img, err := erofs.Open(f)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		return img, func() { f.Close() }, nil
	}
	// A raw disk hardvm assembled: its verified root partition.
	if sig := make([]byte, 8); func() bool { _, err := f.ReadAt(sig, 512); return err == nil }() && string(sig) == "EFI PART" {
		part, _, err := image.OpenRoot(context.Background(), f, fi.Size())
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		img, err := erofs.Open(part)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: root partition: %w", name, err)
		}
		return img, func() { f.Close() }, nil
	}
	defer f.Close()
	m, err := readTarFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w (want a raw disk, a root file system as tar or tar.gz, an EROFS image or a directory)", name, err)
	}
	return m, func() {}, nil
}

// readTarFile reads a plain or gzipped tar into memory.
func readTarFile(f io.Reader) (*memFS, error) {
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	return readTar(r)
}

// readTar reads a tar of a root file system into memory: regular files,
// directories, symbolic and hard links. Later entries replace earlier ones,
// as when the tar is extracted.
func readTar(r io.Reader) (*memFS, error) {
	m := newMemFS()
	tr := tar.NewReader(r)
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if n >= maxTarFiles {
			return nil, fmt.Errorf("more than %d entries", maxTarFiles)
		}
		name := cleanName(h.Name)
		if name == "." && h.Typeflag != tar.TypeDir {
			continue
		}
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			m.add(name, &memNode{mode: fs.ModeDir | mode, mtime: h.ModTime})
		case tar.TypeReg:
			if h.Size > maxTarFile {
				return nil, fmt.Errorf("%s: %d bytes is more than the %d a root file is read with", h.Name, h.Size, maxTarFile)
			}
			if total += h.Size; total > maxTarTotal {
				return nil, fmt.Errorf("more than %d bytes of files", maxTarTotal)
			}
			data, err := io.ReadAll(io.LimitReader(tr, h.Size))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", h.Name, err)
			}
			m.add(name, &memNode{mode: mode, data: data, mtime: h.ModTime})
		case tar.TypeSymlink:
			m.add(name, &memNode{mode: fs.ModeSymlink | 0o777, target: h.Linkname, mtime: h.ModTime})
		case tar.TypeLink:
			src := m.nodes[cleanName(h.Linkname)]
			if src == nil || src.mode.Type() != 0 {
				return nil, fmt.Errorf("%s: hard link to %s, which is not an earlier regular file", h.Name, h.Linkname)
			}
			m.add(name, &memNode{mode: src.mode, data: src.data, mtime: src.mtime})
		default:
			// Devices, FIFOs: nothing the checks read.
		}
	}
	return m, nil
}

func cleanName(n string) string {
	p := strings.TrimPrefix(path.Clean("/"+n), "/")
	if p == "" {
		return "."
	}
	return p
}

// memFS is a read-only in-memory tree with symbolic links. Open follows
// links inside the tree; ReadLink and Lstat expose them (fs.ReadLinkFS).
type memFS struct {
	nodes map[string]*memNode
}

type memNode struct {
	mode     fs.FileMode
	data     []byte
	target   string
	mtime    time.Time
	children []string // names of the entries of a directory, sorted
}

func newMemFS() *memFS {
	return &memFS{nodes: map[string]*memNode{".": {mode: fs.ModeDir | 0o755}}}
}

func (m *memFS) add(name string, n *memNode) {
	if old := m.nodes[name]; old != nil {
		if old.mode.IsDir() && n.mode.IsDir() {
			old.mode, old.mtime = n.mode, n.mtime
			return
		}
		if old.mode.IsDir() {
			n.children = old.children
		}
		m.nodes[name] = n
		return
	}
	m.nodes[name] = n
	for name != "." {
		dir, base := path.Dir(name), path.Base(name)
		parent := m.nodes[dir]
		created := parent == nil
		if created {
			parent = &memNode{mode: fs.ModeDir | 0o755}
			m.nodes[dir] = parent
		}
		if i, found := slices.BinarySearch(parent.children, base); !found {
			parent.children = slices.Insert(parent.children, i, base)
		}
		if !created {
			return
		}
		name = dir
	}
}

// lookup resolves name, following links in every element (and in the last
// one if follow is set), inside the tree.
func (m *memFS) lookup(op, name string, follow bool) (string, *memNode, error) {
	if !fs.ValidPath(name) {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	rest := strings.Split(name, "/")
	cur := "."
	for links := 0; len(rest) > 0; {
		part := rest[0]
		rest = rest[1:]
		if part == "." || part == "" {
			continue
		}
		if part == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		n := m.nodes[next]
		if n == nil {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if n.mode&fs.ModeSymlink != 0 && (len(rest) > 0 || follow) {
			if links++; links > 40 {
				return "", nil, &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
			}
			if strings.HasPrefix(n.target, "/") {
				cur = "."
			}
			rest = append(strings.Split(n.target, "/"), rest...)
			continue
		}
		cur = next
	}
	return cur, m.nodes[cur], nil
}

func (m *memFS) Open(name string) (fs.File, error) {
	p, n, err := m.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: m, name: p, node: n, r: bytes.NewReader(n.data)}, nil
}

func (m *memFS) ReadLink(name string) (string, error) {
	_, n, err := m.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.target, nil
}

func (m *memFS) Lstat(name string) (fs.FileInfo, error) {
	p, n, err := m.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return memInfo{name: path.Base(p), node: n}, nil
}

type memInfo struct {
	name string
	node *memNode
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return int64(len(i.node.data)) }
func (i memInfo) Mode() fs.FileMode  { return i.node.mode }
func (i memInfo) ModTime() time.Time { return i.node.mtime }
func (i memInfo) IsDir() bool        { return i.node.mode.IsDir() }
func (i memInfo) Sys() any           { return nil }

type memFile struct {
	fs   *memFS
	name string
	node *memNode
	r    *bytes.Reader
	dir  int // entries already returned by ReadDir
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	return memInfo{name: path.Base(f.name), node: f.node}, nil
}
func (f *memFile) Close() error { return nil }

func (f *memFile) Read(p []byte) (int, error) {
	if f.node.mode.IsDir() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
	}
	return f.r.Read(p)
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }

func (f *memFile) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }

func (f *memFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.node.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: errors.New("not a directory")}
	}
	names := f.node.children[f.dir:]
	if n > 0 && len(names) > n {
		names = names[:n]
	}
	if n > 0 && len(names) == 0 {
		return nil, io.EOF
	}
	out := make([]fs.DirEntry, len(names))
	for i, name := range names {
		out[i] = fs.FileInfoToDirEntry(memInfo{name: name, node: f.fs.nodes[path.Join(f.name, name)]})
	}
	f.dir += len(names)
	return out, nil
}
