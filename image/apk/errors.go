package apk

import (
	"errors"
	"fmt"
)

// Sentinel errors of package apk. Test with errors.Is; the typed errors
// below carry the details and unwrap to these.
var (
	// ErrFormat reports an index, package or database that does not follow
	// the APK formats.
	ErrFormat = errors.New("apk: malformed input")
	// ErrVersion reports a version string apk-tools would not accept.
	ErrVersion = errors.New("apk: invalid version")
	// ErrDependency reports a malformed dependency or provides entry.
	ErrDependency = errors.New("apk: invalid dependency")

	// ErrVerify is the parent of every verification failure.
	ErrVerify = errors.New("apk: verification failed")
	// ErrSignature reports a signature that does not verify with the key
	// it names.
	ErrSignature = fmt.Errorf("%w: bad signature", ErrVerify)
	// ErrUntrustedSigner reports an index or package whose signers are all
	// absent from the keyring. The [*SignerError] names the keys wanted.
	ErrUntrustedSigner = fmt.Errorf("%w: untrusted signer", ErrVerify)
	// ErrUnsigned reports an index or package without any signature.
	ErrUnsigned = fmt.Errorf("%w: unsigned", ErrVerify)
	// ErrChecksum reports content whose digest differs from the one
	// recorded for it (C:Q1 of the index, datahash, cache keys).
	ErrChecksum = fmt.Errorf("%w: checksum mismatch", ErrVerify)
	// ErrSHA1Collision reports a control stream that carries a SHA-1
	// collision attack pattern.
	ErrSHA1Collision = fmt.Errorf("%w: SHA-1 collision attack detected", ErrVerify)
	// ErrSize reports content larger than indexed or than a limit.
	ErrSize = fmt.Errorf("%w: size", ErrVerify)

	// ErrKey reports a public key that cannot be parsed.
	ErrKey = errors.New("apk: invalid public key")
	// ErrFetch reports a repository file that could not be fetched.
	ErrFetch = errors.New("apk: fetch failed")
	// ErrCredentials reports credentials that cannot be read or found
	// (malformed HTTP_AUTH or netrc, a failing callback). Its messages
	// never contain a password.
	ErrCredentials = errors.New("apk: invalid credentials")
	// ErrCredentialsInURL reports a repository URL with user information
	// (https://user:password@host/…): credentials belong in HTTP_AUTH, a
	// netrc file or WithCredentials, never in a URL that is recorded.
	ErrCredentialsInURL = errors.New("apk: credentials in a repository URL")
	// ErrUnsatisfiable reports a world no package set satisfies. The
	// [*UnsatisfiableError] shows the chain that failed.
	ErrUnsatisfiable = errors.New("apk: unsatisfiable world")
)

// SignerError names the keys an index or package was signed with when none
// of them is trusted.
type SignerError struct {
	What string   // "index https://…/x86_64/APKINDEX.tar.gz", "package busybox-1.36-r0"
	Keys []string // key names the signatures want, e.g. "wolfi-signing.rsa.pub"
}

func (e *SignerError) Error() string {
	return fmt.Sprintf("apk: %s: untrusted signer: signed by %v, none in the keyring", e.What, e.Keys)
}

// Unwrap returns [ErrUntrustedSigner].
func (e *SignerError) Unwrap() error { return ErrUntrustedSigner }

// FormatError locates malformed input.
type FormatError struct {
	What string // "APKINDEX", ".PKGINFO", "installed database"
	Line int    // 1-based line, 0 if not line oriented
	Msg  string
}

func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("apk: %s line %d: %s", e.What, e.Line, e.Msg)
	}
	return fmt.Sprintf("apk: %s: %s", e.What, e.Msg)
}

// Unwrap returns [ErrFormat].
func (e *FormatError) Unwrap() error { return ErrFormat }

// ChecksumError reports a digest mismatch.
type ChecksumError struct {
	What      string
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("apk: %s: checksum mismatch: want %s, got %s", e.What, e.Want, e.Got)
}

// Unwrap returns [ErrChecksum].
func (e *ChecksumError) Unwrap() error { return ErrChecksum }
