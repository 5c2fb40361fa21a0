package image

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/image/erofs"
	"github.com/hardvm/hardvm/image/fat"
	"github.com/hardvm/hardvm/image/verity"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/progress"
)

const (
	mib            = 1 << 20
	defaultESPSize = 64 * mib
	// DefaultVarSize is the size of /var on a disk whose Layout states
	// neither a disk size nor a /var size; MinVarSize the least /var
	// Assemble makes.
	DefaultVarSize = 64 * mib
	MinVarSize     = 16 * mib
	// partAlign is where partitions start: 1 MiB, as every partitioning
	// tool aligns them. The first MiB holds the MBR and the primary GPT; the
	// last MiB the backup GPT.
	partAlign = mib
)

// AssembleOption configures [Assemble].
type AssembleOption func(*assembleOptions) error

type assembleOptions struct {
	log      *slog.Logger
	progress progress.Reporter
	workers  int
}

// WithAssembleLogger sets the logger of [Assemble] (default: discard).
func WithAssembleLogger(l *slog.Logger) AssembleOption {
	return func(o *assembleOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrLayout)
		}
		o.log = l
		return nil
	}
}

// WithAssembleProgress reports the stages of [Assemble]: "erofs" (bytes of
// file data), "esp" (bytes of ESP files), "verity" (bytes hashed).
func WithAssembleProgress(p progress.Reporter) AssembleOption {
	return func(o *assembleOptions) error {
		o.progress = p
		return nil
	}
}

// WithAssembleWorkers sets how many workers copy files into the erofs
// root and hash it for dm-verity (default: GOMAXPROCS).
func WithAssembleWorkers(n int) AssembleOption {
	return func(o *assembleOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: %d workers", ErrLayout, n)
		}
		o.workers = n
		return nil
	}
}

// stage returns a progress reporter that reports under the given stage
// name, whatever the step calls it.
func (o *assembleOptions) stage(name string) progress.Reporter {
	if o.progress == nil {
		return nil
	}
	return progress.Func(func(_ string, done, total int64) { o.progress.Progress(name, done, total) })
}

// derive returns SHA-256 over a purpose label and the parts, each length
// prefixed, so that different purposes never share a value.
func derive(purpose string, parts ...[]byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, p := range append([][]byte{[]byte("hardvm " + purpose)}, parts...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// deriveUUID returns an RFC 9562 version 8 UUID from derive.
func deriveUUID(purpose string, parts ...[]byte) [16]byte {
	d := derive(purpose, parts...)
	var u [16]byte
	copy(u[:], d[:16])
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return u
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// resolvedLayout is a Layout with defaults applied and checked.
type resolvedLayout struct {
	Layout
	seed, epoch []byte
}

func resolveLayout(l Layout) (resolvedLayout, error) {
	if !l.Arch.Valid() {
		return resolvedLayout{}, fmt.Errorf("%w: arch %q", ErrLayout, l.Arch)
	}
	if l.HashAlgo == "" {
		l.HashAlgo = verity.SHA256
	}
	if l.HashAlgo != verity.SHA256 && l.HashAlgo != verity.SHA512 {
		return resolvedLayout{}, fmt.Errorf("%w: hash algorithm %q (want sha256 or sha512)", ErrLayout, l.HashAlgo)
	}
	if l.ESPSize == 0 {
		l.ESPSize = defaultESPSize
	}
	switch {
	case l.ESPSize < 0 || l.ESPSize%mib != 0:
		return resolvedLayout{}, fmt.Errorf("%w: ESP size %d is not a positive multiple of 1 MiB", ErrLayout, l.ESPSize)
	case l.VarSize < 0 || l.VarSize%mib != 0 || (l.VarSize > 0 && l.VarSize < MinVarSize):
		return resolvedLayout{}, fmt.Errorf("%w: var size %d is not a multiple of 1 MiB of at least %d", ErrLayout, l.VarSize, MinVarSize)
	case l.Size < 0 || l.Size%mib != 0:
		return resolvedLayout{}, fmt.Errorf("%w: disk size %d is not a multiple of 1 MiB", ErrLayout, l.Size)
	case l.SourceDateEpoch < 0:
		return resolvedLayout{}, fmt.Errorf("%w: negative SourceDateEpoch %d", ErrLayout, l.SourceDateEpoch)
	}
	r := resolvedLayout{Layout: l, seed: []byte(l.Seed), epoch: binary.BigEndian.AppendUint64(nil, uint64(l.SourceDateEpoch))}
	return r, nil
}

// Assemble writes a sparse raw disk at path holding root as an erofs file
// system protected by dm-verity, with a GPT of Discoverable Partitions: the
// EFI system partition (FAT32 with layout.ESP), the root, its verity hash
// tree and the writable /var, an empty ext4 file system in a partition
// named "var" that fills the rest of the disk (see Layout.VarSize). The
// write is atomic: on error or cancellation nothing is left at path.
//
// Everything random-looking is derived from the inputs: the erofs UUID and
// the verity superblock UUID from layout.Seed and the epoch; the verity salt
// from those and the SHA-256 of the erofs image; the root and verity
// partition UUIDs from the root hash (the DPS verity convention); the disk
// GUID and the other partition UUIDs from the seed, the epoch and the root
// hash. The same root, layout and epoch give a byte-identical disk.
func Assemble(ctx context.Context, root fs.FS, layout Layout, path string, opts ...AssembleOption) (*Disk, error) {
	o := assembleOptions{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	l, err := resolveLayout(layout)
	if err != nil {
		return nil, err
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image: assemble %s: %w", path, err)
	}
	defer f.Abort()
	d, err := assemble(ctx, f.File, root, l, &o)
	if err != nil {
		return nil, fmt.Errorf("image: assemble %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return nil, fmt.Errorf("image: assemble %s: %w", path, err)
	}
	d.Path = path
	return d, nil
}

func assemble(ctx context.Context, f *os.File, root fs.FS, l resolvedLayout, o *assembleOptions) (*Disk, error) {
	espOff := int64(partAlign)
	rootOff := espOff + l.ESPSize

	// 1. The erofs root, straight into its partition.
	eopts := []erofs.Option{
		erofs.WithEpoch(l.SourceDateEpoch),
		erofs.WithUUID(deriveUUID("erofs uuid", l.seed, l.epoch)),
		erofs.WithVolumeName("root"),
		erofs.WithAttr(ErofsAttr),
		erofs.WithLogger(o.log),
		erofs.WithProgress(o.stage("erofs")),
	}
	if o.workers > 0 {
		eopts = append(eopts, erofs.WithWorkers(o.workers))
	}
	res, err := erofs.Write(ctx, io.NewOffsetWriter(f, rootOff), root, eopts...)
	if err != nil {
		return nil, err
	}
	rootSize := roundUp(res.Size, partAlign)

	// 2. The plan of the rest, now that the root's size is known.
	vp := verity.Params{HashAlgo: l.HashAlgo, UUID: deriveUUID("verity uuid", l.seed, l.epoch)}
	hashSize, err := verity.HashSize(rootSize, vp)
	if err != nil {
		return nil, err
	}
	verityOff := rootOff + rootSize
	veritySize := roundUp(hashSize, partAlign)
	varOff := verityOff + veritySize
	varSize := l.VarSize
	if varSize == 0 {
		varSize = DefaultVarSize
		if l.Size > 0 {
			varSize = max(l.Size-varOff-partAlign, MinVarSize)
		}
	}
	need := varOff + varSize + partAlign
	size := l.Size
	if size == 0 {
		size = need
	}
	if size < need {
		return nil, &SizeError{Need: need, Have: size, Root: res.Size}
	}
	if err := f.Truncate(size); err != nil {
		return nil, err
	}
	o.log.Debug("image: disk plan", "size", size, "esp", l.ESPSize, "root", rootSize, "erofs", res.Size, "verity", veritySize, "var", varSize)

	// 3. The ESP and the digest of the erofs image, side by side.
	var erofsDigest [32]byte
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, rootOff, res.Size)); err != nil {
			return fmt.Errorf("digest erofs: %w", err)
		}
		h.Sum(erofsDigest[:0])
		return gctx.Err()
	})
	writeESP := func(ctx context.Context, files map[string][]byte) error {
		_, err := fat.Write(ctx, io.NewOffsetWriter(f, espOff), l.ESPSize, mapFS(files),
			fat.WithEpoch(l.SourceDateEpoch),
			fat.WithLabel("ESP"),
			fat.WithVolumeID(espVolumeID(l)),
			fat.WithHiddenSectors(uint32(espOff/512)),
			fat.WithLogger(o.log),
			fat.WithProgress(o.stage("esp")))
		return err
	}
	if l.ESPFunc == nil {
		g.Go(func() error { return writeESP(gctx, l.ESP) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// 4. dm-verity over the whole root partition.
	salt := derive("verity salt", l.seed, l.epoch, erofsDigest[:])
	vp.Salt = salt[:]
	vopts := []verity.Option{verity.WithHashOffset(verityOff), verity.WithLogger(o.log), verity.WithProgress(o.stage("verity"))}
	if o.workers > 0 {
		vopts = append(vopts, verity.WithConcurrency(o.workers))
	}
	rootHash, err := verity.Format(ctx, io.NewSectionReader(f, rootOff, rootSize), rootSize, f, vp, vopts...)
	if err != nil {
		return nil, err
	}

	// 4b. An ESP that depends on the root hash (a UKI whose command line
	// carries it) is written now that the hash is known.
	if l.ESPFunc != nil {
		files, err := l.ESPFunc(ctx, rootHash.String())
		if err != nil {
			return nil, fmt.Errorf("ESP: %w", err)
		}
		merged := make(map[string][]byte, len(l.ESP)+len(files))
		for k, v := range l.ESP {
			merged[k] = v
		}
		for k, v := range files {
			merged[k] = v
		}
		if err := writeESP(ctx, merged); err != nil {
			return nil, err
		}
	}

	// 5. /var.
	if err := makeVar(ctx, f.Name(), varOff, varSize, l); err != nil {
		return nil, err
	}

	// 6. The partition table.
	d := &Disk{
		Size:     size,
		Arch:     l.Arch,
		RootHash: rootHash.String(),
		Salt:     fmt.Sprintf("%x", vp.Salt),
		HashAlgo: l.HashAlgo,
	}
	parts := []partitionPlan{
		{kind: partESP, off: espOff, size: l.ESPSize},
		{kind: partRoot, off: rootOff, size: rootSize},
		{kind: partVerity, off: verityOff, size: veritySize},
		{kind: partVar, off: varOff, size: varSize},
	}
	if err := writeTable(ctx, f, d, parts, rootHash, l); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d, nil
}

// SizeError reports a disk too small for what it must hold.
type SizeError struct {
	Need, Have int64 // bytes
	Root       int64 // bytes of the erofs root
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("image: disk of %d bytes too small: the layout needs %d (erofs root of %d bytes)", e.Have, e.Need, e.Root)
}

// Unwrap returns [ErrDiskTooSmall].
func (e *SizeError) Unwrap() error { return ErrDiskTooSmall }

func espVolumeID(l resolvedLayout) uint32 {
	d := derive("esp volume id", l.seed, l.epoch)
	return binary.LittleEndian.Uint32(d[:4])
}
