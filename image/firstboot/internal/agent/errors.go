package agent

import "errors"

// Errors returned by the agent; match them with errors.Is.
var (
	// ErrNoMetadata: the source is absent (no labelled volume, no metadata
	// server answering before the deadline). A machine without metadata
	// boots without SSH access; the agent exits 0.
	ErrNoMetadata = errors.New("firstboot: no metadata")
	// ErrMalformed: the source is present but what it holds does not
	// parse (bad YAML/JSON/XML, a corrupt volume, an invalid key).
	ErrMalformed = errors.New("firstboot: malformed metadata")
	// ErrProtocol: a metadata server answered outside its documented
	// protocol (unexpected status, missing header, bad framing).
	ErrProtocol = errors.New("firstboot: metadata protocol error")
	// ErrTooLarge: a read exceeded its bound.
	ErrTooLarge = errors.New("firstboot: metadata too large")
	// ErrApply: the metadata could not be applied to the machine.
	ErrApply = errors.New("firstboot: apply")
)
