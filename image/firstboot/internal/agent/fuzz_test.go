package agent

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Volume parsers on damaged volumes: never panic, never read beyond their
// bounds, errors typed. An input is a patch (bytes at an offset) over one
// of two real volumes, made by genisoimage and mkfs.vfat+mcopy, or (kind
// 2) a whole volume of its own: small inputs reach every header field of
// a real layout, and the fuzzer's minimizer stays fast.
func FuzzVolume(f *testing.F) {
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "meta-data"), []byte("instance-id: a\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "openstack/latest"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "openstack/latest/meta_data.json"), []byte("{}"), 0o644); err != nil {
		f.Fatal(err)
	}
	iso := filepath.Join(f.TempDir(), "s.iso")
	fat := filepath.Join(f.TempDir(), "s.img")
	for _, c := range [][]string{
		{"genisoimage", "-quiet", "-no-pad", "-output", iso, "-volid", "cidata", "-joliet", "-rock", dir},
		{"mkfs.vfat", "-n", "CIDATA", "-C", fat, "64"},
		{"mcopy", "-s", "-i", fat, filepath.Join(dir, "meta-data"), filepath.Join(dir, "openstack"), "::/"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			f.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	var bases [2][]byte
	for i, p := range []string{iso, fat} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		bases[i] = b
	}
	f.Add(uint8(0), uint32(0), []byte{})
	f.Add(uint8(1), uint32(0), []byte{})
	f.Add(uint8(0), uint32(16*2048+156), []byte{0x22, 0, 0x30, 0, 0, 0})
	f.Add(uint8(1), uint32(11), []byte{0, 4, 1})
	f.Add(uint8(2), uint32(0), []byte("CD001"))
	f.Fuzz(func(t *testing.T, kind uint8, off uint32, patch []byte) {
		var b []byte
		if k := kind % 3; k < 2 {
			b = bytes.Clone(bases[k])
			if o := int(off % uint32(len(b))); len(patch) > 0 {
				copy(b[o:], patch)
			}
		} else {
			b = patch
		}
		v, err := openVolume(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, errNotThisFS) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		_ = v.label()
		for _, p := range []string{"meta-data", "openstack/latest/meta_data.json"} {
			got, err := v.readFile(p, 4096)
			if err == nil && len(got) > 4096 {
				t.Fatalf("read %d bytes over the bound", len(got))
			}
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404 Not Found\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readResponse(bufio.NewReader(bytes.NewReader(b)), "GET", 64)
		if err == nil && len(r.Body) > 64 {
			t.Fatalf("body of %d bytes over the bound", len(r.Body))
		}
		if err != nil && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// The metadata documents: whatever they hold, the keys that come out are
// single valid lines, the host name a valid label.
func FuzzMetadataDocuments(f *testing.F) {
	f.Add([]byte("instance-id: a\nlocal-hostname: h\npublic-keys: [\""+keyEd25519+"\"]\n"), []byte("#cloud-config\nssh_authorized_keys: [\""+keyRSA+"\"]\n"))
	f.Add([]byte(`{"uuid":"u","public_keys":{"a":"`+keyECDSA+`"}}`), []byte{})
	f.Add([]byte("<GoalState><Incarnation>1</Incarnation></GoalState>"), []byte{})
	f.Fuzz(func(t *testing.T, meta, ud []byte) {
		check := func(md *Metadata, err error) {
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			for _, k := range md.Keys {
				if again, err := ParseKey(k); err != nil || again != k || bytes.ContainsAny([]byte(k), "\r\n") {
					t.Fatalf("key %q does not round-trip: %v", k, err)
				}
			}
			if md.Hostname != "" {
				if h, err := ShortHostname(md.Hostname); err != nil || h != md.Hostname {
					t.Fatalf("host name %q", md.Hostname)
				}
			}
		}
		check(parseNoCloud(meta, ud, "ops"))
		check(parseConfigDrive(meta, ud))
		if gs, err := ParseGoalState(meta); err == nil {
			if _, err := ParseGoalState(HealthReady(gs)); err == nil {
				t.Fatal("a Health document parsed as a goal state")
			}
		}
	})
}
