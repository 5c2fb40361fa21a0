package firstboot

import (
	"errors"

	"github.com/hardvm/hardvm/image/firstboot/internal/agent"
)

// Errors of this package; match them with errors.Is.
var (
	// ErrUnsupported: an architecture, platform or metadata source the
	// agent does not serve.
	ErrUnsupported = errors.New("firstboot: unsupported")
	// ErrInvalid: an option or seed field that cannot be used (a user or
	// host name that is not valid, a key that does not parse).
	ErrInvalid = errors.New("firstboot: invalid")
	// ErrMalformed is returned when a metadata document or volume does
	// not parse (the agent's error, re-exported for ReadNoCloudSeed).
	ErrMalformed = agent.ErrMalformed
)
