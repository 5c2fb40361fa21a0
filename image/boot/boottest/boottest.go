// Package boottest gives boot tests the real Debian packages that
// scripts/fetch-boot-packages.sh downloads (the kernel with its modules,
// busybox-static, systemd-boot-efi), extracted once into the cache, and runs
// QEMU with OVMF, watching the serial console for lines.
//
// A missing package fails the test with the command that fetches it: boot
// tests never skip.
package boottest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/vm"
)

// CacheDir is where scripts/fetch-boot-packages.sh puts the .deb files:
// $HARDVM_BOOT_CACHE, else $XDG_CACHE_HOME/hardvm/boot-packages, else
// ~/.cache/hardvm/boot-packages (see internal/debrepo, which repackages
// the rest of what the script fetches).
func CacheDir() string { return debrepo.CacheDir() }

// Deb returns the path of the cached .deb of package name (e.g.
// "busybox-static", or "linux-image-" for the kernel).
func Deb(tb testing.TB, name string) string {
	tb.Helper()
	pattern := filepath.Join(CacheDir(), name+"_*.deb")
	if strings.HasSuffix(name, "-") {
		pattern = filepath.Join(CacheDir(), name+"*.deb")
	}
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		tb.Fatalf("no %s package in %s: run scripts/fetch-boot-packages.sh (make deps does)", name, CacheDir())
	}
	return m[len(m)-1]
}

var extractMu sync.Mutex

// Extract unpacks a .deb (with dpkg-deb) once into the cache and returns the
// directory.
func Extract(tb testing.TB, deb string) string {
	tb.Helper()
	extractMu.Lock()
	defer extractMu.Unlock()
	dir := filepath.Join(CacheDir(), "extract", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		tb.Fatalf("dpkg-deb not found: %v", err)
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		tb.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// KernelTree returns the extracted Debian kernel package: boot/vmlinuz-*,
// lib/modules/<version>/kernel/... (no modules.dep: depmod makes it at
// install time, so the initramfs writer reads .modinfo).
func KernelTree(tb testing.TB) string {
	tb.Helper()
	return Extract(tb, Deb(tb, "linux-image-"))
}

// Busybox returns the path of the static busybox from busybox-static.
func Busybox(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(Extract(tb, Deb(tb, "busybox-static")), "bin", "busybox")
	if _, err := os.Stat(p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Stub returns the systemd EFI stub from systemd-boot-efi.
func Stub(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Extract(tb, Deb(tb, "systemd-boot-efi")), "usr", "lib", "systemd", "boot", "efi", "linuxx64.efi.stub"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Result is what a boot showed.
type Result struct {
	Matched  string        // the first wanted or failure line seen ("" on timeout)
	Failed   bool          // Matched is a failure line
	Elapsed  time.Duration // from QEMU start to Matched
	Console  string        // everything the serial console printed
	ExitErr  error         // how QEMU ended, if it did
	TimedOut bool
}

// Boot boots disk (format "raw" or "qcow2") with QEMU and OVMF in software
// emulation and waits until the console prints a line containing want
// (success) or one of fail, or QEMU exits, or timeout passes. The console is
// logged to the test and kept in Result. QEMU is killed on return.
func Boot(tb testing.TB, disk, format, want string, fail []string, timeout time.Duration) Result {
	tb.Helper()
	code, vars, err := boot.FindOVMF(vm.X86_64)
	if err != nil {
		tb.Fatal(err)
	}
	return BootWith(tb, boot.QEMU{Disk: disk, Format: format, Code: code, Vars: vars}, want, fail, timeout)
}

// Debian's OVMF with the "snakeoil" test key enrolled in PK, KEK and db
// and Secure Boot enforced; the key's password is "snakeoil".
const (
	SnakeoilCode = "/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd"
	SnakeoilVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
	SnakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	SnakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
)

// BootWith is Boot with the machine given: q.Vars is copied first (the
// firmware writes to it) and the disk is always opened in snapshot mode.
func BootWith(tb testing.TB, q boot.QEMU, want string, fail []string, timeout time.Duration) Result {
	tb.Helper()
	vars := q.Vars
	varsCopy := filepath.Join(tb.TempDir(), "OVMF_VARS.fd")
	b, err := os.ReadFile(vars)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(varsCopy, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	q.Vars, q.Snapshot = varsCopy, true
	args, err := q.Args()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := exec.LookPath(q.Binary()); err != nil {
		tb.Fatalf("%s not found (run `make deps`): %v", q.Binary(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, q.Binary(), args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.Stdin = nil
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", q.Binary(), err)
	}
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.CloseWithError(io.EOF); done <- err }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	var res Result
	var console strings.Builder
	var grace <-chan time.Time
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			console.WriteString(line + "\n")
			tb.Logf("console: %s", line)
			if res.Matched != "" {
				continue
			}
			if strings.Contains(line, want) {
				res.Matched, res.Elapsed = line, time.Since(start)
				break loop
			}
			for _, f := range fail {
				if strings.Contains(line, f) {
					res.Matched, res.Failed, res.Elapsed = line, true, time.Since(start)
					// Keep a little more of the console (the halt message).
					grace = time.After(3 * time.Second)
					break
				}
			}
		case <-grace:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	go func() {
		for range lines {
		}
	}()
	res.ExitErr = <-done
	res.TimedOut = ctx.Err() == context.DeadlineExceeded && res.Matched == ""
	res.Console = console.String()
	if res.Matched == "" && !res.TimedOut {
		res.Elapsed = time.Since(start)
	}
	return res
}

// String summarises a result for test messages.
func (r Result) String() string {
	return fmt.Sprintf("matched %q failed=%v after %v (timed out %v, exit %v)", r.Matched, r.Failed, r.Elapsed.Round(time.Millisecond), r.TimedOut, r.ExitErr)
}
