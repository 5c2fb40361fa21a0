package apkdb_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkdb"
)

// FuzzScanner: the databases come from images and repositories. Every
// record the Scanner returns has one name and a usable version among its
// fields, in line order; anything else is a *FormatError.
func FuzzScanner(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(realData, "installed-db", "wolfi-base"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("P:a\nV:1\nP:b\nV:2\n"))
	f.Add([]byte("\n\nP:a\nV:1\n\n\nV:2\n"))
	f.Add([]byte("P:0\nV:\r\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := scanAll(t, bytes.NewReader(data))
		if err != nil {
			if _, ok := errors.AsType[*apkdb.FormatError](err); !ok || !errors.Is(err, apkdb.ErrFormat) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
		}
		last := 0
		for _, r := range recs {
			names := 0
			for _, f := range r.Fields {
				if f.Line <= last {
					t.Fatalf("field at line %d after line %d", f.Line, last)
				}
				last = f.Line
				if f.Key == 'P' {
					names++
				}
			}
			if names != 1 || r.Name == "" || r.Version == "" || strings.ContainsAny(r.Version, " \t\r\n\x00") {
				t.Fatalf("record %+v", r)
			}
		}
	})
}
