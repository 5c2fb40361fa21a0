package factory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// SourceDateEpoch returns the build time of the newest package of lock,
// in Unix seconds: the clock of a build of lock, as apko sets
// SOURCE_DATE_EPOCH. A lock without build times fails with ErrLock.
func SourceDateEpoch(lock *artifact.Lock) (int64, error) {
	var newest int64
	for _, p := range lock.Packages {
		newest = max(newest, p.BuildTime)
	}
	if newest <= 0 {
		return 0, fmt.Errorf("%w: no package of the lock has a build time", ErrLock)
	}
	return newest, nil
}

// NextVersion returns the version of the next build of a stream from lock,
// given the version of the stream's latest catalog entry (zero when the
// stream has none): the lock's [SourceDateEpoch] with build number 0 when
// that is newer than latest, otherwise latest's epoch with the next build
// number. So versions only grow along a stream, and they depend on
// nothing but the lock and the catalog: the same lock in the same catalog
// gives the same version.
func NextVersion(lock *artifact.Lock, latest vm.Version) (vm.Version, error) {
	epoch, err := SourceDateEpoch(lock)
	if err != nil {
		return vm.Version{}, err
	}
	if latest.IsZero() || epoch > latest.Epoch {
		return vm.Version{Epoch: epoch}, nil
	}
	return vm.Version{Epoch: latest.Epoch, Build: latest.Build + 1}, nil
}

// LockDigest returns the digest of what a lock installs: each package's
// name, version and checksum, in name order. Repository index digests are
// left out, so a repository change that touches none of the lock's
// packages gives the same digest. It is the de-duplication key of jobs.
func LockDigest(lock *artifact.Lock) digest.Digest {
	lines := make([]string, 0, len(lock.Packages))
	for _, p := range lock.Packages {
		lines = append(lines, p.Name+" "+p.Version+" "+p.Checksum+"\n")
	}
	slices.Sort(lines)
	h := sha256.New()
	h.Write([]byte("hardvm-lock-v1\n" + string(lock.Arch) + "\n"))
	h.Write([]byte(strings.Join(lines, "")))
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
}

// WithVersion returns spec with its version fields (SourceDateEpoch and
// Build) set to v.
func WithVersion(spec vm.Spec, v vm.Version) vm.Spec {
	spec.SourceDateEpoch, spec.Build = v.Epoch, v.Build
	return spec
}
