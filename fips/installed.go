package fips

import (
	"bytes"
	"errors"

	"github.com/hardvm/hardvm/image/apk/apkdb"
	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// installedDBs is where APK records the installed packages of a root, and
// the older location Alpine used before merged /usr.
var installedDBs = []string{"/usr/lib/apk/db/installed", "/lib/apk/db/installed"}

// installed is one package of an APK installed database.
type installed struct{ Name, Version string }

// parseInstalled reads the names and versions of an APK installed
// database with apkdb, the reader package apk builds its database types
// on; path names the file in errors, which are *ParseError.
func parseInstalled(path string, data []byte) ([]installed, error) {
	var out []installed
	sc := apkdb.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		r := sc.Record()
		out = append(out, installed{Name: r.Name, Version: r.Version})
	}
	if err := sc.Err(); err != nil {
		if fe, ok := errors.AsType[*apkdb.FormatError](err); ok {
			return nil, &ParseError{Path: path, Line: fe.Line, Msg: fe.Msg}
		}
		return nil, &ParseError{Path: path, Msg: err.Error()}
	}
	return out, nil
}

// versionAtLeast reports whether the APK version v is at least min.
func versionAtLeast(v, min string) bool { return apkversion.Compare(v, min) >= 0 }
