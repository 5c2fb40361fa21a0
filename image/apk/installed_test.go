package apk

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestInstalledMatchesWolfiBase parses the installed database of a real
// wolfi-base image, writes it back and checks that it reads the same and
// that every stanza keeps the field order of the original.
func TestInstalledMatchesWolfiBase(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(realData, "installed-db", "wolfi-base"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := ParseInstalled(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 15 {
		t.Fatalf("%d packages, want 15", len(pkgs))
	}
	var out bytes.Buffer
	if err := WriteInstalled(&out, pkgs); err != nil {
		t.Fatal(err)
	}
	again, err := ParseInstalled(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	// apko writes "i:[]" for an empty install_if; it reads back as the
	// literal "[]", on both sides.
	if !reflect.DeepEqual(pkgs, again) {
		for i := range pkgs {
			if !reflect.DeepEqual(pkgs[i], again[i]) {
				t.Fatalf("package %s differs after a round trip:\n%+v\n%+v", pkgs[i].Name, *pkgs[i].Package, *again[i].Package)
			}
		}
	}
	origOrder, ourOrder := keyOrders(orig), keyOrders(out.Bytes())
	for i := range ourOrder {
		if !isSubsequence(ourOrder[i], origOrder[i]) {
			t.Errorf("stanza %d: our field order %q is not the original's %q", i, ourOrder[i], origOrder[i])
		}
	}
	// The file list is byte-identical to the original's.
	if a, b := fileLines(orig), fileLines(out.Bytes()); a != b {
		t.Errorf("file lists differ")
	}
}

func keyOrders(b []byte) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		if !strings.ContainsRune("FRaMZ", rune(l[0])) {
			cur.WriteByte(l[0])
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func fileLines(b []byte) string {
	var s strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && strings.ContainsRune("FRaMZ", rune(l[0])) {
			s.WriteString(l + "\n")
		}
	}
	return s.String()
}

func isSubsequence(a, b string) bool {
	j := 0
	for i := 0; i < len(a); i++ {
		for j < len(b) && b[j] != a[i] {
			j++
		}
		if j == len(b) {
			return false
		}
		j++
	}
	return true
}
