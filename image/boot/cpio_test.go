package boot

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

func writeTestCPIO(t *testing.T, mtime int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	c := NewCPIOWriter(&buf, mtime)
	entries := []struct {
		e    CPIOEntry
		data string
	}{
		{CPIOEntry{Name: "dev", Mode: fs.ModeDir | 0o755}, ""},
		{CPIOEntry{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, RdevMajor: 5, RdevMinor: 1}, ""},
		{CPIOEntry{Name: "etc", Mode: fs.ModeDir | 0o755}, ""},
		{CPIOEntry{Name: "etc/hello", Mode: 0o644, Size: 5, UID: 1000, GID: 1000}, "hello"},
		{CPIOEntry{Name: "etc/odd", Mode: 0o600, Size: 3}, "abc"},
		{CPIOEntry{Name: "etc/empty", Mode: 0o644}, ""},
		{CPIOEntry{Name: "etc/link", Mode: fs.ModeSymlink | 0o777, Linkname: "hello"}, ""},
		{CPIOEntry{Name: "init", Mode: 0o755 | fs.ModeSetuid, Size: 10}, "#!/bin/sh\n"},
	}
	for _, e := range entries {
		if err := c.WriteEntry(e.e, strings.NewReader(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCPIOWriterAgainstCpio(t *testing.T) {
	testtool.Require(t, "cpio")
	b := writeTestCPIO(t, 1700000000)
	if len(b)%4 != 0 {
		t.Errorf("archive length %d not a multiple of 4", len(b))
	}
	cmd := exec.Command("cpio", "-t", "-v", "--numeric-uid-gid")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{"dev/console", "etc/hello", "etc/link -> hello", "init", "1000     1000"} {
		if !strings.Contains(listing, want) {
			t.Errorf("cpio -t listing lacks %q:\n%s", want, listing)
		}
	}
	if !strings.Contains(listing, "-rwsr-xr-x") {
		t.Errorf("setuid bit lost:\n%s", listing)
	}
	if !strings.Contains(listing, "crw-------") {
		t.Errorf("char device lost:\n%s", listing)
	}

	dir := t.TempDir()
	cmd = exec.Command("cpio", "-i", "-d", "--no-absolute-filenames", "--quiet")
	cmd.Dir = dir
	// Device nodes need root; extract only the files and links.
	cmd.Args = append(cmd.Args, "etc/*", "init")
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"etc/hello": "hello", "etc/odd": "abc", "etc/empty": "", "init": "#!/bin/sh\n"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "etc/link")); err != nil || l != "hello" {
		t.Errorf("etc/link -> %q, %v", l, err)
	}
}

func TestCPIOWriterDeterministic(t *testing.T) {
	a, b := writeTestCPIO(t, 42), writeTestCPIO(t, 42)
	if !bytes.Equal(a, b) {
		t.Fatal("same entries gave different archives")
	}
	if c := writeTestCPIO(t, 43); bytes.Equal(a, c) {
		t.Fatal("mtime is not recorded")
	}
}

func TestCPIOWriterRejects(t *testing.T) {
	cases := []struct {
		name string
		e    CPIOEntry
		data string
	}{
		{"dotdot", CPIOEntry{Name: "../x", Mode: 0o644}, ""},
		{"trailer", CPIOEntry{Name: "TRAILER!!!", Mode: 0o644}, ""},
		{"empty", CPIOEntry{Name: "", Mode: 0o644}, ""},
		{"short", CPIOEntry{Name: "x", Mode: 0o644, Size: 10}, "abc"},
		{"socket", CPIOEntry{Name: "s", Mode: fs.ModeSocket}, ""},
		{"symlink without target", CPIOEntry{Name: "l", Mode: fs.ModeSymlink}, ""},
		{"huge", CPIOEntry{Name: "h", Mode: 0o644, Size: 1 << 33}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCPIOWriter(&bytes.Buffer{}, 0)
			err := c.WriteEntry(tc.e, strings.NewReader(tc.data))
			if !errors.Is(err, ErrCPIO) {
				t.Fatalf("err = %v, want ErrCPIO", err)
			}
		})
	}
	c := NewCPIOWriter(&bytes.Buffer{}, 0)
	if err := c.WriteEntry(CPIOEntry{Name: "a", Mode: 0o644}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteEntry(CPIOEntry{Name: "/a", Mode: 0o644}, nil); !errors.Is(err, ErrCPIO) {
		t.Fatalf("duplicate: err = %v", err)
	}
}
