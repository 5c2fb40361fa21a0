package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/image/bootdisk"
	"github.com/hardvm/hardvm/image/gpt"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/verity"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// maxBundle bounds a provenance bundle read for show.
const maxBundle = 16 << 20

// diskShow is what show prints of a disk; its JSON form is show --json's.
type diskShow struct {
	Disk        string `json:"disk"`
	Format      string `json:"format"`
	Size        int64  `json:"size"`
	Arch        string `json:"arch"`
	RootHash    string `json:"root_hash"`
	RootHashSrc string `json:"root_hash_from"` // "uki" or "signed_provenance"
	// Trust says in words what the listing is proved by.
	Trust      string            `json:"trust"`
	Provenance diskProvenance    `json:"provenance"`
	UKI        *diskUKI          `json:"uki,omitempty"`
	OSRelease  map[string]string `json:"os_release"`
	Kernel     string            `json:"kernel"`
	Partitions []diskPartition   `json:"partitions"`
	// PartitionUUIDsMatchRootHash: the DPS convention that the root and
	// root-verity partition UUIDs are the halves of the root hash holds.
	PartitionUUIDsMatchRootHash bool               `json:"partition_uuids_match_root_hash"`
	Packages                    []artifact.Package `json:"packages"`
}

type diskProvenance struct {
	Bundle   string `json:"bundle,omitempty"`
	Checked  bool   `json:"checked"`
	Verified bool   `json:"verified"`
	Digest   string `json:"digest,omitempty"`
	Note     string `json:"note"`
}

type diskUKI struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Signed  bool   `json:"signed"` // carries an Authenticode signature (not checked by show)
	Cmdline string `json:"cmdline"`
	Uname   string `json:"uname"`
}

type diskPartition struct {
	Number int    `json:"number"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	UUID   string `json:"uuid"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
}

// diskView opens the guest disk inside the file at path through
// image/vdisk's readers, the format sniffed from its header: a raw disk, a
// fixed VHD, qcow2, VMDK and OVA are read in place (bounded reads, a few
// cached tables and clusters). A GCE tar.gz and a dynamic VHD are refused
// with the command that makes them raw.
func diskView(path string, f *os.File, size int64) (*vdisk.Reader, error) {
	r, err := vdisk.Open(f, size)
	switch {
	case errors.Is(err, vdisk.ErrFormat):
		if format, _ := vdisk.Sniff(f, size); format == vm.FormatGCE {
			return nil, fmt.Errorf("%s is a GCE image (tar.gz): %w: a gzip stream is not read in place; extract it first (tar -xzf %s disk.raw) and show disk.raw, or show the build directory", path, errors.ErrUnsupported, filepath.Base(path))
		}
		return nil, fmt.Errorf("%s: %w: %w: convert it first (qemu-img convert -O raw %s disk.raw) or show the build directory", path, errors.ErrUnsupported, err, filepath.Base(path))
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// showDisk lists the packages and facts of a raw disk as it boots.
func showDisk(ctx context.Context, e *env, tf *trustFlags, bundlePath string, asJSON bool, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return usagef("%s is not a regular file: show reads a build directory or a disk image file", path)
	}
	view, err := diskView(path, f, fi.Size())
	if err != nil {
		return err
	}
	out := diskShow{Disk: path, Format: string(view.Format()), Size: fi.Size()}

	// Signed provenance first: nothing read from the disk decides anything
	// before its digest is proved, when the user gave a trust anchor.
	trust := tf.key != "" || tf.trustedRoot != "" || tf.keyFromDir
	if bundlePath == "" {
		if _, err := os.Stat(path + builddir.BundleSuffix); err == nil {
			bundlePath = path + builddir.BundleSuffix
		}
	}
	out.Provenance.Bundle = bundlePath
	var opts []bootdisk.Option
	switch {
	case trust && bundlePath == "":
		return fmt.Errorf("%s: no signed provenance to check the key against (no %s; give --bundle)", path, filepath.Base(path)+builddir.BundleSuffix)
	case trust:
		signed, digest, err := checkDiskProvenance(ctx, e, tf, path, bundlePath)
		if err != nil {
			return err
		}
		out.Provenance.Checked, out.Provenance.Verified, out.Provenance.Digest = true, true, digest
		out.Provenance.Note = "the disk's digest is a subject of the signed provenance " + filepath.Base(bundlePath)
		if signed != nil {
			opts = append(opts, bootdisk.WithRootHash(signed))
			out.Provenance.Note += ", which signs its root hash"
		}
	case bundlePath != "":
		out.Provenance.Note = "signed provenance " + filepath.Base(bundlePath) + " present but not checked: give --key or --trusted-root"
	default:
		out.Provenance.Note = "no signed provenance checked"
	}

	// The provenance above checked the digest of the file as given; the
	// disk inside it is read through the format's reader.
	d, err := bootdisk.Open(ctx, view, view.Size(), opts...)
	if errors.Is(err, bootdisk.ErrNoUKI) {
		return fmt.Errorf("%s: %w: no root hash to verify the root against; give --key or --trusted-root to take it from the disk's signed provenance", path, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out.Arch = string(d.Arch)
	out.RootHash = d.RootHash.String()
	out.PartitionUUIDsMatchRootHash = d.PartitionUUIDsMatch
	signedRoot := len(opts) > 0
	switch {
	case d.RootHashFrom == bootdisk.RootHashFromUKI && signedRoot:
		out.RootHashSrc = "uki"
		out.Trust = "verified against signed provenance: the disk's digest and the root hash its UKI boots are the signed ones; every root block listed was checked against that root hash"
	case d.RootHashFrom == bootdisk.RootHashFromUKI && out.Provenance.Verified:
		out.RootHashSrc = "uki"
		out.Trust = "verified against signed provenance (the disk's digest); the root hash comes from the disk's own UKI (the provenance signs none); every root block listed was checked against it"
	case d.RootHashFrom == bootdisk.RootHashFromUKI:
		out.RootHashSrc = "uki"
		sig := "unsigned"
		if d.UKISigned {
			sig = "carrying a Secure Boot signature that show does not check"
		}
		out.Trust = "root hash from the disk's own UKI (" + sig + "): every root block listed was checked against it, so this is exactly what the disk boots, but nothing proves who built it (give --key to check its signed provenance)"
	default:
		out.RootHashSrc = "signed_provenance"
		out.Trust = "verified against signed provenance: the disk has no UKI (it does not boot); every root block listed was checked against the signed root hash"
	}
	if d.RootHashFrom == bootdisk.RootHashFromUKI {
		out.UKI = &diskUKI{Path: d.Loader, Size: d.LoaderSize, Signed: d.UKISigned, Cmdline: d.Cmdline, Uname: d.UKIUname}
		out.Kernel = d.UKIUname
	}
	sector := int64(d.Table.SectorSize)
	for _, p := range d.Table.Partitions {
		out.Partitions = append(out.Partitions, diskPartition{Number: p.Number, Name: p.Name, Type: partitionKind(p.Type), UUID: p.UUID.String(),
			Offset: int64(p.FirstLBA) * sector, Size: int64(p.Sectors()) * sector})
	}
	if out.OSRelease, err = d.OSRelease(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if out.Packages, err = d.Packages(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	slices.SortFunc(out.Packages, func(a, b artifact.Package) int { return strings.Compare(a.Name, b.Name) })
	if asJSON {
		return writeJSONOut(e.stdout, out)
	}
	w := e.stdout
	fmt.Fprintf(w, "disk        %s (%s, %s)\n", path, out.Format, humanSize(out.Size))
	fmt.Fprintf(w, "trust       %s\n", out.Trust)
	fmt.Fprintf(w, "provenance  %s\n", out.Provenance.Note)
	fmt.Fprintf(w, "root hash   %s (from %s)\n", out.RootHash, strings.ReplaceAll(out.RootHashSrc, "_", " "))
	osName := out.OSRelease["PRETTY_NAME"]
	if osName == "" {
		osName = strings.TrimSpace(out.OSRelease["NAME"] + " " + out.OSRelease["VERSION_ID"])
	}
	fmt.Fprintf(w, "os          %s (ID=%s)\n", orDash(osName), orDash(out.OSRelease["ID"]))
	fmt.Fprintf(w, "arch        %s\n", out.Arch)
	if out.UKI != nil {
		fmt.Fprintf(w, "kernel      %s\nuki         %s, %s, signed: %v\ncmdline     %s\n", orDash(out.Kernel), out.UKI.Path, humanSize(out.UKI.Size), out.UKI.Signed, out.UKI.Cmdline)
	} else {
		fmt.Fprintln(w, "kernel      none: no UKI on the ESP, the disk does not boot")
	}
	parts := make([]string, len(out.Partitions))
	for i, p := range out.Partitions {
		parts[i] = p.Name + " " + humanSize(p.Size)
	}
	fmt.Fprintf(w, "partitions  %s\npackages    %d\n\n", strings.Join(parts, ", "), len(out.Packages))
	return writePackages(w, out.Packages)
}

// partitionKind names a partition type GUID.
func partitionKind(t gpt.GUID) string {
	for _, k := range []struct {
		g    gpt.GUID
		name string
	}{{gpt.TypeESP, "esp"}, {gpt.TypeRootX86_64, "root-x86-64"}, {gpt.TypeRootVerityX86_64, "root-x86-64-verity"},
		{gpt.TypeRootARM64, "root-arm64"}, {gpt.TypeRootVerityARM64, "root-arm64-verity"}, {gpt.TypeVar, "var"},
		{gpt.TypeSwap, "swap"}, {gpt.TypeLinuxData, "linux-data"}} {
		if t == k.g {
			return k.name
		}
	}
	return t.String()
}

// checkDiskProvenance verifies the disk's digest against its signed
// provenance and returns the root hash the provenance signs for it, if any.
func checkDiskProvenance(ctx context.Context, e *env, tf *trustFlags, path, bundlePath string) (verity.RootHash, string, error) {
	tm, err := tf.trusted(e, "show", filepath.Dir(path))
	if err != nil {
		return nil, "", err
	}
	b, err := readBundleFile(bundlePath)
	if err != nil {
		return nil, "", err
	}
	// The signed SBOM (and FIPS report) beside it, which the default
	// policy requires as hardvm verify does.
	var more []*provenance.Bundle
	for _, name := range []string{builddir.SBOMBundle, builddir.FIPSBundle} {
		p := filepath.Join(filepath.Dir(bundlePath), name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		mb, err := readBundleFile(p)
		if err != nil {
			return nil, "", err
		}
		more = append(more, mb)
	}
	res, err := provenance.Verify(ctx, artifact.Artifact{Path: path}, b, nil, tm, more...)
	if err != nil {
		return nil, "", fmt.Errorf("%s: not verified against its signed provenance %s: %w", path, bundlePath, err)
	}
	if res.Provenance == nil {
		return nil, "", fmt.Errorf("%s: %s is not SLSA provenance", path, bundlePath)
	}
	for _, s := range provenance.Subjects(res.Provenance) {
		if s.Digest == res.Digest && s.RootHash != "" {
			h, err := verity.ParseRootHash(s.RootHash)
			if err != nil {
				return nil, "", fmt.Errorf("%s: signed root hash: %w", bundlePath, err)
			}
			return h, res.Digest, nil
		}
	}
	return nil, res.Digest, nil
}

// readBundleFile reads and parses a bundle, at most maxBundle bytes.
func readBundleFile(path string) (*provenance.Bundle, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxBundle {
		return nil, fmt.Errorf("%s: %d bytes is not a bundle (at most %d)", path, fi.Size(), maxBundle)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := provenance.ParseBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
