package artifact

import (
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

// Artifact is one file a build produced: a disk in one format, with its
// digest. Provenance names artifacts as subjects; registrars upload them.
type Artifact struct {
	Ref         vm.Ref        `json:"ref"`
	Format      vm.DiskFormat `json:"format"`
	Path        string        `json:"path"`
	Size        int64         `json:"size"`                // file size in bytes
	VirtualSize int64         `json:"virtual_size"`        // size of the disk it holds
	Digest      digest.Digest `json:"digest"`              // sha256:<hex> of the file
	RootHash    string        `json:"root_hash,omitempty"` // dm-verity root hash of the root partition
}

// Name returns the file name of the artifact.
func (a Artifact) Name() string {
	for i := len(a.Path) - 1; i >= 0; i-- {
		if a.Path[i] == '/' {
			return a.Path[i+1:]
		}
	}
	return a.Path
}
