package boot

import (
	"os"
	"testing"
)

// FuzzBuildUKI feeds malformed stubs to the PE parser and section writer:
// they must return an error, never panic or write out of bounds.
func FuzzBuildUKI(f *testing.F) {
	if b, err := os.ReadFile(stubPath); err == nil {
		f.Add(b[:min(len(b), 4096)])
		f.Add(b)
	}
	f.Add([]byte("MZ"))
	f.Add(append([]byte("MZ"), make([]byte, 200)...))
	f.Fuzz(func(t *testing.T, stub []byte) {
		u := UKI{Stub: stub, Linux: []byte("k"), Cmdline: "c", SBAT: "s,1\n"}
		b, err := u.Build()
		if err != nil {
			return
		}
		if _, err := parsePE(b); err != nil {
			t.Fatalf("Build output does not parse: %v", err)
		}
	})
}

// FuzzParseModinfo feeds malformed kernel modules (untrusted package
// content) to the .modinfo reader.
func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	f.Add([]byte{})
	if b, err := os.ReadFile("/proc/self/exe"); err == nil {
		f.Add(b[:min(len(b), 8192)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseModinfo(b)
	})
}
