package image

import (
	"bytes"
	"errors"
	"io/fs"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/provenance"
)

// WriteOSRelease gives a root file system that no package gave an
// os-release one, so that scanners reading the tree (syft, trivy rootfs)
// see its distribution: /etc/os-release, 0644 root:root and owned by no
// package, naming the lock's distribution as [provenance.LockDistribution]
// does (ID, NAME, PRETTY_NAME and, when the lock says, VERSION_ID). A tree
// that has /etc/os-release or /usr/lib/os-release (of any type: a package's
// symlink counts) is left as it is, and so is the tree of a lock of no
// known repository family (there is no distribution to name). It reports
// whether it wrote the file.
//
// Images do not need it: [Configure] requires a package's os-release. It
// is for the bare root file systems of `hardvm install`.
func WriteOSRelease(r *Rootfs, lock *artifact.Lock) (bool, error) {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if _, err := r.Lstat(p); err == nil {
			return false, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	d := provenance.LockDistribution(lock)
	if d.ID == "" {
		return false, nil
	}
	if err := r.MkdirAll("etc", 0o755, FileAttr{}); err != nil {
		return false, err
	}
	if err := r.WriteFile("etc/os-release", bytes.NewReader(d.OSRelease()), 0o644, FileAttr{}); err != nil {
		return false, err
	}
	return true, nil
}
