package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// LockDigest returns the digest an SLSA statement of [SLSA] records for a
// lock: the SHA-256 of the lock's compact JSON encoding (encoding/json;
// the lock's JSON form is stable). A lock read back from any JSON of the
// same values has the same digest.
func LockDigest(lock *artifact.Lock) (digest.Digest, error) {
	if lock == nil {
		return "", fmt.Errorf("%w: nil lock", ErrInput)
	}
	b, err := json.Marshal(lock)
	if err != nil {
		return "", fmt.Errorf("%w: lock: %v", ErrInput, err)
	}
	return digest.FromBytes(b), nil
}

// BuildParameters is what the SLSA provenance of a hardvm build says about
// the build besides its subjects: the spec it started from (external
// parameters) and what the builder resolved and found (internal
// parameters).
type BuildParameters struct {
	Spec   vm.Spec
	Arch   vm.Arch
	Family vm.RepositoryFamily
	World  []string
	// Lock is the [LockDigest] of the build's lock.
	Lock digest.Digest
	// Kernel is the version of the kernel the image boots ([WithKernel]);
	// "" when the image has no kernel and does not boot.
	Kernel string
	// Configuration is what the OS configuration applied (the lock's
	// Configuration: accounts, units, the hardening baseline in force);
	// nil when the build configured nothing.
	Configuration *vm.Configuration
}

// ReadBuildParameters reads the build parameters of an SLSA statement of
// [BuildType]. Read them from a statement whose signature verified (a
// [Result]'s Provenance): only then do they say what the builder signed.
func ReadBuildParameters(st *Statement) (*BuildParameters, error) {
	if st.GetPredicateType() != SLSAPredicateType {
		return nil, fmt.Errorf("%w: predicate type %q, want %q", ErrPredicateType, st.GetPredicateType(), SLSAPredicateType)
	}
	def := st.GetPredicate().GetFields()["buildDefinition"].GetStructValue()
	if bt := def.GetFields()["buildType"].GetStringValue(); bt != BuildType {
		return nil, malformed("statement", "", "buildType %q, want %q", bt, BuildType)
	}
	var p BuildParameters
	spec := def.GetFields()["externalParameters"].GetStructValue().GetFields()["spec"]
	if spec == nil {
		return nil, malformed("statement", "", "externalParameters has no spec")
	}
	if err := decodeValue(spec, &p.Spec); err != nil {
		return nil, malformed("statement", "", "externalParameters.spec: %v", err)
	}
	var internal struct {
		Arch          vm.Arch             `json:"arch"`
		Family        vm.RepositoryFamily `json:"family"`
		World         []string            `json:"world"`
		Lock          digest.Digest       `json:"lock"`
		Kernel        string              `json:"kernel"`
		Configuration *vm.Configuration   `json:"configuration"`
	}
	if err := decodeValue(def.GetFields()["internalParameters"], &internal); err != nil {
		return nil, malformed("statement", "", "internalParameters: %v", err)
	}
	if _, err := sha256Hex(internal.Lock); err != nil {
		return nil, malformed("statement", "", "internalParameters.lock: %v", err)
	}
	p.Arch, p.Family, p.World, p.Lock, p.Kernel = internal.Arch, internal.Family, internal.World, internal.Lock, internal.Kernel
	p.Configuration = internal.Configuration
	return &p, nil
}

// decodeValue decodes a protobuf value into v through Go's JSON encoding
// (numbers in integer form), rejecting unknown fields.
func decodeValue(val *structpb.Value, v any) error {
	if val == nil {
		return errors.New("missing")
	}
	b, err := json.Marshal(val.AsInterface())
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// LockError says how a lock differs from the one a signed provenance
// attests: the field (as its JSON path, e.g. "spec.build" or
// "packages[openssh-server].version"), what the lock says and what the
// signed statement says. Field is "" when the difference is in a part the
// statement records by digest only. It unwraps to [ErrLock].
type LockError struct {
	Field  string
	Lock   string // the value in the lock
	Signed string // the value in the signed statement
}

func (e *LockError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%v: the lock (%s) is not the one the signed provenance attests (%s)", ErrLock, e.Lock, e.Signed)
	}
	return fmt.Sprintf("%v: %s is %s in the lock, %s in the signed provenance", ErrLock, e.Field, e.Lock, e.Signed)
}

// Unwrap returns [ErrLock].
func (e *LockError) Unwrap() error { return ErrLock }

// CheckLock checks that lock is the lock an SLSA statement attests: its
// [LockDigest] must be the one the statement records. When it is not, the
// *LockError names the first field that differs from what the statement
// repeats (the spec, arch, family, world, each package's name, version,
// arch and digest, each repository's index digest), or none when the
// difference is in a field recorded by the digest alone (sizes, origins,
// checksums). Check st's signature first ([Verify]).
func CheckLock(st *Statement, lock *artifact.Lock) error {
	p, err := ReadBuildParameters(st)
	if err != nil {
		return err
	}
	have, err := LockDigest(lock)
	if err != nil {
		return err
	}
	if have == p.Lock {
		return nil
	}
	if le := lockField(st, p, lock); le != nil {
		return le
	}
	return &LockError{Lock: string(have), Signed: string(p.Lock)}
}

// lockField finds the first field of lock that differs from what the
// statement repeats.
func lockField(st *Statement, p *BuildParameters, lock *artifact.Lock) *LockError {
	if f, a, b := firstDiff("spec", lock.Spec, p.Spec); f != "" {
		return &LockError{Field: f, Lock: a, Signed: b}
	}
	switch {
	case lock.Arch != p.Arch:
		return &LockError{Field: "arch", Lock: quote(lock.Arch), Signed: quote(p.Arch)}
	case lockFamily(lock) != p.Family:
		return &LockError{Field: "family", Lock: quote(lockFamily(lock)), Signed: quote(p.Family)}
	case !slices.Equal(lock.World, p.World):
		return &LockError{Field: "world", Lock: fmt.Sprint(lock.World), Signed: fmt.Sprint(p.World)}
	}
	type signedPkg struct {
		ref    PackageRef
		digest string
	}
	signed := map[string]signedPkg{}
	indexes := map[string]string{}
	deps := st.GetPredicate().GetFields()["buildDefinition"].GetStructValue().GetFields()["resolvedDependencies"].GetListValue()
	for _, v := range deps.GetValues() {
		f := v.GetStructValue().GetFields()
		d := ""
		if h := f["digest"].GetStructValue().GetFields()["sha256"].GetStringValue(); h != "" {
			d = "sha256:" + h
		}
		uri := f["uri"].GetStringValue()
		if r, err := ParsePurl(uri); err == nil && strings.HasPrefix(uri, "pkg:apk/") {
			signed[r.Name] = signedPkg{r, d}
		} else if f["name"].GetStringValue() == "APKINDEX.tar.gz" {
			indexes[uri] = d
		}
	}
	names := map[string]bool{}
	for _, pk := range lock.Packages {
		names[pk.Name] = true
		field := "packages[" + pk.Name + "]"
		s, ok := signed[pk.Name]
		switch {
		case !ok:
			return &LockError{Field: field, Lock: quote(pk.Name + "-" + pk.Version), Signed: "absent"}
		case pk.Version != s.ref.Version:
			return &LockError{Field: field + ".version", Lock: quote(pk.Version), Signed: quote(s.ref.Version)}
		case pk.Arch != s.ref.Arch:
			return &LockError{Field: field + ".arch", Lock: quote(pk.Arch), Signed: quote(s.ref.Arch)}
		case string(pk.SHA256) != s.digest:
			return &LockError{Field: field + ".sha256", Lock: quote(pk.SHA256), Signed: quote(s.digest)}
		}
	}
	var extra []string
	for n := range signed {
		if !names[n] {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return &LockError{Field: "packages[" + extra[0] + "]", Lock: "absent", Signed: quote(extra[0] + "-" + signed[extra[0]].ref.Version)}
	}
	for _, r := range lock.Repositories {
		uri := indexURI(r.URL, string(lock.Arch))
		if d, ok := indexes[uri]; !ok || d != string(r.IndexDigest) {
			return &LockError{Field: "repositories[" + r.URL + "].index_digest", Lock: quote(r.IndexDigest), Signed: quote(d)}
		}
	}
	return nil
}

// firstDiff compares the JSON forms of a and b and returns the path of
// the first field (in key order) whose values differ, with both values.
func firstDiff(path string, a, b any) (string, string, string) {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var x, y any
	json.Unmarshal(ja, &x)
	json.Unmarshal(jb, &y)
	return diffValue(path, x, y)
}

func diffValue(path string, x, y any) (string, string, string) {
	mx, okx := x.(map[string]any)
	my, oky := y.(map[string]any)
	if okx && oky {
		keys := map[string]bool{}
		for k := range mx {
			keys[k] = true
		}
		for k := range my {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if f, a, b := diffValue(path+"."+k, mx[k], my[k]); f != "" {
				return f, a, b
			}
		}
		return "", "", ""
	}
	jx, _ := json.Marshal(x)
	jy, _ := json.Marshal(y)
	if bytes.Equal(jx, jy) {
		return "", "", ""
	}
	show := func(b []byte, v any) string {
		if v == nil {
			return "absent"
		}
		return string(b)
	}
	return path, show(jx, x), show(jy, y)
}

func quote[T ~string](s T) string { return fmt.Sprintf("%q", string(s)) }
