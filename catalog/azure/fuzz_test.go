package azure

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParseFooter checks that no footer makes the parser panic, and that
// what it accepts is a footer whose checksum it verified.
func FuzzParseFooter(f *testing.F) {
	dir := f.TempDir()
	raw := dir + "/d.raw"
	os.WriteFile(raw, bytes.Repeat([]byte{1}, 1<<20), 0o644)
	vhd := testVHD(f, raw)
	b, err := os.ReadFile(vhd)
	if err != nil {
		f.Fatal(err)
	}
	good := b[len(b)-FooterSize:]
	f.Add(good)
	bad := bytes.Clone(good)
	bad[60+3] = 3 // dynamic, checksum now wrong
	f.Add(bad)
	f.Add(make([]byte, FooterSize))
	f.Add([]byte("conectix"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ft, err := ParseFooter(b)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, []byte("conectix")) || len(b) != FooterSize || ft.CurrentSize < 0 {
			t.Fatalf("accepted %x as %+v", b, ft)
		}
	})
}
