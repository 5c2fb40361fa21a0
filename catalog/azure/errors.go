package azure

import (
	"errors"
)

var (
	// ErrOption reports an invalid option or registrar setting.
	ErrOption = errors.New("azure: invalid option")
	// ErrProvisioning reports a gallery resource whose provisioning failed.
	ErrProvisioning = errors.New("azure: provisioning failed")
	// ErrLocation reports a catalog location this package did not make.
	ErrLocation = errors.New("azure: not an azure location")
)
