package vdisktest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

const miB = 1 << 20

// Disk is a test disk: a sparse raw file and its size.
type Disk struct {
	Path string
	Size int64
}

// MakeDisk writes a sparse raw disk of size bytes into dir: random data,
// compressible text, explicit zeros inside a data run, and holes between
// them. The same size gives the same bytes.
func MakeDisk(tb testing.TB, dir string, size int64) Disk {
	tb.Helper()
	p := filepath.Join(dir, fmt.Sprintf("disk-%d.raw", size))
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(size), 5))
	put := func(off int64, b []byte) {
		if off >= size {
			return
		}
		b = b[:min(int64(len(b)), size-off)]
		if _, err := f.WriteAt(b, off); err != nil {
			tb.Fatal(err)
		}
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := bytes.Repeat([]byte("hardvm builds minimal VM images; holes stay holes. "), 2+miB/50)
	put(0, random(64<<10))                            // a partition table, say
	put(1*miB, text[:miB])                            // compressible
	put(2*miB+512, random(700<<10))                   // unaligned random run
	put(3*miB, make([]byte, 256<<10))                 // zeros written as data
	put(3*miB+256<<10, random(4096))                  // data right after them
	put(5*miB+12345, []byte("an odd byte in a hole")) // a lone sector
	put(size-4096, random(4096))                      // the last block
	return Disk{Path: p, Size: size}
}

// Run checks w against the conformance rules, in subtests: for a
// MiB-aligned and an unaligned sparse disk it writes the disk to a file,
// checks the file with qemu-img (check, compare with the raw disk, info),
// the size rules of the platforms whose default format it is, and that two
// writes are byte-identical. It writes the disk again through the bare
// [vdisk.Destination] contract (no *os.File, no holes, WriteAt only over
// bytes already written) and, if w is a [vdisk.StreamWriter], to a plain
// io.Writer, and wants the same bytes both times. A cancelled context must
// stop every write with an error.
func Run(t *testing.T, w vdisk.Writer) {
	t.Helper()
	testtool.Require(t, "qemu-img", "tar", "gzip", "xmllint")
	dir := t.TempDir()
	for _, size := range []int64{8 * miB, 7*miB + 64<<10 + 3*512} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			d := MakeDisk(t, dir, size)
			out := filepath.Join(t.TempDir(), "disk"+w.Format().Ext())
			write(t, w, d.Path, out)
			vsize := vdisk.VirtualSize(w, size)
			if vsize < size {
				t.Fatalf("virtual size %d is smaller than the source %d", vsize, size)
			}
			Check(t, w.Format(), d.Path, out, vsize)
			checkPlatforms(t, w.Format(), size, vsize)

			want := digest(t, out)
			again := filepath.Join(t.TempDir(), "again"+w.Format().Ext())
			write(t, w, d.Path, again)
			if got := digest(t, again); got != want {
				t.Errorf("two writes of the same disk differ: %s and %s", want, got)
			}
			if got := writeDestination(t, w, d.Path); got != want {
				t.Errorf("WriteDisk to a bare Destination wrote %s, to a file %s", got, want)
			}
			if sw, ok := w.(vdisk.StreamWriter); ok {
				if got := writeStream(t, sw, d.Path); got != want {
					t.Errorf("StreamDisk to an io.Writer wrote %s, WriteDisk to a file %s", got, want)
				}
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		d := MakeDisk(t, dir, 8*miB)
		src, err := vdisk.OpenFile(d.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		f, err := os.Create(filepath.Join(t.TempDir(), "cancelled"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.WriteDisk(ctx, f, src); !errors.Is(err, context.Canceled) {
			t.Fatalf("WriteDisk with a cancelled context: got %v, want context.Canceled", err)
		}
		if sw, ok := w.(vdisk.StreamWriter); ok {
			if err := sw.StreamDisk(ctx, io.Discard, src); !errors.Is(err, context.Canceled) {
				t.Fatalf("StreamDisk with a cancelled context: got %v, want context.Canceled", err)
			}
		}
	})
}

// destination is a [vdisk.Destination] and nothing more (no *os.File to
// seek or copy_file_range into, no holes to skip) that holds the writer
// to the contract: writes from offset 0, patches only over bytes already
// written.
type destination struct {
	t   *testing.T
	f   *os.File
	end int64 // bytes written with Write
}

func (d *destination) Write(p []byte) (int, error) {
	n, err := d.f.Write(p)
	d.end += int64(n)
	return n, err
}

func (d *destination) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > d.end {
		d.t.Errorf("WriteAt of %d bytes at %d, beyond the %d bytes written", len(p), off, d.end)
	}
	return d.f.WriteAt(p, off)
}

// writeDestination writes the raw disk in through a bare Destination and
// returns the digest of what it wrote.
func writeDestination(t *testing.T, w vdisk.Writer, in string) string {
	t.Helper()
	src, err := vdisk.OpenFile(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), "destination"+w.Format().Ext())
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := w.WriteDisk(context.Background(), &destination{t: t, f: f}, src); err != nil {
		t.Fatalf("%s: WriteDisk to a bare Destination: %v", w.Format(), err)
	}
	return digest(t, out)
}

// writeStream writes the raw disk in to a plain io.Writer (a hash) and
// returns its digest.
func writeStream(t *testing.T, w vdisk.StreamWriter, in string) string {
	t.Helper()
	src, err := vdisk.OpenFile(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	h := sha256.New()
	if err := w.StreamDisk(context.Background(), h, src); err != nil {
		t.Fatalf("%s: StreamDisk: %v", w.Format(), err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func write(t *testing.T, w vdisk.Writer, in, out string) {
	t.Helper()
	src, err := vdisk.OpenFile(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDisk(context.Background(), f, src); err != nil {
		f.Close()
		t.Fatalf("%s: WriteDisk: %v", w.Format(), err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Check verifies the file out of format f against the raw disk it was
// written from, with the real tools: qemu-img check (where qemu-img can
// check the format), qemu-img compare, qemu-img info; for gce the tar and
// its sparse disk.raw; for ova the tar order, the manifest and the vmdk.
func Check(t *testing.T, f vdisk.Format, raw, out string, vsize int64) {
	t.Helper()
	switch f {
	case vm.FormatGCE:
		checkGCE(t, raw, out, vsize)
		return
	case vm.FormatOVA:
		checkOVA(t, raw, out, vsize)
		return
	}
	qfmt := map[vdisk.Format]string{vm.FormatRaw: "raw", vm.FormatQCOW2: "qcow2", vm.FormatVHD: "vpc", vm.FormatVMDK: "vmdk"}[f]
	if qfmt == "" {
		t.Fatalf("vdisktest: no check for format %q", f)
	}
	if qfmt == "qcow2" || qfmt == "vmdk" {
		testtool.Run(t, "qemu-img", "check", "-f", qfmt, out)
	}
	testtool.Run(t, "qemu-img", "compare", "-f", "raw", "-F", qfmt, raw, out)
	var info struct {
		Format         string `json:"format"`
		VirtualSize    int64  `json:"virtual-size"`
		BackingFile    string `json:"backing-filename"`
		FormatSpecific struct {
			Data struct {
				CreateType string `json:"create-type"`
				Compat     string `json:"compat"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	js := testtool.Run(t, "qemu-img", "info", "-f", qfmt, "--output=json", out)
	if err := json.Unmarshal([]byte(js), &info); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, js)
	}
	if info.Format != qfmt || info.VirtualSize != vsize || info.BackingFile != "" {
		t.Errorf("qemu-img info: format %q, virtual size %d, backing %q; want %q, %d, none", info.Format, info.VirtualSize, info.BackingFile, qfmt, vsize)
	}
	switch f {
	case vm.FormatQCOW2:
		if info.FormatSpecific.Data.Compat != "1.1" {
			t.Errorf("qemu-img info: qcow2 compat %q, want 1.1 (version 3)", info.FormatSpecific.Data.Compat)
		}
	case vm.FormatVMDK:
		if info.FormatSpecific.Data.CreateType != "streamOptimized" {
			t.Errorf("qemu-img info: vmdk create type %q, want streamOptimized", info.FormatSpecific.Data.CreateType)
		}
	case vm.FormatRaw:
		if a, b := digest(t, raw), digest(t, out); a != b {
			t.Errorf("raw copy differs: %s, want %s", b, a)
		}
		checkSparse(t, raw, out)
	}
}

// checkSparse fails if out allocates more than the data of raw, give or
// take the file system's own metadata (an extent tree block or two).
func checkSparse(t *testing.T, raw, out string) {
	t.Helper()
	a, b := allocated(t, raw), allocated(t, out)
	if b > a+64<<10 {
		t.Errorf("%s allocates %d bytes, more than the %d of the raw disk: holes were written", out, b, a)
	}
}

func checkPlatforms(t *testing.T, f vdisk.Format, size, vsize int64) {
	t.Helper()
	for _, p := range vm.Platforms() {
		if len(p.Formats) == 0 || p.Formats[0] != f {
			continue
		}
		if vsize == size && size%p.SizeAlign != 0 {
			continue // the caller aligns disks for formats that keep the size
		}
		if err := p.CheckSize(vsize); err != nil {
			t.Errorf("platform %s: %v", p.Cloud, err)
		}
	}
}

func checkGCE(t *testing.T, raw, out string, vsize int64) {
	t.Helper()
	if vsize%(1<<30) != 0 {
		t.Errorf("gce: disk size %d is not a whole number of GiB", vsize)
	}
	list := testtool.Run(t, "tar", "-tvzf", out)
	if fields := strings.Fields(list); len(fields) < 6 || fields[len(fields)-1] != "disk.raw" || fields[2] != fmt.Sprint(vsize) || strings.Count(list, "\n") != 1 {
		t.Errorf("tar -tvzf %s: want one disk.raw of %d bytes, got\n%s", out, vsize, list)
	}
	// The first header must be an old GNU sparse member.
	gz := testtool.Run(t, "sh", "-c", "gzip -dc < '"+out+"' | head -c 512 | od -An -c -j 156 -N 1; gzip -dc < '"+out+"' | head -c 265 | tail -c 8")
	if !strings.Contains(gz, "S") || !strings.Contains(gz, "ustar  ") {
		t.Errorf("gce: first tar header is not an old GNU sparse member: %q", gz)
	}
	// Holes stay out of the archive: the tar holds little more than data.
	n, err := strconv.ParseInt(strings.TrimSpace(testtool.Run(t, "sh", "-c", "gzip -dc < '"+out+"' | wc -c")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if a := allocated(t, raw); n > a+20<<10 {
		t.Errorf("gce: the tar holds %d bytes for %d bytes of data: holes were stored", n, a)
	}
	dir := t.TempDir()
	testtool.Run(t, "tar", "-xzf", out, "-C", dir)
	ext := filepath.Join(dir, "disk.raw")
	testtool.Run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", raw, ext)
	checkSparse(t, raw, ext)
}

func checkOVA(t *testing.T, raw, out string, vsize int64) {
	t.Helper()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	var names []string
	sums := map[string]string{}
	var mf []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ova: %v", err)
		}
		if strings.Contains(h.Name, "/") || h.Typeflag != tar.TypeReg {
			t.Fatalf("ova: member %q (type %c) is not a plain file at the top", h.Name, h.Typeflag)
		}
		names = append(names, h.Name)
		dst, err := os.Create(filepath.Join(dir, h.Name))
		if err != nil {
			t.Fatal(err)
		}
		s256, s1 := sha256.New(), sha1.New()
		var buf bytes.Buffer
		var w io.Writer = io.MultiWriter(dst, s256, s1)
		if strings.HasSuffix(h.Name, ".mf") {
			w = io.MultiWriter(w, &buf)
		}
		if _, err := io.Copy(w, tr); err != nil {
			t.Fatal(err)
		}
		dst.Close()
		sums["SHA256("+h.Name+")"] = hex.EncodeToString(s256.Sum(nil))
		sums["SHA1("+h.Name+")"] = hex.EncodeToString(s1.Sum(nil))
		mf = append(mf, buf.Bytes()...)
	}
	if len(names) != 3 || !strings.HasSuffix(names[0], ".ovf") || !strings.HasSuffix(names[1], ".vmdk") || !strings.HasSuffix(names[2], ".mf") {
		t.Fatalf("ova: members %v, want .ovf, .vmdk, .mf in that order", names)
	}
	lines := strings.Split(strings.TrimSpace(string(mf)), "\n")
	if len(lines) != 2 {
		t.Errorf("ova: manifest has %d lines, want 2:\n%s", len(lines), mf)
	}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "= ")
		if !ok || sums[k] != v || (!strings.HasPrefix(k, "SHA256(") && !strings.HasPrefix(k, "SHA1(")) {
			t.Errorf("ova: manifest line %q does not match the member (want %s)", l, sums[k])
		}
	}
	ovf, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ovf, []byte(names[1])) || !bytes.Contains(ovf, []byte(fmt.Sprintf(`ovf:capacity="%d"`, vsize))) {
		t.Errorf("ova: descriptor does not name %s with capacity %d", names[1], vsize)
	}
	testtool.Run(t, "xmllint", "--noout", filepath.Join(dir, names[0]))
	Check(t, vm.FormatVMDK, raw, filepath.Join(dir, names[1]), vsize)
}

func digest(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
