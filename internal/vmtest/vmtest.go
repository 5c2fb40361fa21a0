// Package vmtest runs hardvm disks in QEMU for tests and examples that
// claim an image runs: UEFI firmware (OVMF), the disk on virtio-blk,
// QEMU's user-mode network with TCP ports forwarded from 127.0.0.1 only,
// the serial console in a file. It waits on the console, on HTTP and on
// SSH with deadlines, never with counts of tries, and uses KVM only when a
// probe shows that it really runs the firmware (software emulation
// otherwise).
package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/vm"
)

// ErrTimeout reports a wait whose deadline passed.
var ErrTimeout = errors.New("vmtest: timed out")

// ErrExited reports a machine whose QEMU ended while something waited on it.
var ErrExited = errors.New("vmtest: QEMU exited")

// Config describes a machine.
type Config struct {
	Disk   string // disk image
	Format string // "qcow2" (default) or "raw"
	// Snapshot sends writes to a temporary overlay: the disk is unchanged.
	Snapshot bool
	// Drives are more disks, attached read-only on virtio-blk after Disk
	// (a NoCloud seed volume).
	Drives []string
	// Forward lists guest TCP ports to forward from 127.0.0.1; Port tells
	// the host port each got.
	Forward  []int
	MemoryMB int // default 1024
	CPUs     int // default 1
	// UUID is the machine's SMBIOS system UUID (as a cloud gives every
	// instance its own); systemd derives the machine ID from it.
	UUID string
	// Dir holds the firmware variables and the console log (required).
	Dir string
	// KVM uses hardware virtualisation (see KVMUsable).
	KVM bool
	// SMBIOS adds -smbios arguments (type=1,manufacturer=…).
	SMBIOS []string
	// Arch is the guest's architecture (default x86_64): aarch64 runs
	// qemu-system-aarch64 -M virt with AAVMF under software emulation
	// (-cpu max).
	Arch vm.Arch
	// DiskBus is the controller Disk sits on: BusVirtio (default),
	// BusNVMe, BusVirtioSCSI or BusPVSCSI (VMware's paravirtual SCSI).
	DiskBus string
	// NIC is the network device model (default virtio-net-pci; vmxnet3
	// for VMware).
	NIC string
	// Net are more options of the user network (-nic user,…): net=,
	// host=, guestfwd=… to put a fake metadata server in the guest's
	// network.
	Net []string
	// FwCfg are -fw_cfg arguments (name=opt/…,string=… or file=…).
	FwCfg []string
	// CDROMs are ISO images attached read-only as SCSI CD-ROMs, on the
	// disk's SCSI controller (a virtio-scsi one if the disk has none), as
	// Nutanix AHV attaches a config drive.
	CDROMs []string
}

// The disk controllers a Config may name.
const (
	BusVirtio     = "virtio"      // virtio-blk-pci
	BusNVMe       = "nvme"        // an NVMe controller (EC2 Nitro, GCE, Azure v6)
	BusVirtioSCSI = "virtio-scsi" // virtio-scsi-pci (GCE, Nutanix AHV)
	BusPVSCSI     = "pvscsi"      // VMware's paravirtual SCSI
)

// diskArgs returns the -drive and -device arguments for the disk and the
// CD-ROMs on cfg.DiskBus.
func diskArgs(cfg Config) ([]string, error) {
	drive := "if=none,id=root,format=" + cfg.Format + ",file=" + cfg.Disk
	if cfg.Snapshot {
		drive += ",snapshot=on"
	}
	args := []string{"-drive", drive}
	scsi := ""
	switch cfg.DiskBus {
	case "", BusVirtio:
		args = append(args, "-device", "virtio-blk-pci,drive=root,bootindex=0")
	case BusNVMe:
		args = append(args, "-device", "nvme,drive=root,serial=hardvm-root,bootindex=0")
	case BusVirtioSCSI:
		scsi = "virtio-scsi-pci"
	case BusPVSCSI:
		scsi = "pvscsi"
	default:
		return nil, fmt.Errorf("vmtest: unknown disk bus %q", cfg.DiskBus)
	}
	if scsi == "" && len(cfg.CDROMs) > 0 {
		scsi = "virtio-scsi-pci"
	}
	if scsi != "" {
		args = append(args, "-device", scsi+",id=scsi0")
	}
	if cfg.DiskBus == BusVirtioSCSI || cfg.DiskBus == BusPVSCSI {
		args = append(args, "-device", "scsi-hd,bus=scsi0.0,drive=root,bootindex=0")
	}
	for i, c := range cfg.CDROMs {
		id := "cd" + strconv.Itoa(i)
		args = append(args, "-drive", "if=none,id="+id+",media=cdrom,readonly=on,format=raw,file="+c,
			"-device", "scsi-cd,bus=scsi0.0,drive="+id)
	}
	return args, nil
}

// qemuFor returns the QEMU program, machine and CPU arguments of arch.
func qemuFor(a vm.Arch, kvm bool) (string, []string) {
	accel := "tcg"
	if kvm {
		accel = "kvm"
	}
	if a == vm.Aarch64 {
		// max with QEMU's implementation-defined pointer authentication:
		// the architected QARMA algorithm costs software emulation most
		// of its time.
		cpu := "max,pauth-impdef=on"
		if kvm {
			cpu = "host"
		}
		return "qemu-system-aarch64", []string{"-machine", "virt,accel=" + accel, "-cpu", cpu}
	}
	args := []string{"-machine", "q35,accel=" + accel}
	if kvm {
		args = append(args, "-cpu", "host")
	}
	return "qemu-system-x86_64", args
}

// Machine is a running QEMU.
type Machine struct {
	cfg     Config
	cmd     *exec.Cmd
	ports   map[int]int
	console string
	start   time.Time
	done    chan struct{}
	exitErr error
	monitor string // the QEMU monitor's unix socket
	stderr  bytes.Buffer
}

// Start starts QEMU for cfg. Stop it with Kill or let the guest power off
// (Wait).
func Start(cfg Config) (*Machine, error) {
	if cfg.Disk == "" || cfg.Dir == "" {
		return nil, errors.New("vmtest: a machine needs a disk and a directory")
	}
	if cfg.Format == "" {
		cfg.Format = "qcow2"
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.Arch == "" {
		cfg.Arch = vm.X86_64
	}
	if cfg.NIC == "" {
		cfg.NIC = "virtio-net-pci"
	}
	disks, err := diskArgs(cfg)
	if err != nil {
		return nil, err
	}
	code, varsTemplate, err := boot.FindOVMF(cfg.Arch)
	if err != nil {
		return nil, err
	}
	qemu, machine := qemuFor(cfg.Arch, cfg.KVM)
	if _, err := exec.LookPath(qemu); err != nil {
		return nil, fmt.Errorf("vmtest: %s not found (make deps installs it): %w", qemu, err)
	}
	vars := filepath.Join(cfg.Dir, "OVMF_VARS.fd")
	b, err := os.ReadFile(varsTemplate)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		return nil, err
	}
	// The monitor's socket path must be short (sun_path): its own
	// directory under the system's temporary one.
	sockDir, err := os.MkdirTemp("", "vm")
	if err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, ports: map[int]int{}, console: filepath.Join(cfg.Dir, "console.log"), done: make(chan struct{}),
		monitor: filepath.Join(sockDir, "m.sock")}
	if err := os.WriteFile(m.console, nil, 0o644); err != nil {
		return nil, err
	}
	nic := "user,model=" + cfg.NIC
	for _, o := range cfg.Net {
		nic += "," + o
	}
	for _, g := range cfg.Forward {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		m.ports[g] = p
		nic += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", p, g)
	}
	args := append(machine,
		"-m", strconv.Itoa(cfg.MemoryMB), "-smp", strconv.Itoa(cfg.CPUs),
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	args = append(args, disks...)
	args = append(args,
		"-nic", nic,
		"-display", "none", "-monitor", "unix:"+m.monitor+",server=on,wait=off", "-no-reboot",
		"-serial", "file:"+m.console,
	)
	for i, d := range cfg.Drives {
		id := "extra" + strconv.Itoa(i)
		args = append(args, "-drive", "if=none,id="+id+",format=raw,readonly=on,file="+d, "-device", "virtio-blk-pci,drive="+id)
	}
	for _, f := range cfg.FwCfg {
		args = append(args, "-fw_cfg", f)
	}
	if cfg.UUID != "" {
		args = append(args, "-uuid", cfg.UUID)
	}
	for _, s := range cfg.SMBIOS {
		args = append(args, "-smbios", s)
	}
	m.cmd = exec.Command(qemu, args...)
	m.cmd.Stderr = &m.stderr
	m.start = time.Now()
	if err := m.cmd.Start(); err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("vmtest: starting QEMU: %w", err)
	}
	go func() {
		m.exitErr = m.cmd.Wait()
		os.RemoveAll(sockDir)
		close(m.done)
	}()
	return m, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port returns the host port forwarded to guest port g (0 if none).
func (m *Machine) Port(g int) int { return m.ports[g] }

// Addr returns 127.0.0.1:<host port of guest port g>.
func (m *Machine) Addr(g int) string { return "127.0.0.1:" + strconv.Itoa(m.ports[g]) }

// Started is when QEMU was started.
func (m *Machine) Started() time.Time { return m.start }

// Console returns what the serial console printed so far.
func (m *Machine) Console() string {
	b, _ := os.ReadFile(m.console)
	return string(b)
}

// ConsolePath is the file the serial console goes to.
func (m *Machine) ConsolePath() string { return m.console }

// Exited reports whether QEMU has ended.
func (m *Machine) Exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Wait waits for QEMU to end (the guest powered off) and returns how.
func (m *Machine) Wait(ctx context.Context) error {
	select {
	case <-m.done:
		if m.exitErr != nil {
			return fmt.Errorf("vmtest: QEMU: %w: %s", m.exitErr, strings.TrimSpace(m.stderr.String()))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w waiting for the machine to power off: %v", ErrTimeout, ctx.Err())
	}
}

// Powerdown presses the machine's ACPI power button (QEMU's
// system_powerdown): systemd-logind powers the guest off cleanly and QEMU
// ends. Wait for it with Wait.
func (m *Machine) Powerdown() error {
	c, err := net.DialTimeout("unix", m.monitor, 5*time.Second)
	if err != nil {
		return fmt.Errorf("vmtest: monitor: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "system_powerdown\n"); err != nil {
		return fmt.Errorf("vmtest: monitor: %w", err)
	}
	// Read the echo, so that QEMU has the command before the socket closes.
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "system_powerdown") {
		n, err := c.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return nil
}

// PowerOff presses the power button, again every 10 s (a button pressed
// before systemd-logind watches it is lost), until QEMU ends or ctx is
// done.
func (m *Machine) PowerOff(ctx context.Context) error {
	for {
		if err := m.Powerdown(); err != nil {
			// QEMU removes its monitor's socket as it ends: a press that
			// finds no socket may be racing the end it caused.
			select {
			case <-m.done:
			case <-time.After(5 * time.Second):
				return err
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := m.Wait(wctx)
		cancel()
		if m.Exited() {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w waiting for the machine to power off", ErrTimeout)
		}
	}
}

// exitDetail says what QEMU printed on its standard error before it
// ended; call it only once Exited.
func (m *Machine) exitDetail() string {
	if s := strings.TrimSpace(m.stderr.String()); s != "" {
		return ": " + s
	}
	return ""
}

// Kill ends QEMU (if it still runs) and waits for it.
func (m *Machine) Kill() {
	if !m.Exited() {
		_ = m.cmd.Process.Kill()
	}
	<-m.done
}

// WaitConsole waits until a console line contains want (it returns the
// line) or one of fail (an error naming the line), until QEMU ends or ctx
// is done.
func (m *Machine) WaitConsole(ctx context.Context, want string, fail ...string) (string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		exited := m.Exited()
		sc := bufio.NewScanner(strings.NewReader(m.Console()))
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, want) {
				return l, nil
			}
			if slices.ContainsFunc(fail, func(f string) bool { return strings.Contains(l, f) }) {
				return l, fmt.Errorf("vmtest: console: %s", strings.TrimSpace(l))
			}
		}
		if exited {
			return "", fmt.Errorf("%w before the console printed %q%s", ErrExited, want, m.exitDetail())
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w waiting for %q on the console", ErrTimeout, want)
		case <-tick.C:
		}
	}
}

// WaitHTTP GETs url until it answers status want, and returns the body and
// when it first did.
func (m *Machine) WaitHTTP(ctx context.Context, url string, want int) ([]byte, time.Time, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	var last string
	for {
		if m.Exited() {
			return nil, time.Time{}, fmt.Errorf("%w before %s answered (last: %s)%s", ErrExited, url, last, m.exitDetail())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, time.Time{}, err
		}
		resp, err := c.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == want && rerr == nil {
				return body, time.Now(), nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return nil, time.Time{}, fmt.Errorf("%w waiting for %s to answer %d (last: %s)", ErrTimeout, url, want, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var (
	kvmOnce sync.Once
	kvmOK   bool
	kvmWhy  string
)

// KVMUsable reports whether KVM really runs a machine here: it starts
// OVMF with KVM for a few seconds and asks QEMU's monitor whether the
// machine is still running (a broken paravirtual KVM stops OVMF with an
// internal error). It probes once per process; why says what it saw.
func KVMUsable() (ok bool, why string) {
	kvmOnce.Do(func() { kvmOK, kvmWhy = probeKVM() })
	return kvmOK, kvmWhy
}

func probeKVM() (bool, string) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false, "no /dev/kvm"
	}
	code, vars, err := boot.FindOVMF(vm.X86_64)
	if err != nil {
		return false, err.Error()
	}
	dir, err := os.MkdirTemp("", "vmtest-kvm-")
	if err != nil {
		return false, err.Error()
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(vars)
	if err != nil {
		return false, err.Error()
	}
	v := filepath.Join(dir, "vars.fd")
	if err := os.WriteFile(v, b, 0o644); err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-machine", "q35,accel=kvm", "-cpu", "host", "-m", "256",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+v,
		"-display", "none", "-serial", "none", "-nic", "none", "-monitor", "stdio")
	in, err := cmd.StdinPipe()
	if err != nil {
		return false, err.Error()
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return false, err.Error()
	}
	time.Sleep(4 * time.Second)
	_, _ = io.WriteString(in, "info status\nquit\n")
	_ = cmd.Wait()
	s := out.String()
	if strings.Contains(s, "VM status: running") {
		return true, "OVMF runs under KVM"
	}
	if i := strings.Index(s, "VM status:"); i >= 0 {
		line, _, _ := strings.Cut(s[i:], "\n")
		return false, strings.TrimSpace(line)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "error") || strings.Contains(l, "failed") {
			return false, strings.TrimSpace(l)
		}
	}
	return false, "QEMU with KVM did not report a running machine"
}

// Tail returns the last n lines of s (a console or a log), for failure
// messages.
func Tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
