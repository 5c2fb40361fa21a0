package builddir

import (
	"os"

	"github.com/hardvm/hardvm/vm"
)

// The files of a build directory, beside the disks.
const (
	LockFile       = "lock.json"              // the lock, indented JSON
	SBOMFile       = "sbom.spdx.json"         // the SPDX document, for people
	ProvenanceFile = "provenance.intoto.json" // the SLSA statement, for people
	SBOMBundle     = "sbom.sigstore.json"     // the signed SBOM statement
	FIPSReportFile = "fips-report.json"       // the FIPS report, for people
	FIPSBundle     = "fips.sigstore.json"     // the signed FIPS report statement
	PublicKeyFile  = "key.pub"                // the public key of a key-signed build
	BundleSuffix   = ".sigstore.json"         // <disk>.sigstore.json: the signed provenance
)

// diskSuffixes name the files Verify treats as disks that must be
// attested, whether or not a bundle is beside them.
var diskSuffixes = []string{".raw", ".img", ".qcow2", ".vhd", ".vmdk", ".tar.gz", ".ova"}

// DiskFile returns the name of the disk of format f: "disk" and the
// format's extension (disk.raw, disk.tar.gz, …).
func DiskFile(f vm.DiskFormat) string { return "disk" + f.Ext() }

// BundleFile returns the name of the signed provenance of the disk named
// disk.
func BundleFile(disk string) string { return disk + BundleSuffix }

// attestationFile reports whether name is one of the files of the layout
// that are not disks.
func attestationFile(name string) bool {
	switch name {
	case LockFile, SBOMFile, ProvenanceFile, FIPSReportFile, PublicKeyFile:
		return true
	}
	return len(name) > len(BundleSuffix) && name[len(name)-len(BundleSuffix):] == BundleSuffix
}

// Files returns the names of the files of the layout other than the disks
// (lock, SBOM, provenance, bundles, FIPS report, key) that dir holds,
// sorted. Anything else in dir (a cache directory, a temporary file) is
// not listed.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && attestationFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
