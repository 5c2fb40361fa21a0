package vsphere

import (
	"errors"
	"fmt"
)

var (
	// ErrArtifact reports an artifact vSphere would refuse (not an OVA
	// holding an OVF descriptor and a streamOptimized VMDK). It is
	// returned before any upload.
	ErrArtifact = errors.New("vsphere: artifact not accepted")
	// ErrOption reports an invalid option or configuration.
	ErrOption = errors.New("vsphere: invalid option")
	// ErrImport reports an import vSphere refused or that failed.
	ErrImport = errors.New("vsphere: import failed")
	// ErrLocation reports a catalog location this package did not make.
	ErrLocation = errors.New("vsphere: not a vsphere location")
)

// ArtifactError says which rule an artifact breaks, in which file.
type ArtifactError struct {
	Path string // the artifact's file
	Rule string // the platform rule, e.g. "vmware-vmdk"
	Err  error  // what is wrong
}

func (e *ArtifactError) Error() string {
	return fmt.Sprintf("vsphere: %s breaks rule %s: %v", e.Path, e.Rule, e.Err)
}

// Unwrap returns ErrArtifact and the cause.
func (e *ArtifactError) Unwrap() []error { return []error{ErrArtifact, e.Err} }
