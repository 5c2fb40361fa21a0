package bootdisk

import (
	"bytes"
	"context"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image/apk/apkdb"
	"github.com/hardvm/hardvm/image/erofs"
	"github.com/hardvm/hardvm/image/gpt"
	"github.com/hardvm/hardvm/image/verity"
	"github.com/hardvm/hardvm/vm"
)

// Bounds of what Open reads.
const (
	// MaxUKI is the largest boot loader read: 512 MiB.
	MaxUKI = 512 << 20
	// maxSection bounds the .cmdline, .osrel and .uname sections.
	maxSection = 64 << 10
	// MaxInstalledDB bounds the installed database read from the root.
	MaxInstalledDB = 64 << 20
)

// InstalledDBPaths are where the APK installed database is looked for in
// the root, in order: hardvm's installer writes the first.
var InstalledDBPaths = []string{"usr/lib/apk/db/installed", "lib/apk/db/installed"}

// Where [Disk.RootHash] came from.
const (
	RootHashFromUKI = "uki"   // the UKI's .cmdline: what the machine boots
	RootHashGiven   = "given" // WithRootHash, the disk has no UKI
)

// Option configures [Open].
type Option func(*options) error

type options struct {
	rootHash verity.RootHash
}

// WithRootHash gives the root hash the caller expects, from a source it
// trusts (the disk's signed provenance). A disk whose UKI names another
// fails with [ErrUKI]; a disk without a UKI is verified against it.
func WithRootHash(h verity.RootHash) Option {
	return func(o *options) error {
		if len(h) != 32 && len(h) != 64 {
			return fmt.Errorf("%w: a root hash of %d bytes", ErrVerity, len(h))
		}
		o.rootHash = h
		return nil
	}
}

// Disk is a raw hardvm disk opened with [Open].
type Disk struct {
	Arch   vm.Arch    // the architecture of the root partition type
	Table  *gpt.Table // the validated partition table
	ESP    gpt.Partition
	Root   gpt.Partition
	Verity gpt.Partition
	// Loader is the UKI's path on the ESP, LoaderSize its bytes.
	Loader     string
	LoaderSize int64
	// Cmdline is the UKI's .cmdline section: the kernel command line.
	Cmdline string
	// RootHash is the dm-verity root hash the root is verified against:
	// Cmdline's roothash=, or [WithRootHash]'s for a disk without a UKI.
	RootHash verity.RootHash
	// RootHashFrom says where RootHash came from: RootHashFromUKI, or
	// RootHashGiven (WithRootHash, on a disk without a UKI).
	RootHashFrom string
	// UKISigned reports an Authenticode signature in the UKI. Open does
	// not check it: Secure Boot firmware does, with its own keys.
	UKISigned bool
	// UKIOSRelease and UKIUname are the UKI's .osrel and .uname sections.
	UKIOSRelease string
	UKIUname     string
	// PartitionUUIDsMatch reports that the root and root-verity partition
	// UUIDs are the first and last 128 bits of RootHash, as the
	// Discoverable Partitions Specification's verity convention has them.
	PartitionUUIDsMatch bool
	// VerityParams are the hash tree's parameters from its superblock.
	VerityParams verity.Params

	root *erofs.FS
}

// Open reads the raw disk r of size bytes as its firmware and initramfs
// would: GPT, ESP, UKI, command line, root hash, then the root partition's
// EROFS through dm-verity verification against that root hash. It verifies
// the blocks it reads; [Disk.FS] verifies every later read the same way.
// r may be the guest disk inside a qcow2, VMDK or OVA file, read in place
// by a [vdisk.Reader] ([vdisk.Open]) of size Size().
//
// [vdisk.Reader]: https://pkg.go.dev/github.com/hardvm/hardvm/image/vdisk#Reader
// [vdisk.Open]: https://pkg.go.dev/github.com/hardvm/hardvm/image/vdisk#Open
func Open(ctx context.Context, r io.ReaderAt, size int64, opts ...Option) (*Disk, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	t, err := gpt.Read(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLayout, err)
	}
	d := &Disk{Table: t}
	esp := -1
	for _, arch := range vm.Arches() {
		types, err := gpt.RootTypesFor(string(arch))
		if err != nil {
			continue
		}
		root, hash := -1, -1
		for i, p := range t.Partitions {
			switch p.Type {
			case types.Root:
				root = i
			case types.Verity:
				hash = i
			case gpt.TypeESP:
				esp = i
			}
		}
		if root >= 0 && hash >= 0 {
			d.Arch, d.Root, d.Verity = arch, t.Partitions[root], t.Partitions[hash]
			break
		}
	}
	switch {
	case d.Arch == "":
		return nil, fmt.Errorf("%w: no root and root-verity partitions of %v", ErrLayout, vm.Arches())
	case esp < 0:
		return nil, fmt.Errorf("%w: no EFI system partition", ErrLayout)
	}
	d.ESP = t.Partitions[esp]
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err = d.readUKI(r)
	switch {
	case errors.Is(err, ErrNoUKI) && o.rootHash != nil:
		d.RootHash, d.RootHashFrom = o.rootHash, RootHashGiven
	case err != nil:
		return nil, err
	case o.rootHash != nil && !o.rootHash.Equal(d.RootHash):
		return nil, fmt.Errorf("%w: the UKI's roothash=%s is not the expected %s", ErrUKI, d.RootHash, o.rootHash)
	default:
		d.RootHashFrom = RootHashFromUKI
	}
	sector := int64(t.SectorSize)
	tree := io.NewSectionReader(r, int64(d.Verity.FirstLBA)*sector, int64(d.Verity.Sectors())*sector)
	if d.VerityParams, err = verity.ReadSuperblock(tree, 0); err != nil {
		return nil, fmt.Errorf("%w: superblock: %w", ErrVerity, err)
	}
	rootSize := int64(d.Root.Sectors()) * sector
	v, err := newVerified(io.NewSectionReader(r, int64(d.Root.FirstLBA)*sector, rootSize), rootSize, tree, tree.Size(), d.VerityParams, d.RootHash)
	if err != nil {
		return nil, err
	}
	d.PartitionUUIDsMatch = len(d.RootHash) == 32 && bytes.Equal(d.Root.UUID[:], d.RootHash[:16]) && bytes.Equal(d.Verity.UUID[:], d.RootHash[16:])
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.root, err = erofs.Open(v, v.size); err != nil {
		return nil, fmt.Errorf("root file system: %w", err)
	}
	return d, nil
}

// readUKI finds the boot loader on the ESP and reads its sections.
func (d *Disk) readUKI(r io.ReaderAt) error {
	sector := int64(d.Table.SectorSize)
	espSize := int64(d.ESP.Sectors()) * sector
	fat, err := openFAT32(io.NewSectionReader(r, int64(d.ESP.FirstLBA)*sector, espSize), espSize)
	if err != nil {
		return err
	}
	d.Loader = "EFI/BOOT/BOOT" + strings.ToUpper(d.Arch.UEFI()) + ".EFI"
	f, err := fat.open(d.Loader, MaxUKI)
	if errors.Is(err, errNotFound) {
		return fmt.Errorf("%w: %w", ErrNoUKI, err)
	}
	if err != nil {
		return err
	}
	d.LoaderSize = f.size
	img, err := pe.NewFile(io.NewSectionReader(f, 0, f.size))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUKI, d.Loader, err)
	}
	defer img.Close()
	section := func(name string) (string, error) {
		s := img.Section(name)
		if s == nil {
			return "", nil
		}
		if s.Size > maxSection {
			return "", fmt.Errorf("%w: %s section of %d bytes", ErrUKI, name, s.Size)
		}
		b := make([]byte, min(s.Size, s.VirtualSize))
		if s.VirtualSize == 0 {
			b = make([]byte, s.Size)
		}
		if _, err := s.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%w: %s section: %w", ErrUKI, name, err)
		}
		return strings.TrimRight(string(b), "\x00\n"), nil
	}
	if d.Cmdline, err = section(".cmdline"); err != nil {
		return err
	}
	if img.Section(".linux") == nil || d.Cmdline == "" {
		return fmt.Errorf("%w: %s has no .linux or no .cmdline section", ErrUKI, d.Loader)
	}
	if d.UKIOSRelease, err = section(".osrel"); err != nil {
		return err
	}
	if d.UKIUname, err = section(".uname"); err != nil {
		return err
	}
	var hashes []string
	for _, a := range strings.Fields(d.Cmdline) {
		if h, ok := strings.CutPrefix(a, "roothash="); ok {
			hashes = append(hashes, h)
		}
	}
	if len(hashes) != 1 {
		return fmt.Errorf("%w: %d roothash= arguments on the command line (want 1): %q", ErrUKI, len(hashes), d.Cmdline)
	}
	if d.RootHash, err = verity.ParseRootHash(hashes[0]); err != nil {
		return fmt.Errorf("%w: %w", ErrUKI, err)
	}
	switch oh := img.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		d.UKISigned = len(oh.DataDirectory) > pe.IMAGE_DIRECTORY_ENTRY_SECURITY && oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].Size > 0
	case *pe.OptionalHeader32:
		d.UKISigned = len(oh.DataDirectory) > pe.IMAGE_DIRECTORY_ENTRY_SECURITY && oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].Size > 0
	}
	return nil
}

// FS returns the root file system. Every read through it is verified
// against the root hash first; a block that fails gives a [*BlockError].
func (d *Disk) FS() *erofs.FS { return d.root }

// Packages reads the APK installed database of the root. A root without
// one gives an empty list and no error: an image of bare files.
func (d *Disk) Packages() ([]artifact.Package, error) {
	var b []byte
	for _, p := range InstalledDBPaths {
		var err error
		b, err = d.root.ReadFileMax(p, MaxInstalledDB)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bootdisk: %s: %w", p, err)
		}
	}
	if b == nil {
		return []artifact.Package{}, nil
	}
	out := []artifact.Package{}
	sc := apkdb.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		r := sc.Record()
		p := artifact.Package{Name: r.Name, Version: r.Version}
		for _, f := range r.Fields {
			switch f.Key {
			case 'A':
				p.Arch = f.Value
			case 'C':
				p.Checksum = f.Value
			case 'S':
				p.Size, _ = strconv.ParseInt(f.Value, 10, 64)
			case 'I':
				p.InstalledSize, _ = strconv.ParseInt(f.Value, 10, 64)
			case 'o':
				p.Origin = f.Value
			case 't':
				p.BuildTime, _ = strconv.ParseInt(f.Value, 10, 64)
			case 'c':
				p.Commit = f.Value
			case 'L':
				p.License = f.Value
			case 'm':
				p.Maintainer = f.Value
			case 'T':
				p.Description = f.Value
			case 'U':
				p.URL = f.Value
			case 'D':
				p.Depends = strings.Fields(f.Value)
			case 'p':
				p.Provides = strings.Fields(f.Value)
			}
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bootdisk: installed database: %w", err)
	}
	return out, nil
}

// OSRelease reads the root's os-release (etc/os-release, else
// usr/lib/os-release) as a map of its KEY=value lines. A root without one
// gives an empty map.
func (d *Disk) OSRelease() (map[string]string, error) {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := d.root.ReadFileMax(p, maxSection)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bootdisk: %s: %w", p, err)
		}
		return ParseOSRelease(string(b)), nil
	}
	return map[string]string{}, nil
}

// ParseOSRelease parses os-release(5) text: KEY=value lines, values
// optionally quoted; comments, blank and malformed lines are skipped.
func ParseOSRelease(s string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.HasPrefix(line, "#") || strings.ContainsAny(k, " \t\"'") {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			if v[0] == '"' {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				} else {
					v = v[1 : len(v)-1]
				}
			} else {
				v = v[1 : len(v)-1]
			}
		}
		m[k] = v
	}
	return m
}
