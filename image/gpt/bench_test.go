package gpt

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkWrite writes the four-partition table of a 256 MiB disk (MBR,
// both headers, both 16 KiB arrays).
func BenchmarkWrite(b *testing.B) {
	tab := layout(b, 256<<20, 512, "x86_64")
	d := &memDisk{b: make([]byte, 256<<20)}
	b.ReportAllocs()
	for b.Loop() {
		if err := tab.Write(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads and validates it.
func BenchmarkRead(b *testing.B) {
	tab := layout(b, 256<<20, 512, "x86_64")
	d := &memDisk{b: make([]byte, 256<<20)}
	if err := tab.Write(context.Background(), d); err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(d.b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(r, int64(len(d.b))); err != nil {
			b.Fatal(err)
		}
	}
}
