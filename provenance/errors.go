package provenance

import (
	"errors"
	"fmt"
)

// The sentinel errors of provenance. Verification failures form a tree
// rooted at ErrVerification, so a caller can test for the whole class
// (errors.Is(err, ErrVerification)) or one cause (errors.Is(err, ErrSignature)).
var (
	// ErrVerification is the root of every verification failure.
	ErrVerification = errors.New("provenance: verification failed")
	// ErrSignature: the DSSE signature does not verify against the trusted
	// key or certificate chain (tampered envelope, wrong key).
	ErrSignature = fmt.Errorf("%w: signature", ErrVerification)
	// ErrTransparencyLog: the policy requires transparency-log entries the
	// bundle does not carry, or they do not verify.
	ErrTransparencyLog = fmt.Errorf("%w: transparency log", ErrVerification)
	// ErrTimestamp: no trusted time, or the certificate was not valid at
	// the signing time (expired or not yet valid).
	ErrTimestamp = fmt.Errorf("%w: timestamp", ErrVerification)
	// ErrSubjectMismatch: no subject of the statement has the artifact's
	// digest (tampered artifact, bundle for another artifact).
	ErrSubjectMismatch = fmt.Errorf("%w: subject does not match the artifact", ErrVerification)
	// ErrPolicy is the root of every policy rule that failed.
	ErrPolicy = fmt.Errorf("%w: policy", ErrVerification)
	// ErrIdentity: the signer is not the identity (issuer and SAN, or public
	// key) the policy requires.
	ErrIdentity = fmt.Errorf("%w: signer identity", ErrPolicy)
	// ErrPredicateType: the statement has an unexpected predicate type.
	ErrPredicateType = fmt.Errorf("%w: predicate type", ErrPolicy)
	// ErrBuilder: the provenance names another builder than the policy's.
	ErrBuilder = fmt.Errorf("%w: builder id", ErrPolicy)
	// ErrMissingAttestation: an attestation the policy requires (SBOM,
	// provenance, FIPS report) is absent.
	ErrMissingAttestation = fmt.Errorf("%w: required attestation missing", ErrPolicy)
	// ErrFamily: the image holds packages from a repository family the
	// policy does not allow, or mixes Wolfi and Chainguard OS.
	ErrFamily = fmt.Errorf("%w: repository family", ErrPolicy)
	// ErrTooOld: the build is older than the policy's maximum age.
	ErrTooOld = fmt.Errorf("%w: build too old", ErrPolicy)
	// ErrDeniedPackage: the image holds a package the policy denies.
	ErrDeniedPackage = fmt.Errorf("%w: denied package", ErrPolicy)
	// ErrFIPS: the policy requires a passing, signed FIPS report for the
	// artifact and there is none, or it does not pass.
	ErrFIPS = fmt.Errorf("%w: FIPS report", ErrPolicy)
	// ErrRootHash: the dm-verity root hash recorded for an artifact differs
	// from the one its disk or manifest states.
	ErrRootHash = fmt.Errorf("%w: verity root hash", ErrVerification)
	// ErrUnattested: an output directory holds an artifact that no signed
	// statement names.
	ErrUnattested = fmt.Errorf("%w: unattested artifact", ErrVerification)
	// ErrLock: a lock is not the one the signed provenance attests (see
	// [CheckLock] and [LockError]).
	ErrLock = fmt.Errorf("%w: lock differs from the signed provenance", ErrVerification)

	// ErrMalformed reports a bundle, statement or SBOM that cannot be
	// parsed or is structurally invalid.
	ErrMalformed = errors.New("provenance: malformed document")
	// ErrTooLarge reports a document over the size limit of its parser.
	ErrTooLarge = errors.New("provenance: document too large")
	// ErrInput reports an invalid lock, artifact or report given to a
	// builder of documents (missing digest, duplicate names).
	ErrInput = errors.New("provenance: invalid input")
	// ErrOption reports an invalid option.
	ErrOption = errors.New("provenance: invalid option")
	// ErrKey reports a key that cannot be read, parsed or generated.
	ErrKey = errors.New("provenance: key")
	// ErrSign reports a failure to sign or to reach a signing service.
	ErrSign = errors.New("provenance: signing failed")
)

// DocumentError reports a malformed or oversized document: which one
// (bundle, statement, SBOM, or a file name), where in it if known, and why.
// It unwraps to ErrMalformed or ErrTooLarge.
type DocumentError struct {
	Kind string // "bundle", "statement", "sbom", "policy", "report"
	Name string // file name or other locator, if known
	Err  error
}

func (e *DocumentError) Error() string {
	s := "provenance: " + e.Kind
	if e.Name != "" {
		s += " " + e.Name
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying error, which wraps ErrMalformed or
// ErrTooLarge.
func (e *DocumentError) Unwrap() error { return e.Err }

func malformed(kind, name string, format string, args ...any) error {
	return &DocumentError{Kind: kind, Name: name, Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)}
}

// RuleError is one failed rule of a verification: which rule, on which
// artifact or file, and the cause. It unwraps to the cause, a sentinel of
// the ErrVerification tree.
type RuleError struct {
	Rule     string // the rule's name as in [Result]
	Artifact string // the artifact or file the rule was checking
	Err      error
}

func (e *RuleError) Error() string {
	s := "provenance: " + e.Rule
	if e.Artifact != "" {
		s += " (" + e.Artifact + ")"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *RuleError) Unwrap() error { return e.Err }
