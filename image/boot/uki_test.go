package boot

import (
	"bytes"
	"debug/pe"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// stubPath is where Debian's systemd-boot-efi package installs the stub
// (.ci/apt-packages lists it).
const stubPath = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

func readStub(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(stubPath)
	if err != nil {
		t.Fatalf("EFI stub from systemd-boot-efi missing (run `make deps`): %v", err)
	}
	return b
}

func testUKI(t testing.TB) *UKI {
	return &UKI{
		Stub:      readStub(t),
		Linux:     bytes.Repeat([]byte("kernel!"), 3000),
		Initrd:    bytes.Repeat([]byte{0x07, 0x07, 0x01}, 1000),
		Cmdline:   "console=ttyS0 roothash=00ff",
		OSRelease: []byte("ID=hardvm\nNAME=hardvm\n"),
		Uname:     "6.1.0-56-amd64",
		SBAT:      "hardvm,1,hardvm,uki,1,-\n",
	}
}

func TestUKISectionsWithObjdump(t *testing.T) {
	testtool.Require(t, "objdump", "objcopy")
	u := testUKI(t)
	b, err := u.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "uki.efi")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := testtool.Run(t, "objdump", "-h", path)
	// Lines: Idx Name Size VMA LMA FileOff Algn
	re := regexp.MustCompile(`(?m)^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)`)
	type sec struct{ size, vma, off uint64 }
	got := map[string]sec{}
	var order []string
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		size, _ := strconv.ParseUint(m[2], 16, 64)
		vma, _ := strconv.ParseUint(m[3], 16, 64)
		off, _ := strconv.ParseUint(m[4], 16, 64)
		got[m[1]] = sec{size, vma, off}
		order = append(order, m[1])
	}
	want := map[string][]byte{
		".osrel": u.OSRelease, ".cmdline": []byte(u.Cmdline), ".uname": []byte(u.Uname),
		".initrd": u.Initrd, ".linux": u.Linux,
	}
	wantOrder := []string{".osrel", ".cmdline", ".uname", ".initrd", ".linux"}
	if tail := order[len(order)-5:]; strings.Join(tail, " ") != strings.Join(wantOrder, " ") {
		t.Errorf("section order %v, want the stub's then %v", order, wantOrder)
	}
	stubPE, err := parsePE(u.Stub)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range want {
		s, ok := got[name]
		if !ok {
			t.Errorf("objdump -h lacks %s:\n%s", name, out)
			continue
		}
		if s.size != uint64(len(data)) {
			t.Errorf("%s size %d, want %d", name, s.size, len(data))
		}
		if s.vma%uint64(stubPE.sectionAlgn) != 0 || s.off%uint64(stubPE.fileAlgn) != 0 {
			t.Errorf("%s at vma %#x file offset %#x: not aligned", name, s.vma, s.off)
		}
		// objcopy extracts the section contents: they must be ours.
		x := filepath.Join(dir, name[1:])
		testtool.Run(t, "objcopy", "-O", "binary", "--only-section="+name, path, x)
		content, err := os.ReadFile(x)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(content, data) {
			t.Errorf("%s content differs (%d bytes, want %d)", name, len(content), len(data))
		}
	}
	sbat := filepath.Join(dir, "sbat")
	testtool.Run(t, "objcopy", "-O", "binary", "--only-section=.sbat", path, sbat)
	sb, _ := os.ReadFile(sbat)
	if !strings.HasPrefix(string(sb), "sbat,1,") || !strings.HasSuffix(string(sb), u.SBAT) {
		t.Errorf(".sbat = %q, want the stub's lines then ours", sb)
	}
	hdr := testtool.Run(t, "objdump", "-p", path)
	m := regexp.MustCompile(`SizeOfImage\s+([0-9a-f]+)`).FindStringSubmatch(hdr)
	if m == nil {
		t.Fatalf("objdump -p without SizeOfImage:\n%s", hdr)
	}
	soi, _ := strconv.ParseUint(m[1], 16, 64)
	l := got[".linux"]
	if soi < l.vma+l.size || soi%uint64(stubPE.sectionAlgn) != 0 {
		t.Errorf("SizeOfImage %#x does not cover .linux [%#x,+%#x) aligned", soi, l.vma, l.size)
	}
	p, err := parsePE(b)
	if err != nil {
		t.Fatal(err)
	}
	if sum := le.Uint32(b[p.checksumOff():]); sum != peChecksum(b, p.checksumOff()) {
		t.Errorf("checksum %#x, want %#x", sum, peChecksum(b, p.checksumOff()))
	}
}

// The checksum algorithm agrees with the linker that made the stub.
func TestPEChecksumMatchesLinker(t *testing.T) {
	stub := readStub(t)
	p, err := parsePE(stub)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := peChecksum(stub, p.checksumOff()), le.Uint32(stub[p.checksumOff():]); got != want {
		t.Fatalf("peChecksum = %#x, the stub says %#x", got, want)
	}
}

func TestUKIDeterministic(t *testing.T) {
	a, err := testUKI(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := testUKI(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same UKI inputs gave different bytes")
	}
	u := testUKI(t)
	u.Cmdline += " x"
	c, _ := u.Build()
	if bytes.Equal(a, c) {
		t.Fatal("command line not in the image")
	}
}

func TestUKIErrors(t *testing.T) {
	u := testUKI(t)
	u.SBAT = strings.Repeat("x,1,y,z,1,-\n", 100)
	if _, err := u.Build(); !errors.Is(err, ErrNoRoom) {
		t.Errorf("oversized SBAT: err = %v, want ErrNoRoom", err)
	}
	u = testUKI(t)
	u.Stub = []byte("MZ not a PE")
	if _, err := u.Build(); !errors.Is(err, ErrPE) {
		t.Errorf("bad stub: err = %v, want ErrPE", err)
	}
	u = testUKI(t)
	twice, err := u.Build()
	if err != nil {
		t.Fatal(err)
	}
	u.Stub = twice
	if _, err := u.Build(); !errors.Is(err, ErrPE) {
		t.Errorf("UKI as stub: err = %v, want ErrPE (duplicate sections)", err)
	}
}

func TestUKISbverifyParsesUnsigned(t *testing.T) {
	// Covered end to end by the boot test; here only that sbverify can parse
	// the unsigned image's PE layout (it lists no signatures).
	testtool.Require(t, "sbverify")
	b, err := testUKI(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "uki.efi")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("sbverify", "--list", path).CombinedOutput()
	if !strings.Contains(string(out), "No signature table present") {
		t.Fatalf("sbverify --list on the unsigned UKI:\n%s", out)
	}
	if strings.Contains(string(out), "gap") || strings.Contains(string(out), "warning") {
		t.Fatalf("sbverify complains about the layout:\n%s", out)
	}
}

// A stub whose header space is padded with AArch64 NOPs, not zeros (as
// gnu-efi's aarch64 stubs are): the added section headers must be whole,
// with NUL-padded names and no relocations, or PE readers (Go's debug/pe)
// refuse the UKI.
func TestUKINOPPaddedHeaders(t *testing.T) {
	u := testUKI(t)
	p, err := parsePE(u.Stub)
	if err != nil {
		t.Fatal(err)
	}
	stub := bytes.Clone(u.Stub)
	for i := p.secTable + len(p.sections)*peSectionHeaderSize; i+4 <= int(p.sizeHeaders); i += 4 {
		le.PutUint32(stub[i:], 0xd503201f) // AArch64 NOP
	}
	u.Stub = stub
	b, err := u.Build()
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("debug/pe cannot read the UKI built on a NOP-padded stub: %v", err)
	}
	defer f.Close()
	for _, name := range []string{".osrel", ".cmdline", ".uname", ".initrd", ".linux"} {
		s := f.Section(name)
		if s == nil {
			t.Errorf("no section named exactly %q", name)
			continue
		}
		if s.NumberOfRelocations != 0 || s.PointerToRelocations != 0 || s.NumberOfLineNumbers != 0 || s.PointerToLineNumbers != 0 {
			t.Errorf("%s carries the stub's padding as relocations/line numbers: %+v", name, s.SectionHeader)
		}
	}
	if d, err := f.Section(".initrd").Data(); err != nil || !bytes.HasPrefix(d, u.Initrd) {
		t.Errorf(".initrd does not hold the initrd (err %v)", err)
	}
}
