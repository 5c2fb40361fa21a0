package vmtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hardvm/hardvm/vm"
)

// sshServer is an SSH server (x/crypto/ssh's) on 127.0.0.1 that accepts
// one key for user ops and answers exec requests with the command echoed.
func sshServer(t *testing.T, allowed ssh.PublicKey) (string, ssh.PublicKey) {
	t.Helper()
	hk, err := NewKey("host")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if c.User() == "ops" && string(k.Marshal()) == string(allowed.Marshal()) {
			return nil, nil
		}
		return nil, fmt.Errorf("key refused")
	}}
	cfg.AddHostKey(hk.Signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					c.Close()
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					ch, creqs, err := nc.Accept()
					if err != nil {
						continue
					}
					go func() {
						for r := range creqs {
							if r.Type != "exec" {
								r.Reply(false, nil)
								continue
							}
							r.Reply(true, nil)
							cmd := string(r.Payload[4:])
							if cmd == "fail" {
								fmt.Fprint(ch.Stderr(), "it failed")
								ch.SendRequest("exit-status", false, []byte{0, 0, 0, 3})
							} else {
								fmt.Fprintf(ch, "ran %s\n", cmd)
								ch.SendRequest("exit-status", false, []byte{0, 0, 0, 0})
							}
							ch.Close()
						}
					}()
				}
			}()
		}
	}()
	return l.Addr().String(), hk.Signer.PublicKey()
}

func TestSSH(t *testing.T) {
	good, err := NewKey("good")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(good.Authorized, "ssh-ed25519 AAAA") || !strings.HasSuffix(good.Authorized, " good") {
		t.Errorf("authorized line %q", good.Authorized)
	}
	bad, _ := NewKey("")
	addr, hostKey := sshServer(t, good.Signer.PublicKey())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Dial(ctx, addr, "ops", true, ssh.PublicKeys(good.Signer))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if string(s.HostKey.Marshal()) != string(hostKey.Marshal()) {
		t.Error("the host key the server proved is not recorded")
	}
	if out, err := s.Run(ctx, "uname"); err != nil || out != "ran uname\n" {
		t.Errorf("Run = %q, %v", out, err)
	}
	if _, err := s.Run(ctx, "fail"); err == nil || !strings.Contains(err.Error(), "it failed") {
		t.Errorf("a failing command: %v", err)
	}
	// A key the server does not accept is refused at once when refusal
	// is final, and retried until the deadline otherwise.
	if _, err := Dial(ctx, addr, "ops", true, ssh.PublicKeys(bad.Signer)); !errors.Is(err, ErrAuth) {
		t.Errorf("refused key: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if _, err := Dial(short, addr, "root", false, ssh.PublicKeys(good.Signer)); !errors.Is(err, ErrTimeout) {
		t.Errorf("retried refusal: %v", err)
	}
}

func TestWaitConsoleAndHTTP(t *testing.T) {
	dir := t.TempDir()
	m := &Machine{console: filepath.Join(dir, "console.log"), done: make(chan struct{}), ports: map[int]int{}}
	if err := os.WriteFile(m.console, []byte("booting\nhardvm-init: root verified\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := m.WaitConsole(ctx, "root verified"); err != nil || !strings.Contains(l, "hardvm-init") {
		t.Errorf("WaitConsole = %q, %v", l, err)
	}
	if _, err := m.WaitConsole(ctx, "login:", "root verified"); err == nil {
		t.Error("a failure line did not fail the wait")
	}
	short, c2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer c2()
	if _, err := m.WaitConsole(short, "never"); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitConsole past its deadline: %v", err)
	}
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls++; calls < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ready")
	}))
	defer srv.Close()
	if body, at, err := m.WaitHTTP(ctx, srv.URL, http.StatusOK); err != nil || string(body) != "ready" || at.IsZero() || calls != 3 {
		t.Errorf("WaitHTTP = %q, %v, %v after %d calls", body, at, err, calls)
	}
	close(m.done) // QEMU ended: waits end with ErrExited
	if _, err := m.WaitConsole(ctx, "never"); !errors.Is(err, ErrExited) {
		t.Errorf("WaitConsole after exit: %v", err)
	}
	if _, _, err := m.WaitHTTP(ctx, srv.URL, http.StatusTeapot); !errors.Is(err, ErrExited) {
		t.Errorf("WaitHTTP after exit: %v", err)
	}
}

func TestStartRefuses(t *testing.T) {
	if _, err := Start(Config{Dir: t.TempDir()}); err == nil {
		t.Error("a machine without a disk started")
	}
	if _, err := Start(Config{Disk: "x.qcow2"}); err == nil {
		t.Error("a machine without a directory started")
	}
}

// TestKVMUsable runs the probe: whatever it finds, it says why, and asks
// again gives the same answer without probing again.
func TestKVMUsable(t *testing.T) {
	ok, why := KVMUsable()
	if why == "" {
		t.Error("the probe gives no reason")
	}
	ok2, why2 := KVMUsable()
	if ok2 != ok || why2 != why {
		t.Error("a second probe disagrees")
	}
	t.Logf("KVM usable: %v (%s)", ok, why)
}

// Each disk bus puts the root disk on the controller a platform has, and
// CD-ROMs on a SCSI controller; an unknown bus is refused.
func TestDiskArgs(t *testing.T) {
	for bus, want := range map[string]string{
		"":            "-device virtio-blk-pci,drive=root,bootindex=0",
		BusNVMe:       "-device nvme,drive=root,serial=hardvm-root,bootindex=0",
		BusVirtioSCSI: "-device virtio-scsi-pci,id=scsi0 -device scsi-hd,bus=scsi0.0,drive=root,bootindex=0",
		BusPVSCSI:     "-device pvscsi,id=scsi0 -device scsi-hd,bus=scsi0.0,drive=root,bootindex=0",
	} {
		args, err := diskArgs(Config{Disk: "d.qcow2", Format: "qcow2", DiskBus: bus, Snapshot: true})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(args, " ")
		if !strings.HasPrefix(got, "-drive if=none,id=root,format=qcow2,file=d.qcow2,snapshot=on ") || !strings.HasSuffix(got, want) {
			t.Errorf("bus %q: %s", bus, got)
		}
	}
	args, err := diskArgs(Config{Disk: "d", Format: "raw", DiskBus: BusNVMe, CDROMs: []string{"c.iso"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(args, " "); !strings.Contains(got, "-device virtio-scsi-pci,id=scsi0") || !strings.HasSuffix(got, "media=cdrom,readonly=on,format=raw,file=c.iso -device scsi-cd,bus=scsi0.0,drive=cd0") {
		t.Errorf("CD-ROM on an NVMe machine: %s", got)
	}
	if _, err := diskArgs(Config{Disk: "d", Format: "raw", DiskBus: "ide"}); err == nil {
		t.Error("unknown bus accepted")
	}
	if q, a := qemuFor(vm.Aarch64, false); q != "qemu-system-aarch64" || strings.Join(a, " ") != "-machine virt,accel=tcg -cpu max,pauth-impdef=on" {
		t.Errorf("aarch64: %s %v", q, a)
	}
	if q, a := qemuFor(vm.X86_64, true); q != "qemu-system-x86_64" || strings.Join(a, " ") != "-machine q35,accel=kvm -cpu host" {
		t.Errorf("x86_64 with KVM: %s %v", q, a)
	}
}

func TestTail(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"a\nb\nc\n", 2, "b\nc"}, {"a\nb", 5, "a\nb"}, {"", 3, ""}} {
		if got := Tail(c.in, c.n); got != c.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
