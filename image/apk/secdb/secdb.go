package secdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// Bounds on what [Read] accepts. Wolfi's security.json is about 3 MiB with
// 5,000 packages; Alpine's main.json about 400 KiB.
const (
	MaxSize     = 64 << 20 // bytes of JSON
	MaxPackages = 200_000  // package records
	MaxIDs      = 4_000_000
	maxIDLen    = 128
)

// idRe is the shape of an issue id: an upper-case scheme, a dash, and
// letters, digits and the separators the schemes use (CVE-2024-1234,
// GHSA-xxxx-xxxx-xxxx, XSA-123, ALPINE-12345).
var idRe = regexp.MustCompile(`^[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9.:_-]*$`)

// Fix is one version of a package that fixed security issues.
type Fix struct {
	Version string   // the package version (pkgver-rN) that carries the fixes
	IDs     []string // issue ids, sorted
}

// DB is a parsed security database: per package name, the fixing versions
// in ascending apk version order. The zero DB knows no fixes.
type DB struct {
	// Repository is the repository name the database states (reponame),
	// "" when it states none.
	Repository string
	fixes      map[string][]Fix
	// notAffected holds, per package, the ids recorded under version
	// "0": issues that never affected the package.
	notAffected map[string][]string
}

// document is the JSON both Alpine and Wolfi write.
type document struct {
	RepoName string `json:"reponame"`
	Packages []struct {
		Pkg struct {
			Name     string                     `json:"name"`
			Secfixes map[string]json.RawMessage `json:"secfixes"`
		} `json:"pkg"`
	} `json:"packages"`
}

// Read parses a security database from r, reading at most [MaxSize]
// bytes. Every package needs a name; every secfixes key must be a valid
// apk version (or "0", which records issues that never affected the
// package) and its value a list of strings, each one or more
// whitespace-separated issue ids.
func Read(r io.Reader) (*DB, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxSize)
	}
	return Parse(data)
}

// Parse parses a security database held in memory (see [Read]).
func Parse(data []byte) (*DB, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxSize)
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON document", ErrFormat)
	}
	if len(doc.Packages) > MaxPackages {
		return nil, fmt.Errorf("%w: %d packages (at most %d)", ErrFormat, len(doc.Packages), MaxPackages)
	}
	db := &DB{Repository: doc.RepoName, fixes: map[string][]Fix{}, notAffected: map[string][]string{}}
	total := 0
	for i, p := range doc.Packages {
		name := p.Pkg.Name
		if name == "" || len(name) > 255 || strings.ContainsAny(name, " \t\n/") {
			return nil, fmt.Errorf("%w: packages[%d]: name %q", ErrFormat, i, name)
		}
		for ver, raw := range p.Pkg.Secfixes {
			var items []string
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("%w: package %s: secfixes %q: want a list of strings", ErrFormat, name, ver)
			}
			var ids []string
			for _, it := range items {
				for _, id := range strings.Fields(it) {
					if len(id) > maxIDLen || !idRe.MatchString(id) {
						return nil, fmt.Errorf("%w: package %s %s: issue id %q", ErrFormat, name, ver, id)
					}
					ids = append(ids, id)
				}
			}
			if total += len(ids); total > MaxIDs {
				return nil, fmt.Errorf("%w: more than %d issue ids", ErrFormat, MaxIDs)
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			if ver == "0" {
				db.notAffected[name] = mergeIDs(db.notAffected[name], ids)
				continue
			}
			if !apkversion.Valid(ver) {
				return nil, fmt.Errorf("%w: package %s: secfixes version %q", ErrFormat, name, ver)
			}
			db.fixes[name] = append(db.fixes[name], Fix{Version: ver, IDs: ids})
		}
	}
	db.normalize()
	return db, nil
}

// normalize sorts every package's fixes by version and merges the fixes
// of equal versions (a package listed twice, or merged databases).
func (db *DB) normalize() {
	for name, fs := range db.fixes {
		slices.SortFunc(fs, func(a, b Fix) int {
			if c := apkversion.Compare(a.Version, b.Version); c != 0 {
				return c
			}
			return strings.Compare(a.Version, b.Version)
		})
		out := fs[:0]
		for _, f := range fs {
			if n := len(out); n > 0 && out[n-1].Version == f.Version {
				out[n-1].IDs = mergeIDs(out[n-1].IDs, f.IDs)
				continue
			}
			out = append(out, f)
		}
		db.fixes[name] = out
	}
}

func mergeIDs(a, b []string) []string {
	m := append(slices.Clip(a), b...)
	slices.Sort(m)
	return slices.Compact(m)
}

// Fixes returns the fixing versions of package name, in ascending version
// order.
func (db *DB) Fixes(name string) []Fix {
	if db == nil {
		return nil
	}
	return slices.Clone(db.fixes[name])
}

// NotAffected returns the issue ids the database records as never having
// affected package name (its version "0" entry).
func (db *DB) NotAffected(name string) []string {
	if db == nil {
		return nil
	}
	return slices.Clone(db.notAffected[name])
}

// Packages returns the names of the packages with recorded fixes, sorted.
func (db *DB) Packages() []string {
	if db == nil {
		return nil
	}
	names := make([]string, 0, len(db.fixes))
	for n := range db.fixes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Fixed returns the issue ids that upgrading package name from version
// from to version to fixes: those of every fixing version v with
// from < v ≤ to in apk version order, sorted and without duplicates. A
// new package (from == ""), a removal (to == ""), a downgrade and an
// invalid version fix nothing.
func (db *DB) Fixed(name, from, to string) []string {
	if db == nil || from == "" || to == "" || !apkversion.Valid(from) || !apkversion.Valid(to) {
		return nil
	}
	var ids []string
	for _, f := range db.fixes[name] {
		if apkversion.Compare(from, f.Version) < 0 && apkversion.Compare(f.Version, to) <= 0 {
			ids = append(ids, f.IDs...)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Merge returns a database with the fixes of every db (nil ones are
// skipped), as one reads the databases of several repositories; the inputs
// are not changed.
func Merge(dbs ...*DB) *DB {
	m := &DB{fixes: map[string][]Fix{}, notAffected: map[string][]string{}}
	for _, db := range dbs {
		if db == nil {
			continue
		}
		if m.Repository == "" {
			m.Repository = db.Repository
		}
		for name, fs := range db.fixes {
			for _, f := range fs {
				m.fixes[name] = append(m.fixes[name], Fix{Version: f.Version, IDs: slices.Clone(f.IDs)})
			}
		}
		for name, ids := range db.notAffected {
			m.notAffected[name] = mergeIDs(m.notAffected[name], ids)
		}
	}
	m.normalize()
	return m
}
