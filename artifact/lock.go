package artifact

import (
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

// Lock is the exact package set a spec resolved to: every package with its
// version, checksum and repository, and the repositories' index digests. A
// build can be repeated from the lock alone. Its JSON form is stable.
type Lock struct {
	Spec         vm.Spec             `json:"spec"`
	Arch         vm.Arch             `json:"arch"`
	Family       vm.RepositoryFamily `json:"family"`
	World        []string            `json:"world"`
	Repositories []Repository        `json:"repositories"`
	Packages     []Package           `json:"packages"` // sorted by name
	// Configuration is what the operating-system configuration applied
	// (accounts, units, the hardening baseline in force); image.Build fills
	// it and the provenance records it.
	Configuration *vm.Configuration `json:"configuration,omitempty"`
}

// Repository is a repository as the lock saw it.
type Repository struct {
	URL         string              `json:"url"`
	Family      vm.RepositoryFamily `json:"family"`
	IndexDigest digest.Digest       `json:"index_digest"` // sha256:<hex> of APKINDEX.tar.gz
	Keys        []string            `json:"keys,omitempty"`
}

// Package is one resolved APK package.
type Package struct {
	Name          string        `json:"name"`
	Version       string        `json:"version"`
	Arch          string        `json:"arch"`
	Checksum      string        `json:"checksum"`         // C: field of the index, "Q1" + base64 SHA-1 of the control stream
	SHA256        digest.Digest `json:"sha256,omitempty"` // sha256:<hex> of the whole .apk file, once fetched
	Size          int64         `json:"size"`             // size of the .apk file
	InstalledSize int64         `json:"installed_size"`
	Repository    string        `json:"repository"` // URL of the repository it came from
	Origin        string        `json:"origin,omitempty"`
	BuildTime     int64         `json:"build_time,omitempty"` // t: of the index, Unix seconds
	Commit        string        `json:"commit,omitempty"`
	License       string        `json:"license,omitempty"`
	Maintainer    string        `json:"maintainer,omitempty"`
	Description   string        `json:"description,omitempty"`
	URL           string        `json:"url,omitempty"`
	Depends       []string      `json:"depends,omitempty"`
	Provides      []string      `json:"provides,omitempty"`
	Scripts       []string      `json:"scripts,omitempty"` // install scripts it carries (not run)
}

// Kernel returns the kernel package of the lock, if any.
func (l *Lock) Kernel() (Package, bool) {
	for _, p := range l.Packages {
		if p.Name == "linux" || p.Name == "linux-lts" || p.Name == "linux-virt" {
			return p, true
		}
	}
	return Package{}, false
}
