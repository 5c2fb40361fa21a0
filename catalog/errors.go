package catalog

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrNotFound reports a reference or query with no entry in the catalog.
	ErrNotFound = errors.New("catalog: not found")
	// ErrConflict reports a reference already published with another digest:
	// a Ref names one build, so it can never be published twice with
	// different content.
	ErrConflict = errors.New("catalog: conflicting entry")
	// ErrCorrupt reports a catalog whose stored data cannot be trusted: an
	// index that does not parse or whose checksum is wrong, an entry whose
	// content does not match its digest.
	ErrCorrupt = errors.New("catalog: corrupt")
	// ErrInvalid reports an entry, query or option that is not well formed.
	ErrInvalid = errors.New("catalog: invalid")
	// ErrUnverified reports an attempt to publish without verification.
	ErrUnverified = errors.New("catalog: not verified")
	// ErrVerify reports a release whose verification failed.
	ErrVerify = errors.New("catalog: verification failed")
	// ErrPublish reports a publication that failed and was rolled back.
	ErrPublish = errors.New("catalog: publish failed")
	// ErrDigest reports content whose digest is not the one expected. It is
	// an ErrCorrupt.
	ErrDigest = fmt.Errorf("%w: digest mismatch", ErrCorrupt)
	// ErrRejected reports an artifact a registrar (or a store that keeps
	// files) refused: its file is not what the artifact records (digest,
	// size) or it breaks a rule of the target. An [*ArtifactError] says
	// which artifact, which target and why. When a registrar returns it,
	// nothing of the artifact is left registered on the target.
	ErrRejected = errors.New("catalog: artifact rejected")
)

// The rules a target refuses an artifact by, besides its platform's
// (vm.Rule IDs such as "azure-vhd-fixed" or "aws-size").
const (
	RuleDigest = "digest" // no sha256 digest, or the file's content does not have it
	RuleSize   = "size"   // the file is not of the artifact's size, or changed while read
	RuleFile   = "file"   // not a regular file
	RuleFormat = "format" // the target does not take the artifact's disk format
)

// ArtifactError says which artifact a target refused and why. It is an
// [ErrRejected]; when the digest is wrong it is also an [ErrDigest].
type ArtifactError struct {
	Target   string // the target that refused it, e.g. "aws" or "qemu"
	Artifact string // the artifact's file name, e.g. "disk.raw"
	Path     string // the artifact's file
	Rule     string // the rule broken: a Rule constant or a vm.Rule ID
	Err      error  // what is wrong
}

func (e *ArtifactError) Error() string {
	return fmt.Sprintf("catalog: %s refused %s (%s): rule %s: %v", e.Target, e.Artifact, e.Path, e.Rule, e.Err)
}

// Unwrap returns ErrRejected and the cause.
func (e *ArtifactError) Unwrap() []error { return []error{ErrRejected, e.Err} }

// CorruptError says which stored file is corrupt and where.
type CorruptError struct {
	Path string // file or reference of the corrupt data
	Line int    // line of the index, when known
	Err  error  // what is wrong
}

func (e *CorruptError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("catalog: corrupt %s line %d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("catalog: corrupt %s: %v", e.Path, e.Err)
}

// Unwrap returns ErrCorrupt and the cause.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// DigestError reports content whose digest differs from the recorded one.
type DigestError struct {
	What string        // what was hashed: a path, an artifact name, a blob
	Want digest.Digest // the recorded digest
	Got  digest.Digest // the digest of the content
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("catalog: %s: digest %s, want %s", e.What, e.Got, e.Want)
}

// Unwrap returns ErrDigest.
func (e *DigestError) Unwrap() error { return ErrDigest }

// TargetError reports which registrar target failed and why.
type TargetError struct {
	Target string // the registrar's target, e.g. "aws" or "qemu"
	Op     string // register, deregister, deprecate
	Err    error
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("catalog: %s on %s: %v", e.Op, e.Target, e.Err)
}

// Unwrap returns the cause.
func (e *TargetError) Unwrap() error { return e.Err }
