package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// forward is one --forward HOST:GUEST (TCP, host side on 127.0.0.1).
type forward struct{ host, guest int }

type forwards []forward

func (f *forwards) String() string {
	s := make([]string, len(*f))
	for i, fw := range *f {
		s[i] = fmt.Sprintf("%d:%d", fw.host, fw.guest)
	}
	return strings.Join(s, ",")
}
func (f *forwards) Type() string { return "HOST:GUEST" }

func (f *forwards) Set(s string) error {
	h, g, ok := strings.Cut(s, ":")
	hp, err1 := strconv.Atoi(h)
	gp, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || hp < 1 || hp > 65535 || gp < 1 || gp > 65535 {
		return fmt.Errorf("want HOST:GUEST TCP ports (1-65535), e.g. 8080:80")
	}
	for _, x := range *f {
		if x.host == hp {
			return fmt.Errorf("host port %d forwarded twice", hp)
		}
	}
	*f = append(*f, forward{hp, gp})
	return nil
}

// sshForwardPort is the host port --ssh-key forwards to the guest's 22.
const sshForwardPort = 2222

func init() {
	addCommand(newRunCmd)
}

// runRun boots a disk in QEMU with OVMF (UEFI), the serial console on the
// terminal, like `linuxkit run`. The disk is not modified (QEMU's snapshot
// mode) unless --write is given.
func newRunCmd(e *env) *cobra.Command {
	return leaf(e, "run", "boot a disk in QEMU with UEFI, serial console on the terminal", "run DISK [--format raw|qcow2] [--memory MiB] [--cpus N] [--accel auto|kvm|tcg] [--forward HOST:GUEST]... [--ssh-key FILE [--hostname NAME]] [--write] [--secure-boot --firmware CODE --vars VARS]",
		"hardvm run --forward 8080:80 --ssh-key ~/.ssh/id_ed25519.pub out/disk.qcow2  # out/ as 'hardvm build --out out' wrote it", func(fs *pflag.FlagSet) runFunc {
			format := fs.String("format", "", "disk format: raw or qcow2 (default: from the file name)")
			memory := fs.Int("memory", 512, "memory in MiB")
			cpus := fs.Int("cpus", 1, "virtual CPUs")
			accel := fs.String("accel", "auto", "auto: KVM if a probe really runs the firmware under it, else software emulation (TCG); kvm; tcg")
			kvm := fs.Bool("kvm", false, "same as --accel kvm")
			arch := fs.String("arch", string(vm.X86_64), "architecture of the image: x86_64 or aarch64")
			write := fs.Bool("write", false, "let the guest write to the disk (default: changes are discarded)")
			dryRun := fs.Bool("dry-run", false, "print the QEMU command line instead of running it (--accel auto is then not probed: TCG is shown; an --ssh-key seed is kept)")
			firmware := fs.String("firmware", "", "OVMF code file (default: the ovmf package's)")
			varsFlag := fs.String("vars", "", "OVMF variable store template, copied before use (default: the ovmf package's)")
			secureBoot := fs.Bool("secure-boot", false, "firmware with Secure Boot (SMM), e.g. --firmware OVMF_CODE_4M.secboot.fd --vars with your db key enrolled")
			var fwd forwards
			fs.Var(&fwd, "forward", "forward TCP port HOST on 127.0.0.1 to the guest's port GUEST (repeatable), e.g. 8080:80")
			sshKey := fs.String("ssh-key", "", fmt.Sprintf("OpenSSH public key file: given to the guest in a NoCloud seed (a second disk labelled CIDATA), and host port %d forwarded to the guest's 22", sshForwardPort))
			hostname := fs.String("hostname", "", "with --ssh-key: the seed's local-hostname")
			return func(ctx context.Context, args []string) error {
				if fs.NArg() != 1 {
					return usagef("want exactly one DISK, got %d arguments", fs.NArg())
				}
				disk := fs.Arg(0)
				if *format == "" {
					*format = "raw"
					if strings.EqualFold(filepath.Ext(disk), ".qcow2") {
						*format = "qcow2"
					}
				}
				if *format != "raw" && *format != "qcow2" {
					return usagef("--format %q: want raw or qcow2", *format)
				}
				a := vm.Arch(*arch)
				if !a.Valid() {
					return usagef("--arch %q: want x86_64 or aarch64", *arch)
				}
				if *memory < 64 || *cpus < 1 {
					return usagef("--memory must be at least 64 and --cpus at least 1")
				}
				if *kvm {
					*accel = "kvm"
				}
				if *accel != "auto" && *accel != "kvm" && *accel != "tcg" {
					return usagef("--accel %q: want auto, kvm or tcg", *accel)
				}
				if *hostname != "" && *sshKey == "" {
					return usagef("--hostname needs --ssh-key")
				}
				if _, err := os.Stat(disk); err != nil {
					return err
				}
				var keys []string
				if *sshKey != "" {
					var err error
					if keys, err = readPublicKeys(*sshKey); err != nil {
						return err
					}
					if !fwd.forwardsGuest(22) {
						if err := fwd.Set(fmt.Sprintf("%d:22", sshForwardPort)); err != nil {
							return usagef("--ssh-key forwards host port %d to 22: %v", sshForwardPort, err)
						}
					}
				}
				code, varsTemplate := *firmware, *varsFlag
				if code == "" || varsTemplate == "" {
					c, v, err := boot.FindOVMF(a)
					if err != nil {
						return err
					}
					if code == "" {
						code = c
					}
					if varsTemplate == "" {
						varsTemplate = v
					}
				}
				// The firmware writes its variable store: give it a private copy.
				tmp, err := os.MkdirTemp("", "hardvm-run-")
				if err != nil {
					return err
				}
				if !*dryRun || *sshKey == "" {
					defer os.RemoveAll(tmp) // a dry run keeps the seed it prints
				}
				vars := filepath.Join(tmp, filepath.Base(varsTemplate))
				b, err := os.ReadFile(varsTemplate)
				if err != nil {
					return err
				}
				if err := os.WriteFile(vars, b, 0o600); err != nil {
					return err
				}
				useKVM := *accel == "kvm"
				if *accel == "auto" && !*dryRun {
					ok, status := probeKVM(ctx, a, code, varsTemplate, tmp)
					useKVM = ok
					fmt.Fprintf(e.stderr, "hardvm run: KVM probe: %s: using %s\n", status, map[bool]string{true: "KVM", false: "software emulation (TCG)"}[ok])
				}
				q := boot.QEMU{Arch: a, Disk: disk, Format: *format, MemoryMB: *memory, CPUs: *cpus, Code: code, Vars: vars, KVM: useKVM, Snapshot: !*write, SecureBoot: *secureBoot}
				qargs, err := q.Args()
				if err != nil {
					return err
				}
				if len(fwd) > 0 {
					qargs = withUserNetwork(qargs, fwd)
				}
				if *sshKey != "" {
					seed := filepath.Join(tmp, "seed.img")
					if err := firstboot.WriteNoCloudSeedFile(ctx, seed, firstboot.Seed{Hostname: *hostname, AuthorizedKeys: keys}); err != nil {
						return err
					}
					qargs = append(qargs, "-drive", "if=virtio,format=raw,readonly=on,file="+seed)
					if *dryRun {
						fmt.Fprintf(e.stderr, "hardvm run: NoCloud seed written to %s (kept for the command below)\n", seed)
					}
				}
				if *dryRun {
					fmt.Fprintln(e.stdout, q.Binary(), strings.Join(qargs, " "))
					return nil
				}
				bin, err := exec.LookPath(q.Binary())
				if err != nil {
					return fmt.Errorf("%s not found (Debian: apt-get install qemu-system-x86 ovmf): %w", q.Binary(), err)
				}
				fmt.Fprintf(e.stderr, "hardvm run: booting %s (%s) with UEFI; the serial console follows; power off the guest or press Ctrl-C to stop\n", disk, *format)
				for _, f := range fwd {
					fmt.Fprintf(e.stderr, "hardvm run: 127.0.0.1:%d -> guest port %d\n", f.host, f.guest)
				}
				if *sshKey != "" {
					p := sshForwardPort
					for _, f := range fwd {
						if f.guest == 22 {
							p = f.host
						}
					}
					fmt.Fprintf(e.stderr, "hardvm run: once booted: ssh -p %d USER@127.0.0.1 (USER: the image's login user, e.g. ops)\n", p)
				}
				cmd := exec.CommandContext(ctx, bin, qargs...)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.stdout, e.stderr
				if err := cmd.Run(); err != nil {
					var ee *exec.ExitError
					if errors.As(err, &ee) && ctx.Err() != nil {
						return nil // interrupted by the user
					}
					return fmt.Errorf("qemu: %w", err)
				}
				return nil
			}
		})
}

func (f forwards) forwardsGuest(port int) bool {
	for _, x := range f {
		if x.guest == port {
			return true
		}
	}
	return false
}

// withUserNetwork replaces the machine's "-nic none" with QEMU's user
// network on a virtio NIC, each forward bound to 127.0.0.1 only.
func withUserNetwork(args []string, fwd forwards) []string {
	nic := "user,model=virtio-net-pci"
	for _, f := range fwd {
		nic += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.host, f.guest)
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] == "-nic" && i+1 < len(args) && args[i+1] == "none" {
			out = append(out, "-nic", nic)
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// readPublicKeys reads an OpenSSH public key file (one key a line; blank
// lines and comments skipped), at most 64 KiB. A private key is refused
// with a hint, before anything is written.
func readPublicKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, usagef("--ssh-key %s: over 64 KiB: not a public key file", path)
	}
	if strings.Contains(string(b), "PRIVATE KEY") {
		return nil, usagef("--ssh-key %s is a private key: give the .pub file", path)
	}
	var keys []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 64<<10)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			keys = append(keys, l)
		}
	}
	if len(keys) == 0 {
		return nil, usagef("--ssh-key %s holds no key", path)
	}
	return keys, nil
}

// probeKVM runs the firmware under KVM for a moment and asks QEMU's
// monitor for the machine's status: only "running" means KVM works.
// (A paravirtual KVM can open /dev/kvm and still stop the firmware at its
// first instruction it cannot emulate: "paused (internal-error)".)
func probeKVM(ctx context.Context, arch vm.Arch, code, varsTemplate, tmp string) (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, "no usable /dev/kvm"
	}
	f.Close()
	vars := filepath.Join(tmp, "probe-vars.fd")
	b, err := os.ReadFile(varsTemplate)
	if err != nil {
		return false, err.Error()
	}
	if err := os.WriteFile(vars, b, 0o600); err != nil {
		return false, err.Error()
	}
	sock := filepath.Join(tmp, "probe.sock")
	q := boot.QEMU{Arch: arch, Disk: os.DevNull, Code: code, Vars: vars, KVM: true, MemoryMB: 256}
	args, err := q.Args()
	if err != nil {
		return false, err.Error()
	}
	// No disk, no console: only the firmware, and a monitor to ask.
	var probe []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-drive" && strings.HasPrefix(args[i+1], "if=virtio"):
			i++
		case args[i] == "-serial" || args[i] == "-monitor":
			i++
		default:
			probe = append(probe, args[i])
		}
	}
	probe = append(probe, "-serial", "none", "-monitor", "unix:"+sock+",server=on,wait=off")
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, q.Binary(), probe...)
	if err := cmd.Start(); err != nil {
		return false, "qemu: " + err.Error()
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	// Give the firmware time to start executing, then ask.
	select {
	case <-ctx.Done():
		return false, "timed out"
	case <-time.After(3 * time.Second):
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
	if err != nil {
		return false, "qemu monitor: " + err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "info status\n"); err != nil {
		return false, "qemu monitor: " + err.Error()
	}
	sc := bufio.NewScanner(io.LimitReader(conn, 64<<10))
	for sc.Scan() {
		if _, st, ok := strings.Cut(sc.Text(), "VM status: "); ok {
			st = strings.TrimSpace(st)
			return st == "running", "VM status " + st
		}
	}
	return false, "qemu monitor gave no status"
}
