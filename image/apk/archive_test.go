package apk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pjbgf/sha1cd"
)

// realData is the real APK data under the module root's testdata/apk (see its README).
var realData = filepath.Join("..", "..", "testdata", "apk")

func openReal(t testing.TB, rel string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(realData, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func keyring(t testing.TB, paths ...string) *Keyring {
	t.Helper()
	k := NewKeyring()
	for _, p := range paths {
		if err := k.AddFile(filepath.Join(realData, p)); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func TestReadIndexSignatures(t *testing.T) {
	const cg = "chainguard-signed-index/keys/"
	cgKeys := []string{
		cg + "chainguard-0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0.rsa.pub",
		cg + "chainguard-60912bbc46bfc8ed6bda0b50db3a8a5f3c4344d6bc8549ec9b84d96140b475d1.rsa.pub",
		cg + "chainguard-61cb6bccd1f584b007db7be51ebce2b0530a54cc5a94e7650b570d113d537cf3.rsa.pub",
	}
	tests := []struct {
		name, index string
		keys        []string
		wantErr     error
		wantSigner  string
		wantKeys    []string // keys the SignerError names
	}{
		{name: "rsa256", index: "rsa256-signed/APKINDEX.tar.gz", keys: []string{"rsa256-signed/keys/test-rsa256.rsa.pub"}, wantSigner: "test-rsa256.rsa.pub"},
		{name: "three signers, all trusted", index: "chainguard-signed-index/APKINDEX.tar.gz", keys: cgKeys, wantSigner: filepath.Base(cgKeys[0])},
		{name: "three signers, last trusted", index: "chainguard-signed-index/APKINDEX.tar.gz", keys: cgKeys[2:], wantSigner: filepath.Base(cgKeys[2])},
		{name: "three signers, none trusted", index: "chainguard-signed-index/APKINDEX.tar.gz", keys: []string{"rsa256-signed/keys/test-rsa256.rsa.pub"},
			wantErr: ErrUntrustedSigner, wantKeys: []string{filepath.Base(cgKeys[0]), filepath.Base(cgKeys[1]), filepath.Base(cgKeys[2])}},
		{name: "alpine rsa sha1, wrong key", index: "alpine-3.16-aarch64/APKINDEX.tar.gz", keys: []string{"alpine-3.16-aarch64/keys/alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub"},
			wantErr: ErrUntrustedSigner, wantKeys: []string{"alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := ReadIndex(openReal(t, tt.index), keyring(t, tt.keys...), tt.index)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var se *SignerError
				if !errors.As(err, &se) {
					t.Fatalf("err %v is not a *SignerError", err)
				}
				if !equalStrings(se.Keys, tt.wantKeys) {
					t.Fatalf("SignerError keys = %v, want %v", se.Keys, tt.wantKeys)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if idx.Signer != tt.wantSigner {
				t.Errorf("signer = %q, want %q", idx.Signer, tt.wantSigner)
			}
			if len(idx.Packages) == 0 {
				t.Error("no packages")
			}
		})
	}
}

func TestReadIndexWrongKeyMaterial(t *testing.T) {
	// The right name with another key's material: the signature must fail.
	other, err := os.ReadFile(filepath.Join(realData, "chainguard-signed-index/keys/chainguard-0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0.rsa.pub"))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeyring()
	if err := k.Add("test-rsa256.rsa.pub", other); err != nil {
		t.Fatal(err)
	}
	_, err = ReadIndex(openReal(t, "rsa256-signed/APKINDEX.tar.gz"), k, "rsa256")
	if !errors.Is(err, ErrSignature) {
		t.Fatalf("err = %v, want ErrSignature", err)
	}
}

func TestReadIndexTampered(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(realData, "rsa256-signed/APKINDEX.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	k := keyring(t, "rsa256-signed/keys/test-rsa256.rsa.pub")
	// Flip one byte of the gzip trailer (CRC) of the signed stream: gzip
	// notices; flip one in the compressed body: gzip or the signature does.
	for _, off := range []int{len(b) - 6, 700} {
		c := bytes.Clone(b)
		c[off] ^= 0x40
		if _, err := ReadIndex(bytes.NewReader(c), k, "tampered"); err == nil {
			t.Errorf("flipping byte %d: no error", off)
		}
	}
	// Trailing data after the signed stream is refused: the signature
	// covers every byte to the end of the file, checked before parsing.
	if _, err := ReadIndex(io.MultiReader(bytes.NewReader(b), bytes.NewReader([]byte("x"))), k, "trailing"); !errors.Is(err, ErrSignature) {
		t.Errorf("trailing data: err = %v, want ErrSignature", err)
	}
	// A size limit below the file size.
	if _, err := ReadIndex(bytes.NewReader(b), k, "big", WithMaxIndexSize(500)); !errors.Is(err, ErrSize) {
		t.Errorf("size limit: err = %v, want ErrSize", err)
	}
}

// alpineIndexText returns the APKINDEX text of the Alpine 3.16 index.
func alpineIndexText(t testing.TB) []byte {
	t.Helper()
	f := openReal(t, "alpine-3.16-aarch64/APKINDEX.tar.gz")
	zr, err := gzip.NewReader(f) // multistream: signature, then index
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
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

func TestParseAlpineIndex(t *testing.T) {
	text := alpineIndexText(t)
	pkgs, err := ParseIndex(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != bytes.Count(text, []byte("\nP:"))+boolInt(bytes.HasPrefix(text, []byte("P:"))) {
		t.Fatalf("parsed %d packages, the text has %d P: lines", len(pkgs), bytes.Count(text, []byte("\nP:")))
	}
	var found *Package
	for _, p := range pkgs {
		if p.Name == "alpine-baselayout" {
			found = p
		}
	}
	if found == nil || found.Version != "3.2.0-r23" || found.Origin != "alpine-baselayout" || found.Checksum == "" || len(found.Depends) == 0 {
		t.Fatalf("alpine-baselayout = %+v", found)
	}
	// Writing the parsed index gives back the original text, byte for byte.
	var out bytes.Buffer
	if err := WriteIndex(&out, pkgs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), text) {
		i := 0
		for i < len(text) && i < out.Len() && text[i] == out.Bytes()[i] {
			i++
		}
		t.Fatalf("WriteIndex differs from the original at byte %d: %q vs %q", i, excerpt(out.Bytes(), i), excerpt(text, i))
	}
}

func excerpt(b []byte, i int) string {
	lo, hi := max(0, i-40), min(len(b), i+40)
	return string(b[lo:hi])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadRealPackages(t *testing.T) {
	// The control stream of the aarch64 package is bytes 666..2229 of the
	// file; its SHA-1, computed independently with Python's hashlib
	// (base64.b64encode(sha1(d[666:2229]).digest())), is:
	const baselayoutQ1 = "Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc="
	t.Run("alpine checksum matches, signer untrusted", func(t *testing.T) {
		_, err := ReadPackage(openReal(t, "alpine-3.16-aarch64/alpine-baselayout-3.2.0-r23.apk"), NewKeyring(), "alpine-baselayout", nil,
			WithExpected(baselayoutQ1, 0))
		var se *SignerError
		if !errors.As(err, &se) || len(se.Keys) != 1 || se.Keys[0] != "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub" {
			t.Fatalf("err = %v, want a SignerError naming the 616ae350 key", err)
		}
	})
	t.Run("checksum mismatch", func(t *testing.T) {
		_, err := ReadPackage(openReal(t, "alpine-3.16-aarch64/alpine-baselayout-3.2.0-r23.apk"), NewKeyring(), "alpine-baselayout", nil,
			WithExpected("Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0))
		var ce *ChecksumError
		if !errors.Is(err, ErrChecksum) || !errors.As(err, &ce) || ce.Got != baselayoutQ1 {
			t.Fatalf("err = %v, want ChecksumError got %s", err, baselayoutQ1)
		}
	})
	t.Run("wolfi signed by melange", func(t *testing.T) {
		_, err := ReadPackage(openReal(t, "wolfi/hello-wolfi-2.12.1-r0.apk"), NewKeyring(), "hello-wolfi", nil)
		var se *SignerError
		if !errors.As(err, &se) || se.Keys[0] != "melange.rsa.pub" {
			t.Fatalf("err = %v, want SignerError naming melange.rsa.pub", err)
		}
	})
	t.Run("unsigned refused", func(t *testing.T) {
		_, err := ReadPackage(openReal(t, "misc/replaces-0.0.1-r0.apk"), NewKeyring(), "replaces", nil)
		if !errors.Is(err, ErrUnsigned) {
			t.Fatalf("err = %v, want ErrUnsigned", err)
		}
	})
	t.Run("unsigned allowed, datahash verified", func(t *testing.T) {
		var names []string
		pf, err := ReadPackage(openReal(t, "misc/replaces-0.0.1-r0.apk"), NewKeyring(), "replaces", func(h *tar.Header, r io.Reader) error {
			names = append(names, h.Name)
			_, err := io.Copy(io.Discard, r)
			return err
		}, WithUnsignedPackageUnsafe())
		if err != nil {
			t.Fatal(err)
		}
		if pf.Info.Name != "replaces" || !equalStrings(pf.Info.Replaces, []string{"foo", "bar"}) {
			t.Errorf("info = %+v", pf.Info)
		}
		if pf.DataHash != "71b14cc95cf71f4f6c1666cb1699b3bc4f52d17f5575c893324c8f62bb19d9b3" {
			t.Errorf("datahash = %s", pf.DataHash)
		}
		if len(names) != 6 || names[0] != "hello" {
			t.Errorf("entries = %v", names)
		}
		st, _ := os.Stat(filepath.Join(realData, "misc/replaces-0.0.1-r0.apk"))
		if pf.Info.Size != st.Size() {
			t.Errorf("size = %d, want %d", pf.Info.Size, st.Size())
		}
	})
}

func TestCollisionDetection(t *testing.T) {
	b, err := os.ReadFile("testdata/sha-mbles-1.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := sha1cd.New().(sha1cd.CollisionResistantHash)
	sr := newSegmentReader(bytes.NewReader(b), 0)
	sr.hashWith(h)
	if _, err := io.Copy(io.Discard, sr); err != nil {
		t.Fatal(err)
	}
	sr.flush()
	if _, col := h.CollisionResistantSum(nil); !col {
		t.Fatal("collision not detected in the bytes the segment reader hashed")
	}
}

// signatureStreamOf returns the signature stream of a signed index file
// (its first gzip stream).
func signatureStreamOf(t *testing.T, b []byte) []byte {
	t.Helper()
	sr := newSegmentReader(bytes.NewReader(b), 0)
	zr, err := sr.nextStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		t.Fatal(err)
	}
	return b[:sr.n]
}

// TestReadIndexVerifiesBeforeParsing: an index stream that does not match
// its signature is refused as such before a byte of it is decompressed or
// parsed. On the main of issue 17 these gave a gzip or parse error (the
// stream was decompressed and parsed first: a 2 MB index with a bogus
// signature drove memory to 3.67 GB before "bad signature").
func TestReadIndexVerifiesBeforeParsing(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(realData, "rsa256-signed/APKINDEX.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	k := keyring(t, "rsa256-signed/keys/test-rsa256.rsa.pub")
	sig := signatureStreamOf(t, b)
	var malformed bytes.Buffer
	zw := gzip.NewWriter(&malformed)
	tw := tar.NewWriter(zw)
	text := []byte("P:a\nV:1\nS:not-a-number\n")
	tw.WriteHeader(&tar.Header{Name: "APKINDEX", Mode: 0o644, Size: int64(len(text))})
	tw.Write(text)
	tw.Close()
	zw.Close()
	var bomb bytes.Buffer // 64 MiB of tar headers' worth of zeros
	zw = gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 64<<20))
	zw.Close()
	for _, tc := range []struct {
		name   string
		stream []byte
	}{
		{"malformed text", malformed.Bytes()},
		{"not gzip", []byte("this is not a gzip stream at all")},
		{"zeros", bomb.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := append(bytes.Clone(sig), tc.stream...)
			for _, r := range []io.Reader{bytes.NewReader(file), io.MultiReader(bytes.NewReader(file))} { // seekable, and not
				_, err := ReadIndex(r, k, tc.name)
				if !errors.Is(err, ErrSignature) {
					t.Fatalf("%T: err = %v, want ErrSignature (verified before parsing)", r, err)
				}
			}
			// Without a trusted key: the signer is named, nothing parsed.
			if _, err := ReadIndex(bytes.NewReader(file), NewKeyring(), tc.name); !errors.Is(err, ErrUntrustedSigner) {
				t.Fatalf("empty keyring: err = %v, want ErrUntrustedSigner", err)
			}
		})
	}
	// The real index still reads through both paths, with the file's digest.
	for _, r := range []io.Reader{bytes.NewReader(b), io.MultiReader(bytes.NewReader(b))} {
		idx, sum, err := readIndex(r, k, "real")
		if err != nil || len(idx.Packages) == 0 || idx.Signer != "test-rsa256.rsa.pub" {
			t.Fatalf("%T: %v, %+v", r, err, idx)
		}
		if want := sha256.Sum256(b); !bytes.Equal(sum, want[:]) {
			t.Errorf("%T: digest %x, want %x", r, sum, want)
		}
	}
}

// TestReadIndexUnsignedRefusedUnparsed: an index without a signature
// stream is refused before its text is parsed.
func TestReadIndexUnsignedRefusedUnparsed(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	text := []byte("P:a\nV:1\nS:not-a-number\n")
	tw.WriteHeader(&tar.Header{Name: "APKINDEX", Mode: 0o644, Size: int64(len(text))})
	tw.Write(text)
	tw.Close()
	zw.Close()
	if _, err := ReadIndex(bytes.NewReader(b.Bytes()), NewKeyring(), "unsigned"); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("err = %v, want ErrUnsigned", err)
	}
	if _, err := ReadIndex(bytes.NewReader(b.Bytes()), NewKeyring(), "unsigned", WithUnsignedIndexUnsafe()); !errors.Is(err, ErrFormat) {
		t.Fatalf("allowed unsigned: err = %v, want the parse error", err)
	}
}
