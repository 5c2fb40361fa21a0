package boot

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// RootModules are the kernel modules every hardvm initramfs needs to mount
// the verified root, whatever the platform: device-mapper with dm-verity,
// and erofs.
var RootModules = []string{"dm_verity", "erofs"}

// DefaultModules are the kernel modules the initramfs loads (with their
// dependencies) unless WithModules or WithPlatform says otherwise: a
// virtio-blk or NVMe disk, and RootModules.
var DefaultModules = []string{"virtio_pci", "virtio_blk", "nvme", "dm_verity", "erofs"}

// HashModules are the kernel modules of an architecture's SHA-256
// instructions, loaded (when the kernel has them) before dm-verity reads
// the whole root at boot: on aarch64 the generic C implementation takes
// about ten times as long.
var HashModules = map[vm.Arch][]string{vm.Aarch64: {"sha2_ce"}}

// PlatformModules returns the modules an initramfs for platform p loads:
// its drivers (vm.Platform.Drivers: the root disk's controller, the
// network devices), then extra (a spec's Drivers), then RootModules, each
// once.
func PlatformModules(p vm.Platform, extra ...string) []string {
	var out []string
	for _, m := range slices.Concat(p.Drivers(), extra, RootModules) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// Option configures initramfs and UKI building.
type Option func(*options) error

type options struct {
	arch          vm.Arch
	epoch         int64
	modules       []string
	kernelVersion string
	console       []string
	consoleSet    bool         // WithConsole was given
	platform      *vm.Platform // WithPlatform's, for the console
	hashModules   bool         // load HashModules of the architecture when present
	cmdline       []string
	signer        *Signer
	stub          []byte
	osRelease     []byte
	sbat          string
	lazyVerity    bool
	log           *slog.Logger
}

func defaultOptions() options {
	return options{
		arch:    vm.X86_64,
		modules: DefaultModules,
		log:     slog.New(slog.DiscardHandler),
	}
}

func applyOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if !o.consoleSet {
		dev := o.arch.Console()
		if o.platform != nil {
			dev = o.platform.Console(o.arch)
		}
		o.console = []string{"console=" + dev}
	}
	return o, nil
}

// WithArch sets the architecture (default x86_64): it picks the init
// program, the stub and the ESP loader name.
func WithArch(a vm.Arch) Option {
	return func(o *options) error {
		if !a.Valid() {
			return fmt.Errorf("boot: unknown architecture %q", a)
		}
		o.arch = a
		return nil
	}
}

// WithSourceDateEpoch sets the time recorded in the initramfs.
func WithSourceDateEpoch(sec int64) Option {
	return func(o *options) error {
		if sec < 0 || sec > 0xffffffff {
			return fmt.Errorf("boot: SourceDateEpoch %d out of the cpio range", sec)
		}
		o.epoch = sec
		return nil
	}
}

// WithModules replaces DefaultModules: the modules the init loads.
func WithModules(names ...string) Option {
	return func(o *options) error {
		o.modules = append([]string(nil), names...)
		o.hashModules = false
		return nil
	}
}

// WithPlatform sets the modules (PlatformModules of p with extra, and the
// architecture's HashModules that the kernel has) and the
// console (console= p's serial device for the architecture WithArch sets,
// whichever order the options come in) for an image of platform p. A
// later WithModules or WithConsole replaces what it sets.
func WithPlatform(p vm.Platform, extra ...string) Option {
	return func(o *options) error {
		if len(p.Drivers()) == 0 {
			return fmt.Errorf("boot: platform %q names no drivers", p.Cloud)
		}
		o.modules = PlatformModules(p, extra...)
		o.platform = &p
		o.hashModules = true
		o.consoleSet = false
		return nil
	}
}

// WithKernelVersion picks the kernel when the rootfs holds several.
func WithKernelVersion(v string) Option {
	return func(o *options) error { o.kernelVersion = v; return nil }
}

// WithConsole sets the console arguments of the kernel command line
// (default: console= the architecture's serial device, ttyS0 or ttyAMA0,
// or the platform's with WithPlatform; a platform may want console=tty0
// console=ttyS0,115200).
func WithConsole(args ...string) Option {
	return func(o *options) error {
		o.console = append([]string(nil), args...)
		o.consoleSet = true
		return nil
	}
}

// WithCmdline adds the spec's extra kernel arguments. fips= is refused:
// hardvm's FIPS mode does not depend on the kernel. roothash= and
// hardvm.verity= are set by the build.
func WithCmdline(args ...string) Option {
	return func(o *options) error {
		for _, a := range args {
			k, _, _ := strings.Cut(a, "=")
			switch {
			case a == "" || strings.ContainsAny(a, " \t\n"):
				return fmt.Errorf("boot: kernel argument %q is empty or has spaces", a)
			case k == "fips":
				return fmt.Errorf("boot: kernel argument %q refused: FIPS is kernel-independent in hardvm", a)
			case k == "roothash" || k == "hardvm.verity" || k == "init" || k == "rdinit":
				return fmt.Errorf("boot: kernel argument %q is set by the build", a)
			}
		}
		o.cmdline = append(o.cmdline, args...)
		return nil
	}
}

// WithSigner signs the UKI for Secure Boot with a db key.
func WithSigner(s Signer) Option {
	return func(o *options) error {
		if s.Cert == nil || s.Key == nil {
			return fmt.Errorf("%w: signer without certificate or key", ErrSign)
		}
		o.signer = &s
		return nil
	}
}

// WithStub gives the EFI stub instead of taking it from the rootfs
// (usr/lib/systemd/boot/efi/linux<arch>.efi.stub).
func WithStub(b []byte) Option {
	return func(o *options) error { o.stub = b; return nil }
}

// WithOSRelease gives the .osrel contents instead of the rootfs's
// etc/os-release (or usr/lib/os-release).
func WithOSRelease(b []byte) Option {
	return func(o *options) error { o.osRelease = b; return nil }
}

// WithSBAT appends SBAT lines to the stub's .sbat section.
func WithSBAT(lines string) Option {
	return func(o *options) error { o.sbat = lines; return nil }
}

// WithLazyVerityUnsafe makes the init mount the root without reading it
// all first: blocks are still verified when read, but a corrupted block
// surfaces as an I/O error at run time instead of a refusal to boot.
// What the full read costs at boot, measured, is in
// docs/images-that-run.md ("Boot to service").
func WithLazyVerityUnsafe() Option {
	return func(o *options) error { o.lazyVerity = true; return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("boot: nil logger")
		}
		o.log = l
		return nil
	}
}
