package local

import (
	"bytes"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
)

// FuzzReadIndex feeds index files to the parser: it must never panic, and
// whatever it accepts must write back to an index it reads the same.
func FuzzReadIndex(f *testing.F) {
	x := catalog.NewIndex()
	for n := range 3 {
		e := catalogtest.NewEntry("base+fips/aws/x86_64/lts", n, 1)
		e.Locations = []catalog.Location{{Target: "aws", Region: "eu-west-1", ID: "ami-1"}}
		x.Put(catalog.Item{Summary: e.Summary(), Key: e.Ref.Digest.String()})
	}
	var good bytes.Buffer
	if err := writeIndex(&good, x); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte(""))
	f.Add([]byte("{\"format\":\"hardvm-catalog-index\",\"version\":1,\"entries\":0}\n{\"sha256\":\"x\"}\n"))
	f.Add(bytes.Replace(good.Bytes(), []byte("lts"), []byte("ltz"), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := readIndex(bytes.NewReader(b), "index")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := writeIndex(&out, idx); err != nil {
			t.Fatal(err)
		}
		again, err := readIndex(&out, "index")
		if err != nil || again.Len() != idx.Len() {
			t.Fatalf("accepted index does not round-trip: %v", err)
		}
	})
}
