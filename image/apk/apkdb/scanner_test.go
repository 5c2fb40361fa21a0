package apkdb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkdb"
)

// realData is the module's real APK test data (see its README).
var realData = filepath.Join("..", "..", "..", "testdata", "apk")

func scanAll(t testing.TB, r io.Reader) ([]apkdb.Record, error) {
	t.Helper()
	var out []apkdb.Record
	sc := apkdb.NewScanner(r)
	for sc.Scan() {
		rec := *sc.Record()
		rec.Fields = append([]apkdb.Field(nil), rec.Fields...) // valid only until the next Scan
		out = append(out, rec)
	}
	return out, sc.Err()
}

// The installed database of a real wolfi-base image: 15 packages, each
// with its file list among its fields.
func TestScanInstalledWolfiBase(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(realData, "installed-db", "wolfi-base"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := scanAll(t, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if n := countNames(b); len(recs) != 15 || n != 15 {
		t.Fatalf("%d records, %d P: lines, want 15", len(recs), n)
	}
	lines := 0
	for _, r := range recs {
		lines += len(r.Fields)
		if r.Fields[0].Line != r.Line {
			t.Errorf("%s: record line %d, first field at %d", r.Name, r.Line, r.Fields[0].Line)
		}
		for i, f := range r.Fields {
			if i > 0 && f.Line != r.Fields[i-1].Line+1 {
				t.Errorf("%s: field %c at line %d after line %d", r.Name, f.Key, f.Line, r.Fields[i-1].Line)
			}
		}
	}
	// Every non-blank line of the file is a field of a record.
	if want := len(b) - len(bytes.ReplaceAll(b, []byte("\n"), nil)) - strings.Count(string(b), "\n\n"); lines != want {
		t.Errorf("%d fields, %d non-blank lines", lines, want)
	}
	busybox := recs[0]
	for _, r := range recs {
		if r.Name == "busybox" {
			busybox = r
		}
	}
	if busybox.Name != "busybox" || busybox.Version == "" {
		t.Errorf("no busybox with a version in %v", names(recs))
	}
}

// The APKINDEX of Alpine 3.16 (aarch64), as the repository serves it.
func TestScanAlpineIndex(t *testing.T) {
	f, err := os.Open(filepath.Join(realData, "alpine-3.16-aarch64", "APKINDEX.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx := indexText(t, f)
	recs, err := scanAll(t, bytes.NewReader(idx))
	if err != nil {
		t.Fatal(err)
	}
	if n := countNames(idx); len(recs) != n || n < 1000 {
		t.Fatalf("%d records, %d P: lines", len(recs), n)
	}
	for _, r := range recs {
		if r.Fields[0].Key != 'C' {
			t.Fatalf("%s: first field %c, apk-tools writes C: first", r.Name, r.Fields[0].Key)
		}
	}
}

func indexText(t *testing.T, r io.Reader) []byte {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	// The signature and the index are concatenated gzip members.
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no APKINDEX member: %v", err)
		}
		if h.Name == "APKINDEX" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// countNames counts the P: lines of a database.
func countNames(b []byte) int {
	n := bytes.Count(b, []byte("\nP:"))
	if bytes.HasPrefix(b, []byte("P:")) {
		n++
	}
	return n
}

func names(recs []apkdb.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Name)
	}
	return out
}

func TestScanner(t *testing.T) {
	recs, err := scanAll(t, strings.NewReader("\n\nP:a\nV:1.0-r0\nX:kept\n\n\nP:b\nV:0.99f7\nD:a>=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Name != "a" || recs[0].Version != "1.0-r0" || recs[0].Line != 3 ||
		recs[1].Name != "b" || recs[1].Version != "0.99f7" || recs[1].Line != 8 || len(recs[1].Fields) != 3 || recs[0].Fields[2] != (apkdb.Field{Key: 'X', Value: "kept", Line: 5}) {
		t.Fatalf("records %+v", recs)
	}
	if recs, err := scanAll(t, strings.NewReader("")); err != nil || len(recs) != 0 {
		t.Fatalf("empty input: %v, %v", recs, err)
	}
	for _, tt := range []struct {
		in   string
		line int
		msg  string
	}{
		{"P:a\nV:1\nP:b\nV:2\n", 3, "second P: line"},
		{"P:a\nV:1\n\ngarbage\n", 4, "want K:value"},
		{"V:1\nA:x86_64\n", 1, "without a name"},
		{"P:a\n", 1, "bad version"},
		{"P:a\nV:1 2\n", 1, "bad version"},
		{"P:a\nV:\r\r\n", 1, "bad version"},
		{"P:a\nV:1\nT:" + strings.Repeat("x", apkdb.MaxLine) + "\n", 3, "longer than 1 MiB"},
	} {
		_, err := scanAll(t, strings.NewReader(tt.in))
		fe, ok := errors.AsType[*apkdb.FormatError](err)
		if !ok || !errors.Is(err, apkdb.ErrFormat) || fe.Line != tt.line || !strings.Contains(fe.Msg, tt.msg) {
			t.Errorf("%.40q: %v, want line %d: %s", tt.in, err, tt.line, tt.msg)
		}
	}
	// The reader's own errors come through as they are.
	boom := errors.New("boom")
	if _, err := scanAll(t, io.MultiReader(strings.NewReader("P:a\nV:1\n"), iotestErr{boom})); !errors.Is(err, boom) {
		t.Errorf("reader error: %v", err)
	}
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }
