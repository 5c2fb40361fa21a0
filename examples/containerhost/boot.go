package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/ssh"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/internal/vmtest/guest"
	"github.com/hardvm/hardvm/vm"
)

// BootTimeout bounds one boot, from QEMU's start to systemd's "running",
// under software emulation on a loaded machine.
const BootTimeout = 6 * time.Minute

// Registry is Debian's docker-registry serving on 127.0.0.1.
type Registry struct {
	Addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	log  string
}

// StartRegistry starts docker-registry with its storage in dir and waits
// for its API to answer.
func StartRegistry(ctx context.Context, dir string) (*Registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry (Debian's package docker-registry): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "registry-data"), addr), 0o644); err != nil {
		return nil, err
	}
	r := &Registry{Addr: addr, log: filepath.Join(dir, "registry.log")}
	out, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(bin, "serve", cfg)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	out.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.Close()
			return nil, fmt.Errorf("docker-registry did not answer on %s: %v\n%s", addr, err, r.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log returns the registry's log.
func (r *Registry) Log() string {
	b, _ := os.ReadFile(r.log)
	return string(b)
}

// Close stops the registry.
func (r *Registry) Close() error {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	return nil
}

// Busybox returns Debian's static busybox from the Debian package
// internal/debrepo's cache holds (busybox-static).
func Busybox(ctx context.Context) ([]byte, string, error) {
	debs, _ := filepath.Glob(filepath.Join(debrepo.CacheDir(), "busybox-static_*.deb"))
	if len(debs) == 0 {
		return nil, "", fmt.Errorf("%w: busybox-static", debrepo.ErrMissing)
	}
	sort.Strings(debs)
	deb := debs[len(debs)-1]
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", deb, err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, "", fmt.Errorf("%s has no bin/busybox: %w", deb, err)
		}
		if h.Name == "./bin/busybox" || h.Name == "bin/busybox" {
			b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			return b, filepath.Base(deb), err
		}
	}
}

// PushBusybox builds a one-layer OCI image of busybox (/bin/busybox and
// /bin/sh) whose command prints what it is given, and pushes it to the
// registry as repo:tag. It returns the manifest's digest.
func PushBusybox(ctx context.Context, registry, repo, tag string, busybox []byte) (string, error) {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	mtime := time.Unix(Epoch, 0)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(busybox)), ModTime: mtime},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: mtime},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: mtime},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(busybox); err != nil {
				return "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	data := layer.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return "", err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, l); err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/bin/busybox", "echo"}
	cf.Config.Cmd = []string{"hello from busybox"}
	cf.Created.Time = mtime
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	ref, err := name.ParseReference(registry+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// UserData is the #hardvm-config document that makes RegistryHost
// resolve through the registry at guestAddr (10.0.2.2:PORT) and lets
// Docker pull from guestAddr over HTTP.
func UserData(guestAddr string) []byte {
	return fmt.Appendf(nil, "%s\ncontainerd:\n  registries:\n    - host: %s\n      mirrors: [\"http://%s\"]\n    - host: %s\n      plainHTTP: true\n",
		firstboot.HardvmConfigMarker, RegistryHost, guestAddr, guestAddr)
}

// GuestAddr is where a machine of platform p on QEMU's user network
// reaches a host address 127.0.0.1:PORT (guest.HostIP).
func GuestAddr(p vm.Cloud, hostAddr string) string {
	_, port, _ := net.SplitHostPort(hostAddr)
	return net.JoinHostPort(guest.HostIP(p), port)
}

// Result is what a boot check saw.
type Result struct {
	Accel   string        // "kvm" or "tcg"
	Output  string        // the container's output
	Elapsed time.Duration // from QEMU's start to the container's output
}

// Machine is a booted container host with its login session and the
// fakes of its platform's metadata.
type Machine struct {
	*vmtest.Machine
	Guest   *guest.Guest
	Session *vmtest.Session
	Accel   string
}

// Close closes the login session, kills the machine if it still runs and
// stops its metadata fakes.
func (m *Machine) Close() {
	m.Session.Close()
	m.Kill()
	m.Guest.Close()
}

// Boot boots a machine of platform p from the image o (through an overlay
// in dir) as internal/vmtest/guest emulates the platform: for qemu a
// NoCloud seed, for aws the root disk on NVMe, EC2's SMBIOS identity and
// the IMDSv2 fake (it checks that every request follows IMDSv2, reached
// through this binary as a relay: TestMain calls vmtest.MaybeRelay). The
// metadata holds the hostname, key and user data. It logs in as the login
// user (two CPUs, 1.5 GiB, SSH forwarded, KVM where it works); close the
// machine when done.
func Boot(ctx context.Context, o *hardvm.Output, p vm.Cloud, dir, hostname string, key *vmtest.Key, userData []byte) (*Machine, error) {
	g, err := guest.New(ctx, o, guest.Spec{Platform: p, Dir: dir, Hostname: hostname, User: LoginUser, AuthorizedKey: key.Authorized,
		UserData: userData, Forward: []int{22}, CPUs: 2, MemoryMB: 1536, SourceDateEpoch: Epoch})
	if err != nil {
		return nil, err
	}
	m, err := g.Start()
	if err != nil {
		g.Close()
		return nil, err
	}
	s, err := vmtest.Dial(ctx, m.Addr(22), LoginUser, false, ssh.PublicKeys(key.Signer))
	if err != nil {
		m.Kill()
		g.Close()
		return nil, fmt.Errorf("%w (console: %s)", err, m.ConsolePath())
	}
	return &Machine{Machine: m, Guest: g, Session: s, Accel: g.Accel}, nil
}

// Running waits for systemd to finish starting and returns what it says
// ("running" when no unit failed) with the failed units and the recent
// warnings when it is not.
func (m *Machine) Running(ctx context.Context) (string, error) {
	out, err := m.Session.Run(ctx, "systemctl is-system-running --wait")
	state := strings.TrimSpace(out)
	if state == "running" {
		return state, nil
	}
	failed, _ := m.Session.Run(ctx, "systemctl list-units --state=failed --no-legend --plain; journalctl -b -p warning --no-pager | tail -40")
	return state, fmt.Errorf("systemctl is-system-running = %q (%v); failed units and warnings:\n%s", state, err, failed)
}

// Check boots the host image with the mirror in its user data, pulls
// RegistryHost/busybox:1 with ctr through the hosts directory the agent
// wrote, runs it and returns its output. It powers the machine off.
func Check(ctx context.Context, o *hardvm.Output, dir string) (Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	reg, err := StartRegistry(ctx, dir)
	if err != nil {
		return Result{}, err
	}
	defer reg.Close()
	bb, _, err := Busybox(ctx)
	if err != nil {
		return Result{}, err
	}
	if _, err := PushBusybox(ctx, reg.Addr, "busybox", "1", bb); err != nil {
		return Result{}, err
	}
	key, err := vmtest.NewKey("containerhost-check")
	if err != nil {
		return Result{}, err
	}
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	m, err := Boot(bctx, o, vm.QEMU, dir, "host-check", key, UserData(GuestAddr(vm.QEMU, reg.Addr)))
	if err != nil {
		return Result{}, err
	}
	defer m.Close()
	r := Result{Accel: m.Accel}
	if _, err := m.Running(bctx); err != nil {
		return r, err
	}
	out, err := m.Session.Run(bctx, RunContainer("check", "hello from the check"))
	if err != nil {
		return r, fmt.Errorf("%w: %s", err, out)
	}
	r.Output = strings.TrimSpace(out)
	r.Elapsed = time.Since(m.Started())
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer pcancel()
	return r, m.PowerOff(pctx)
}

// RunContainer is the shell command that pulls RegistryHost/busybox:1
// with ctr through the agent's hosts directory and runs it with args, as
// root through sudo.
func RunContainer(id string, args ...string) string {
	ref := RegistryHost + "/busybox:1"
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return fmt.Sprintf("set -e; sudo -n ctr image pull --hosts-dir %s %s >/dev/null && sudo -n ctr run --rm %s %s /bin/busybox echo %s",
		firstboot.ContainerdHostsDir, ref, ref, id, strings.Join(q, " "))
}

// DockerRun is the shell command that runs busybox:1 from the registry
// at guestAddr with Docker (as root through sudo), with args; the
// container has no network. It runs without AppArmor confinement: the
// kernel has AppArmor, but the test repository has no apparmor_parser to
// load Docker's profile with (a Wolfi image carries its own).
func DockerRun(guestAddr string, args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return fmt.Sprintf("sudo -n docker run --rm --network none --security-opt apparmor=unconfined %s/busybox:1 %s", guestAddr, strings.Join(q, " "))
}
