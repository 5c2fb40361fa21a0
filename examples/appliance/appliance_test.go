package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/internal/vmtest/guest"
	"github.com/hardvm/hardvm/vm"
)

// The appliance tests boot the images the example builds, from Debian's
// real packages (internal/debrepo): systemd is PID 1, udev, D-Bus,
// OpenSSH, nginx and squid are Debian's binaries. What rests on stand-ins
// (see debrepo): the base layout (merged /usr, root and nobody) is made by
// debrepo, not Chainguard's; nginx's and squid's configuration files are
// Debian's, adapted to Wolfi's conventions (service accounts nginx and
// squid, nginx's default site enabled, squid allowing the local network).
// The images are the example's, with no SSH key: the key reaches each
// machine at boot through a NoCloud seed, read by the first-boot agent.

var images struct {
	once, repoOnce sync.Once
	dir            string
	repo           *debrepo.Repository
	key            *vmtest.Key
	nginx, squid   *hardvm.Output
	err            error
}

func TestMain(m *testing.M) {
	vmtest.MaybeRelay() // QEMU runs the test binary as the relay to a metadata fake
	code := m.Run()
	if images.dir != "" {
		os.RemoveAll(images.dir)
	}
	os.Exit(code)
}

// built builds both appliances once per test binary, in parallel.
func built(t *testing.T) (*hardvm.Output, *hardvm.Output, *vmtest.Key) {
	t.Helper()
	testtool.Require(t, "qemu-system-x86_64", "qemu-img", "mke2fs", "dpkg-deb", "depmod")
	repository(t)
	images.once.Do(func() {
		ctx := context.Background()
		if images.dir, images.err = os.MkdirTemp("", "appliance-test-"); images.err != nil {
			return
		}
		var wg sync.WaitGroup
		var errN, errS error
		wg.Add(2)
		go func() {
			defer wg.Done()
			images.nginx, errN = Build(ctx, images.repo, "nginx", filepath.Join(images.dir, "nginx"), slog.New(slog.DiscardHandler))
		}()
		go func() {
			defer wg.Done()
			images.squid, errS = Build(ctx, images.repo, "squid", filepath.Join(images.dir, "squid"), slog.New(slog.DiscardHandler))
		}()
		wg.Wait()
		if errN != nil {
			images.err = errN
		} else {
			images.err = errS
		}
	})
	if images.err != nil {
		t.Fatal(images.err)
	}
	return images.nginx, images.squid, images.key
}

// repository opens the test repository and makes the login key, once per
// test binary.
func repository(t testing.TB) (*debrepo.Repository, *vmtest.Key) {
	t.Helper()
	testtool.Require(t, "mke2fs", "dpkg-deb", "depmod")
	var err error
	images.repoOnce.Do(func() {
		if images.repo, err = debrepo.Open(context.Background()); err != nil {
			return
		}
		images.key, err = vmtest.NewKey("appliance-test")
	})
	if err != nil {
		images.err = err
	}
	if images.repo == nil || images.key == nil {
		t.Fatalf("test repository: %v", images.err)
	}
	return images.repo, images.key
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func qcow2(t *testing.T, o *hardvm.Output) string {
	t.Helper()
	for _, a := range o.Artifacts {
		if a.Format == vm.FormatQCOW2 {
			return a.Path
		}
	}
	t.Fatalf("no qcow2 in %s", o.Dir)
	return ""
}

// facts are what a booted machine showed.
type facts struct {
	hostKey   string // the ed25519 host key sshd proved it holds
	machineID string
	nginx     time.Duration // QEMU start to nginx's page
}

// login logs in as ops with the key from the machine's seed and requires
// systemd's "running": no unit failed.
func login(t *testing.T, ctx context.Context, m *vmtest.Machine, key *vmtest.Key) *vmtest.Session {
	t.Helper()
	s, err := Running(ctx, m, key)
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 40))
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func runIn(t *testing.T, ctx context.Context, s *vmtest.Session, cmd string) string {
	t.Helper()
	out, err := s.Run(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// machineFacts reads the host key (checked against the file sshd reads it
// from, under /var) and the machine ID.
func machineFacts(t *testing.T, ctx context.Context, s *vmtest.Session) facts {
	t.Helper()
	var f facts
	f.hostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
	onDisk := runIn(t, ctx, s, "cat /var/lib/ssh/ssh_host_ed25519_key.pub")
	if !strings.HasPrefix(onDisk, f.hostKey) {
		t.Errorf("sshd proved host key %s, /var/lib/ssh holds %s", f.hostKey, onDisk)
	}
	f.machineID = runIn(t, ctx, s, "cat /etc/machine-id")
	if !hexID.MatchString(f.machineID) {
		t.Errorf("machine-id %q", f.machineID)
	}
	return f
}

// hardening checks that the baseline is in force: sysctls read back from
// /proc/sys, mount options from /proc/mounts, /etc read-only, /home on
// /var.
func hardening(t *testing.T, ctx context.Context, s *vmtest.Session, variant string) {
	t.Helper()
	v, err := vm.LookupVariant(variant)
	if err != nil {
		t.Fatal(err)
	}
	base := vm.BaselineFor(v.Family)
	// Most sysctls are world-readable; a few (net.core.bpf_jit_harden) only
	// root may read: for those, the key exists and systemd-sysctl, which
	// fails on any key it cannot write, finished without complaint.
	var cmd strings.Builder
	for _, c := range base.Sysctls {
		p := "/proc/sys/" + strings.ReplaceAll(c.Key, ".", "/")
		fmt.Fprintf(&cmd, "if [ -r %[2]s ]; then echo %[1]s=$(cat %[2]s); elif [ -e %[2]s ]; then echo %[1]s=@root-only; else echo %[1]s=@missing; fi;", c.Key, p)
	}
	got := map[string]string{}
	for _, l := range strings.Split(runIn(t, ctx, s, cmd.String()), "\n") {
		k, val, _ := strings.Cut(l, "=")
		got[k] = strings.Join(strings.Fields(val), " ")
	}
	rootOnly := 0
	for _, c := range base.Sysctls {
		switch got[c.Key] {
		case c.Value:
		case "@root-only":
			rootOnly++
		default:
			t.Errorf("sysctl %s = %q in the booted machine, baseline %q (%s %s)", c.Key, got[c.Key], c.Value, c.Control.Benchmark, c.Control.ID)
		}
	}
	if rootOnly > 0 {
		if out := runIn(t, ctx, s, "systemctl is-active systemd-sysctl.service; journalctl -b -q -u systemd-sysctl.service --no-pager | grep -ci \"couldn't\\|failed\" || true"); out != "active\n0" {
			t.Errorf("systemd-sysctl did not apply every sysctl: %q", out)
		}
	}
	mounts := map[string][2]string{} // mount point -> fstype, options
	for _, l := range strings.Split(runIn(t, ctx, s, "cat /proc/mounts"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 {
			mounts[f[1]] = [2]string{f[2], f[3]}
		}
	}
	has := func(point, opt string) bool {
		return slices.Contains(strings.Split(mounts[point][1], ","), opt)
	}
	if mounts["/"][0] != "erofs" || !has("/", "ro") {
		t.Errorf("/ is %v, want the read-only erofs root", mounts["/"])
	}
	for _, m := range base.Mounts {
		if m.Under != "" {
			continue
		}
		if mounts[m.Path][0] != m.FSType {
			t.Errorf("%s is %v, want %s", m.Path, mounts[m.Path], m.FSType)
		}
		for _, o := range m.Options {
			if strings.Contains(o, "=") {
				continue
			}
			if !has(m.Path, o) {
				t.Errorf("%s mounted %s, the baseline wants %s (%s %s)", m.Path, mounts[m.Path][1], o, m.Control.Benchmark, m.Control.ID)
			}
		}
	}
	if out := runIn(t, ctx, s, "findmnt -n -O ro -T /etc -o TARGET"); out != "/" {
		t.Errorf("/etc is not on the read-only root: findmnt says %q", out)
	}
	if out := runIn(t, ctx, s, "readlink /home; stat -c %U:%a /home/ops"); out != "var/home\nops:700" {
		t.Errorf("/home: %q, want var/home and ops's 0700 home on /var", out)
	}
	if out := runIn(t, ctx, s, "test -w /etc && echo writable || echo read-only"); out != "read-only" {
		t.Errorf("/etc is %s for ops", out)
	}
}

// TestAppliancesBoot is issue 15's proof in booted machines: the nginx
// appliance boots from its verified root to systemd's "running" with no
// failed unit and serves its page through a forwarded port, the hardening
// baseline in force; /var grows with the disk; the login user logs in with the key that only the
// machine's NoCloud seed holds, the hostname is the seed's, another key
// and passwords are refused; a file in /home (on /var)
// survives a power-off and a second boot of the same disk, whose host key
// and machine ID stay; a second machine from the same image has another
// host key and machine ID; the squid appliance proxies a request to a
// server on the host; a flipped byte in the root partition stops the boot
// with the verity error. The machines run side by side.
func TestAppliancesBoot(t *testing.T) {
	nginx, squid, key := built(t)
	kvm, why := vmtest.KVMUsable()
	t.Logf("KVM usable: %v (%s)", kvm, why)
	ctx := context.Background()
	work := t.TempDir()
	var a1, a2, b facts
	t.Run("machines", func(t *testing.T) {
		t.Run("nginx", func(t *testing.T) {
			t.Parallel()
			disk := filepath.Join(work, "a.qcow2")
			if err := guest.Overlay(qcow2(t, nginx), "qcow2", disk); err != nil {
				t.Fatal(err)
			}
			uuid := guest.NewUUID()
			token := guest.NewUUID()
			var varMiB int
			a1 = bootNginx(t, ctx, disk, filepath.Join(work, "a1"), uuid, "web-a", key, func(m *vmtest.Machine, s *vmtest.Session) {
				metadataLogin(t, ctx, m, s, "web-a")
				hardening(t, ctx, s, "nginx")
				if out := runIn(t, ctx, s, "ps -o user,args | grep '[n]ginx: worker' | head -1"); !strings.HasPrefix(out, "nginx ") {
					t.Errorf("nginx's workers run as %q, want the nginx account", out)
				}
				runIn(t, ctx, s, "echo "+token+" > /home/ops/persist && sync")
				varMiB = varSize(t, ctx, s)
			})
			// The disk grows by 512 MiB while the machine is off (as a
			// cloud volume launched larger than the image): systemd-repart
			// grows the var partition and systemd-growfs its ext4.
			if out, err := exec.Command("qemu-img", "resize", "-q", disk, "+512M").CombinedOutput(); err != nil {
				t.Fatalf("qemu-img resize: %v: %s", err, out)
			}
			// The same disk again: what was written survives, and so do
			// the machine's host key and (same UUID) machine ID.
			a2 = bootNginx(t, ctx, disk, filepath.Join(work, "a2"), uuid, "web-a", key, func(_ *vmtest.Machine, s *vmtest.Session) {
				if out := runIn(t, ctx, s, "cat /home/ops/persist"); out != token {
					t.Errorf("after a power-off and a second boot /home/ops/persist = %q, want %q", out, token)
				}
				if grown := varSize(t, ctx, s); grown < varMiB+480 {
					t.Errorf("/var is %d MiB after the disk grew by 512 MiB, was %d MiB", grown, varMiB)
				}
			})
			if a2.hostKey != a1.hostKey || a2.machineID != a1.machineID {
				t.Errorf("second boot of the same disk: host key %s, machine-id %s; first boot: %s, %s", a2.hostKey, a2.machineID, a1.hostKey, a1.machineID)
			}
		})
		t.Run("nginx-second-machine", func(t *testing.T) {
			t.Parallel()
			disk := filepath.Join(work, "b.qcow2")
			if err := guest.Overlay(qcow2(t, nginx), "qcow2", disk); err != nil {
				t.Fatal(err)
			}
			b = bootNginx(t, ctx, disk, filepath.Join(work, "b"), guest.NewUUID(), "web-b", key, nil)
		})
		t.Run("squid", func(t *testing.T) {
			t.Parallel()
			bootSquid(t, ctx, squid, filepath.Join(work, "s"), key)
		})
		t.Run("tampered", func(t *testing.T) {
			t.Parallel()
			bootTampered(t, ctx, nginx, filepath.Join(work, "t"))
		})
	})
	if a1.hostKey != "" && b.hostKey != "" {
		if a1.hostKey == b.hostKey {
			t.Errorf("two machines from one image share the host key %s", a1.hostKey)
		}
		if a1.machineID == b.machineID {
			t.Errorf("two machines from one image share the machine-id %s", a1.machineID)
		}
	}
}

// bootNginx boots disk with a NoCloud seed (hostname, key), checks
// nginx's page through the forwarded port, logs in with the seed's key,
// requires systemd's "running", runs check, and powers off.
func bootNginx(t *testing.T, ctx context.Context, disk, dir, uuid, hostname string, key *vmtest.Key, check func(*vmtest.Machine, *vmtest.Session)) facts {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, "seed.img")
	if err := Seed(ctx, seed, hostname, key.Authorized); err != nil {
		t.Fatal(err)
	}
	m, err := Start(disk, seed, dir, uuid, 1, 80, 22)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Kill()
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	at, err := WaitNginx(bctx, m)
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 60))
	}
	_, accel := guest.Accel()
	f := facts{nginx: at.Sub(m.Started())}
	t.Logf("BOOT TIME nginx (%s, 1 vCPU, QEMU start to GET / = 200): %v", accel, f.nginx.Round(100*time.Millisecond))
	s := login(t, bctx, m, key)
	g := machineFacts(t, bctx, s)
	f.hostKey, f.machineID = g.hostKey, g.machineID
	if check != nil {
		check(m, s)
	}
	s.Close()
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer pcancel()
	if err := m.PowerOff(pctx); err != nil {
		t.Fatalf("power off: %v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 30))
	}
	return f
}

// varSize returns the size of the /var file system in MiB.
func varSize(t *testing.T, ctx context.Context, s *vmtest.Session) int {
	t.Helper()
	out := runIn(t, ctx, s, "df -m /var | tail -1")
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("df: %q", out)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("df: %q", out)
	}
	return n
}

// metadataLogin is issue 15's item 2, on a machine whose only key is in
// its NoCloud seed (the login that brought s used it): the hostname is the
// seed's, a key not in the seed is refused, and so are passwords, for ops
// and root.
func metadataLogin(t *testing.T, ctx context.Context, m *vmtest.Machine, s *vmtest.Session, hostname string) {
	t.Helper()
	if out := runIn(t, ctx, s, "hostname"); out != hostname {
		t.Errorf("hostname %q, the seed's local-hostname is %q", out, hostname)
	}
	other, err := vmtest.NewKey("not-in-the-seed")
	if err != nil {
		t.Fatal(err)
	}
	for _, try := range []struct {
		what string
		user string
		auth ssh.AuthMethod
	}{
		{"a key not in the seed", LoginUser, ssh.PublicKeys(other.Signer)},
		{"a password", LoginUser, ssh.Password("ops")},
		{"keyboard-interactive", LoginUser, ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return []string{"ops"}, nil })},
		{"root with the seed's key", "root", ssh.PublicKeys(images.key.Signer)},
		{"root with a password", "root", ssh.Password("root")},
	} {
		c, err := vmtest.Dial(ctx, m.Addr(22), try.user, true, try.auth)
		if err == nil {
			c.Close()
			t.Errorf("%s: login as %s accepted", try.what, try.user)
		} else if !errors.Is(err, vmtest.ErrAuth) {
			t.Errorf("%s: %v, want the server to refuse", try.what, err)
		}
	}
}

// bootSquid boots the squid appliance and sends a request for a server on
// the host through its proxy port.
func bootSquid(t *testing.T, ctx context.Context, squid *hardvm.Output, dir string, key *vmtest.Key) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "s.qcow2")
	if err := guest.Overlay(qcow2(t, squid), "qcow2", disk); err != nil {
		t.Fatal(err)
	}
	up, err := NewUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	seed := filepath.Join(dir, "seed.img")
	if err := Seed(ctx, seed, "proxy", key.Authorized); err != nil {
		t.Fatal(err)
	}
	m, err := Start(disk, seed, dir, guest.NewUUID(), 1, 3128, 22)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Kill()
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	at, err := WaitProxy(bctx, m, up)
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 60))
	}
	t.Logf("BOOT TIME squid (QEMU start to a proxied request answered): %v", at.Sub(m.Started()).Round(100*time.Millisecond))
	if via := up.Via(); len(via) == 0 || !strings.Contains(strings.Join(via, " "), "squid") {
		t.Errorf("the upstream saw Via %q: the request did not come through squid", via)
	}
	s := login(t, bctx, m, key)
	if out := runIn(t, ctx, s, "ps -o user,args | grep '[(]squid-1)' | head -1"); !strings.HasPrefix(out, "squid ") {
		t.Errorf("squid runs as %q, want the squid account", out)
	}
	s.Close()
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer pcancel()
	if err := m.PowerOff(pctx); err != nil {
		t.Fatal(err)
	}
}

// bootTampered flips one byte in the root partition of a copy of the raw
// disk: the initramfs refuses the root with the verity error.
func bootTampered(t *testing.T, ctx context.Context, nginx *hardvm.Output, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "tampered.raw")
	if out, err := exec.Command("cp", "--sparse=always", nginx.Disk.Path, bad).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	var off int64 = -1
	for _, p := range nginx.Disk.Partitions {
		if p.Name == "root-x86-64" {
			off = p.Offset + p.Size/3
		}
	}
	f, err := os.OpenFile(bad, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	kvm, _ := guest.Accel()
	m, err := vmtest.Start(vmtest.Config{Disk: bad, Format: "raw", Snapshot: true, Dir: dir, KVM: kvm})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Kill()
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	if _, err := m.WaitConsole(bctx, "VERITY FAILURE", "Welcome to", "login:"); err != nil {
		t.Fatalf("tampered root: %v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 40))
	}
	if strings.Contains(m.Console(), "Started nginx.service") {
		t.Error("nginx started from a tampered root")
	}
}

// TestApplianceRecordsConfiguration checks what a build records of the OS
// configuration: the lock and the signed provenance name the accounts, the
// units and the hardening baseline in force.
func TestApplianceRecordsConfiguration(t *testing.T) {
	nginx, _, _ := built(t)
	cfg := nginx.Lock.Configuration
	if cfg == nil {
		t.Fatal("the lock has no configuration")
	}
	if !slices.Contains(cfg.Units, "nginx.service") || !slices.Contains(cfg.Units, "ssh.service") || !slices.Contains(cfg.Units, "systemd-networkd.service") {
		t.Errorf("units enabled: %v", cfg.Units)
	}
	want := map[string]int{"nginx": 201, "sshd": 74, "messagebus": 81, "systemd-network": 192, "ops": 1000}
	for _, a := range cfg.Accounts {
		if id, ok := want[a.Name]; ok {
			if a.UID != id {
				t.Errorf("account %s has uid %d, want %d", a.Name, a.UID, id)
			}
			delete(want, a.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("accounts missing: %v", want)
	}
	if cfg.Firstboot == nil || cfg.Firstboot.User != LoginUser || !slices.Contains(cfg.Units, "hardvm-firstboot.service") {
		t.Errorf("first-boot agent: %+v (units %v)", cfg.Firstboot, cfg.Units)
	}
	if cfg.SSHD == nil || cfg.Network == "" || len(cfg.Sysctls) == 0 || !slices.ContainsFunc(cfg.Fstab, func(l string) bool { return strings.HasPrefix(l, "PARTLABEL=var /var ext4 ") }) {
		t.Errorf("configuration: %+v", cfg)
	}
	b, err := os.ReadFile(filepath.Join(nginx.Dir, builddir.ProvenanceFile))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Predicate struct {
			BuildDefinition struct {
				InternalParameters struct {
					Configuration *vm.Configuration `json:"configuration"`
				} `json:"internalParameters"`
			} `json:"buildDefinition"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	rec := st.Predicate.BuildDefinition.InternalParameters.Configuration
	if rec == nil || len(rec.Sysctls) != len(cfg.Sysctls) || rec.SSHD == nil || len(rec.Accounts) != len(cfg.Accounts) {
		t.Fatalf("the provenance's internalParameters.configuration = %+v, want what the build applied", rec)
	}
}
