package vsphere

import (
	"errors"
)

var (
	// ErrOption reports an invalid option or configuration.
	ErrOption = errors.New("vsphere: invalid option")
	// ErrImport reports an import vSphere refused or that failed.
	ErrImport = errors.New("vsphere: import failed")
	// ErrLocation reports a catalog location this package did not make.
	ErrLocation = errors.New("vsphere: not a vsphere location")
)
