package image

import (
	"io/fs"
	"strings"
	"testing"
)

// FuzzPackageName: names from packages' data streams are untrusted; what
// packageName accepts is a clean relative path without "..".
func FuzzPackageName(f *testing.F) {
	for _, s := range []string{"usr/bin/x", "./etc/", "../x", "/etc", "a//b", "a/./b", "a\x00b", ".", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := packageName(raw)
		if err != nil {
			return
		}
		if !fs.ValidPath(n) || n == "." || strings.HasPrefix(n, "/") || strings.Contains("/"+n+"/", "/../") || strings.ContainsAny(n, "\x00\n") {
			t.Fatalf("packageName(%q) = %q accepted", raw, n)
		}
	})
}
