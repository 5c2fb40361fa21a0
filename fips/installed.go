package fips

import (
	"bytes"
	"errors"

	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// installedDBs is where APK records the installed packages of a root, and
// the older location Alpine used before merged /usr.
var installedDBs = []string{"/usr/lib/apk/db/installed", "/lib/apk/db/installed"}

// parseInstalled reads an APK installed database with image/apk's parser,
// the one hardvm writes it with; path names the file in errors, which are
// *ParseError.
func parseInstalled(path string, data []byte) ([]*apk.Package, error) {
	ipkgs, err := apk.ParseInstalled(bytes.NewReader(data))
	if err != nil {
		if fe, ok := errors.AsType[*apk.FormatError](err); ok {
			return nil, &ParseError{Path: path, Line: fe.Line, Msg: fe.Msg}
		}
		return nil, &ParseError{Path: path, Msg: err.Error()}
	}
	pkgs := make([]*apk.Package, len(ipkgs))
	for i, p := range ipkgs {
		pkgs[i] = p.Package
	}
	return pkgs, nil
}

// versionAtLeast reports whether the APK version v is at least min.
func versionAtLeast(v, min string) bool { return apkversion.Compare(v, min) >= 0 }
