package apktest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// File is one entry of a package's data stream. Names are written as given
// (no cleaning), so tests can build hostile packages.
type File struct {
	Name string      // path inside the package, e.g. "usr/bin/hello"
	Mode fs.FileMode // type bits (fs.ModeDir, fs.ModeSymlink) and permissions; setuid as fs.ModeSetuid or 0o4000; 0: 0644 file, 0755 dir
	Data []byte      // content of a regular file
	// Path, with Data nil, names a file on disk whose content is streamed
	// into the package (large real packages never held in memory).
	Path string
	// Size, with Data and Path unset, makes the content Size bytes of
	// deterministic compressible filler, streamed (for large benchmark
	// repositories).
	Size     int64
	Link     string // symlink target, or with Hardlink the name of the earlier entry
	Hardlink bool
	UID, GID int
	Xattrs   map[string]string
}

// Package is a package to write. Name and Version are required.
type Package struct {
	Name, Version    string
	Description      string
	License          string
	URL              string
	Origin           string // default: Name
	Commit           string
	Maintainer       string
	BuildTime        int64
	Depends          []string
	Provides         []string
	Replaces         []string
	InstallIf        []string
	ProviderPriority int64
	Triggers         []string
	Files            []File
	Scripts          map[string]string // ".post-install" → script; written, never run by hardvm

	// Knobs for hostile packages in tests.
	Unsigned   bool // no signature stream
	NoDataHash bool // no datahash in .PKGINFO
	// IndexChecksum, if set, is what the index claims as C: instead of the
	// real checksum.
	IndexChecksum string
	// InstalledSize, if set, is what .PKGINFO (size) and the index (I:)
	// claim instead of the bytes of the package's files.
	InstalledSize int64
}

// Repository writes a real APK repository: DIR/ARCH/NAME-VERSION.apk files
// and DIR/ARCH/APKINDEX.tar.gz, signed with Key like abuild-sign signs
// (RSA PKCS#1 v1.5 over SHA-256, .SIGN.RSA256.<key name>), plus the public
// key as DIR/<key name>.
type Repository struct {
	Dir, Arch   string
	Key         *Key
	Description string // DESCRIPTION of the index
	pkgs        []Package
}

// NewRepository returns a repository to be written under dir for arch.
func NewRepository(dir, arch string, key *Key) *Repository {
	return &Repository{Dir: dir, Arch: arch, Key: key, Description: "hardvm test repository"}
}

// Add queues p for writing.
func (r *Repository) Add(pkgs ...Package) { r.pkgs = append(r.pkgs, pkgs...) }

// URL returns the repository's file:// URL.
func (r *Repository) URL() string { return "file://" + r.Dir }

// KeyPath returns the path of the public key Write writes.
func (r *Repository) KeyPath() string { return filepath.Join(r.Dir, r.Key.Name) }

// Write writes every queued package, the signed index and the public key.
// Output is a function of the inputs alone (same packages, same key: same
// bytes).
func (r *Repository) Write() error {
	dir := filepath.Join(r.Dir, r.Arch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(r.KeyPath(), r.Key.PublicPEM(), 0o644); err != nil {
		return err
	}
	index := make([]*apk.Package, len(r.pkgs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, p := range r.pkgs {
		g.Go(func() error {
			entry, err := r.writePackage(dir, p)
			if err != nil {
				return fmt.Errorf("apktest: %s-%s: %w", p.Name, p.Version, err)
			}
			index[i] = entry
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	sort.SliceStable(index, func(i, j int) bool {
		if index[i].Name != index[j].Name {
			return index[i].Name < index[j].Name
		}
		return apkversion.Compare(index[i].Version, index[j].Version) < 0
	})
	var text bytes.Buffer
	if err := apk.WriteIndex(&text, index); err != nil {
		return err
	}
	body, err := gzipTar(false, []tarEntry{
		{hdr: &tar.Header{Name: "DESCRIPTION", Mode: 0o644}, data: []byte(r.Description)},
		{hdr: &tar.Header{Name: "APKINDEX", Mode: 0o644}, data: text.Bytes()},
	})
	if err != nil {
		return err
	}
	sig, err := r.signatureStream(body)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "APKINDEX.tar.gz"), sig, body)
}

func (r *Repository) signatureStream(signed []byte) ([]byte, error) {
	s, err := r.Key.sign(signed)
	if err != nil {
		return nil, err
	}
	return gzipTar(true, []tarEntry{{hdr: &tar.Header{Name: ".SIGN.RSA256." + r.Key.Name, Mode: 0o644}, data: s}})
}

func writeFile(path string, parts ...[]byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := f.Write(p); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// gzipTar writes entries as one gzip stream; cut leaves out the tar
// end-of-archive blocks, as abuild-tar --cut does for signature and control
// streams.
func gzipTar(cut bool, entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		e.hdr.Typeflag = tar.TypeReg
		e.hdr.Size = int64(len(e.data))
		e.hdr.Uname, e.hdr.Gname = "root", "root"
		e.hdr.ModTime = time.Unix(0, 0)
		e.hdr.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	var err error
	if cut {
		err = tw.Flush()
	} else {
		err = tw.Close()
	}
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writePackage writes one .apk and returns its index entry.
func (r *Repository) writePackage(dir string, p Package) (*apk.Package, error) {
	if p.Name == "" || !apkversion.Valid(p.Version) {
		return nil, fmt.Errorf("name %q / version %q invalid", p.Name, p.Version)
	}
	if p.Origin == "" {
		p.Origin = p.Name
	}
	path := filepath.Join(dir, p.Name+"-"+p.Version+".apk")
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	// The data stream goes to the file first (after room for the rest is
	// known), so write it to a second temporary file while hashing it.
	dataTmp, err := os.CreateTemp(dir, ".data-*")
	if err != nil {
		f.Close()
		return nil, err
	}
	defer os.Remove(dataTmp.Name())
	defer dataTmp.Close()
	dh := sha256.New()
	installed, err := writeData(io.MultiWriter(dataTmp, dh), p)
	if err != nil {
		f.Close()
		return nil, err
	}
	if p.InstalledSize != 0 {
		installed = p.InstalledSize
	}
	pkginfo := r.pkgInfo(p, installed, hex.EncodeToString(dh.Sum(nil)))
	entries := []tarEntry{{hdr: &tar.Header{Name: ".PKGINFO", Mode: 0o644}, data: pkginfo}}
	var scripts []string
	for name := range p.Scripts {
		scripts = append(scripts, name)
	}
	sort.Strings(scripts)
	for _, name := range scripts {
		entries = append(entries, tarEntry{hdr: &tar.Header{Name: name, Mode: 0o755}, data: []byte(p.Scripts[name])})
	}
	control, err := gzipTar(true, entries)
	if err != nil {
		f.Close()
		return nil, err
	}
	var sig []byte
	if !p.Unsigned {
		if sig, err = r.signatureStream(control); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Write(sig); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Write(control); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := dataTmp.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	n, err := io.Copy(f, dataTmp)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	q1 := sha1.Sum(control)
	e := &apk.Package{
		Name: p.Name, Version: p.Version, Arch: r.Arch,
		Checksum:      "Q1" + base64.StdEncoding.EncodeToString(q1[:]),
		Size:          int64(len(sig)+len(control)) + n,
		InstalledSize: installed,
		Description:   p.Description, URL: p.URL, License: p.License,
		Origin: p.Origin, Maintainer: p.Maintainer, BuildTime: p.BuildTime, Commit: p.Commit,
		ProviderPriority: p.ProviderPriority,
		Depends:          p.Depends, Provides: p.Provides, InstallIf: p.InstallIf, Replaces: p.Replaces,
	}
	if p.IndexChecksum != "" {
		e.Checksum = p.IndexChecksum
	}
	return e, nil
}

func (r *Repository) pkgInfo(p Package, installed int64, datahash string) []byte {
	var b strings.Builder
	b.WriteString("# Generated by hardvm apktest.\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, v) }
	kv("pkgname", p.Name)
	kv("pkgver", p.Version)
	kv("pkgdesc", p.Description)
	kv("url", p.URL)
	kv("builddate", strconv.FormatInt(p.BuildTime, 10))
	if p.Maintainer != "" {
		kv("maintainer", p.Maintainer)
	}
	kv("size", strconv.FormatInt(installed, 10))
	kv("arch", r.Arch)
	kv("origin", p.Origin)
	if p.Commit != "" {
		kv("commit", p.Commit)
	}
	if p.License != "" {
		kv("license", p.License)
	}
	for _, l := range []struct {
		k string
		v []string
	}{{"depend", p.Depends}, {"provides", p.Provides}, {"replaces", p.Replaces}, {"install_if", p.InstallIf}, {"triggers", p.Triggers}} {
		for _, v := range l.v {
			kv(l.k, v)
		}
	}
	if p.ProviderPriority != 0 {
		kv("provider_priority", strconv.FormatInt(p.ProviderPriority, 10))
	}
	if !p.NoDataHash {
		kv("datahash", datahash)
	}
	return []byte(b.String())
}

// writeData writes the data stream (a complete gzip-compressed tar, PAX
// format with APK-TOOLS.checksum.SHA1 records on regular files as abuild
// writes them) and returns the installed size.
func writeData(w io.Writer, p Package) (int64, error) {
	zw, _ := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	tw := tar.NewWriter(zw)
	var installed int64
	mtime := time.Unix(p.BuildTime, 0)
	for i, f := range p.Files {
		h := &tar.Header{
			Name: f.Name, Uid: f.UID, Gid: f.GID, ModTime: mtime,
			Uname: "root", Gname: "root", Format: tar.FormatPAX,
		}
		if f.UID != 0 || f.GID != 0 {
			h.Uname, h.Gname = "", ""
		}
		// Both fs.ModeSetuid and Unix 0o4000 spellings are accepted.
		perm := f.Mode & (0o7777 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		h.Mode = int64(perm & 0o7777)
		if f.Mode&fs.ModeSetuid != 0 {
			h.Mode |= 0o4000
		}
		if f.Mode&fs.ModeSetgid != 0 {
			h.Mode |= 0o2000
		}
		if f.Mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		for k, v := range f.Xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		var content io.ReadCloser
		switch {
		case f.Hardlink:
			h.Typeflag, h.Linkname = tar.TypeLink, f.Link
		case f.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
			if perm == 0 {
				h.Mode = 0o777
			}
		case f.Mode&fs.ModeDir != 0:
			h.Typeflag = tar.TypeDir
			if perm == 0 {
				h.Mode = 0o755
			}
		default:
			h.Typeflag = tar.TypeReg
			if perm == 0 {
				h.Mode = 0o644
			}
			size, data := f.Size, f.Data
			if data != nil {
				size = int64(len(data))
			} else if f.Path != "" {
				fi, err := os.Stat(f.Path)
				if err != nil {
					return 0, err
				}
				size = fi.Size()
			}
			h.Size = size
			sum := sha1.New()
			rc, err := fileContent(f, uint64(i))
			if err != nil {
				return 0, err
			}
			_, err = io.Copy(sum, rc)
			rc.Close()
			if err != nil {
				return 0, err
			}
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["APK-TOOLS.checksum.SHA1"] = hex.EncodeToString(sum.Sum(nil))
			if content, err = fileContent(f, uint64(i)); err != nil {
				return 0, err
			}
			installed += size
		}
		if err := tw.WriteHeader(h); err != nil {
			return 0, err
		}
		if content != nil {
			_, err := io.Copy(tw, content)
			content.Close()
			if err != nil {
				return 0, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	return installed, zw.Close()
}

func fileContent(f File, seed uint64) (io.ReadCloser, error) {
	switch {
	case f.Data != nil:
		return io.NopCloser(bytes.NewReader(f.Data)), nil
	case f.Path != "":
		return os.Open(f.Path)
	}
	return io.NopCloser(io.LimitReader(&filler{r: rand.New(rand.NewPCG(seed, uint64(f.Size)))}, f.Size)), nil
}

// filler produces text-like bytes that compress about 3:1, like binaries
// and data in real packages.
type filler struct {
	r   *rand.Rand
	buf []byte
}

var words = strings.Fields("the of and to in is for on that by with as at from this be or are an which it not have but all can had its has was were one new more also may each other such than into only some these two about after over time used use any most between system data file user value number")

func (f *filler) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(f.buf) == 0 {
			if f.r.IntN(4) == 0 {
				var b [8]byte
				for i := range b {
					b[i] = byte(f.r.Uint32())
				}
				f.buf = append(f.buf, b[:]...)
			} else {
				f.buf = append(f.buf, words[f.r.IntN(len(words))]...)
				f.buf = append(f.buf, ' ')
			}
		}
		c := copy(p[n:], f.buf)
		f.buf = f.buf[c:]
		n += c
	}
	return n, nil
}

var _ hash.Hash = sha1.New()
