package firstboot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// Test keys: real OpenSSH public keys (generated with ssh-keygen for these
// tests; the private halves were discarded).
const (
	testKeyEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdwR3aiO1H5FdHbV0znW2nucZmK+R8u1gpRiT04RLLL alice@example"
	testKeyECDSA   = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBItK4+pxJOAlDJ7Tyw92xB5w1v/qLBLcGhkRNb2gzD/DdTsf6NV4AXw0sPThULcHdvAnFmetP4neFOF8zJcrHe4= bob"
)

func writeSeed(t *testing.T, s Seed) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed.img")
	if err := WriteNoCloudSeedFile(context.Background(), p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// The seed is a FAT file system fsck.vfat accepts, blkid calls CIDATA,
// and mtools reads meta-data and user-data from; the agent's reader gets
// the same seed back.
func TestSeedRealTools(t *testing.T) {
	testtool.Require(t, "fsck.vfat", "mtype", "mdir", "blkid")
	s := Seed{Hostname: "web-1", AuthorizedKeys: []string{testKeyEd25519, "  " + testKeyECDSA + "\t"}, SourceDateEpoch: 1700000000}
	p := writeSeed(t, s)
	testtool.Run(t, "fsck.vfat", "-n", "-V", p)
	if got := strings.TrimSpace(testtool.Run(t, "blkid", "-o", "value", "-s", "LABEL", p)); got != "CIDATA" {
		t.Errorf("blkid label %q", got)
	}
	if got := strings.TrimSpace(testtool.Run(t, "blkid", "-o", "value", "-s", "TYPE", p)); got != "vfat" {
		t.Errorf("blkid type %q", got)
	}
	dir := testtool.Run(t, "mdir", "-i", p, "-b", "::/")
	for _, f := range []string{"meta-data", "user-data"} {
		if !strings.Contains(dir, "::/"+f) {
			t.Errorf("mdir: no %s in\n%s", f, dir)
		}
	}
	meta := testtool.Run(t, "mtype", "-i", p, "::/meta-data")
	for _, want := range []string{"instance-id: iid-hardvm-", "local-hostname: web-1", "public-keys:", testKeyEd25519, "ecdsa-sha2-nistp256 AAAAE2Vj"} {
		if !strings.Contains(meta, want) {
			t.Errorf("meta-data lacks %q:\n%s", want, meta)
		}
	}
	ud := testtool.Run(t, "mtype", "-i", p, "::/user-data")
	if !strings.HasPrefix(ud, "#cloud-config\n") || !strings.Contains(ud, "ssh_authorized_keys:") {
		t.Errorf("user-data:\n%s", ud)
	}
	got, err := ReadNoCloudSeedFile(p, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "web-1" || !strings.HasPrefix(got.InstanceID, "iid-hardvm-") || !slices.Equal(got.AuthorizedKeys, []string{testKeyEd25519, testKeyECDSA}) || string(got.UserData) != ud {
		t.Errorf("read back %+v", got)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != SeedSize {
		t.Errorf("seed is %d bytes, want %d", fi.Size(), SeedSize)
	}
}

// Same seed, same bytes; a different key, a different instance id.
func TestSeedReproducible(t *testing.T) {
	s := Seed{Hostname: "a", AuthorizedKeys: []string{testKeyEd25519}, UserData: []byte("#!/bin/sh\necho hi\n"), SourceDateEpoch: 1}
	a, b := writeSeed(t, s), writeSeed(t, s)
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if string(ba) != string(bb) {
		t.Error("two writes of one seed differ")
	}
	r1, _ := ReadNoCloudSeedFile(a, "")
	s.AuthorizedKeys = []string{testKeyECDSA}
	r2, _ := ReadNoCloudSeedFile(writeSeed(t, s), "")
	if r1.InstanceID == r2.InstanceID || string(r1.UserData) != "#!/bin/sh\necho hi\n" {
		t.Errorf("instance ids %q %q, user data %q", r1.InstanceID, r2.InstanceID, r1.UserData)
	}
}

func TestSeedInvalid(t *testing.T) {
	for name, s := range map[string]Seed{
		"key with newline": {AuthorizedKeys: []string{testKeyEd25519 + "\n" + testKeyECDSA}},
		"key options":      {AuthorizedKeys: []string{`command="/bin/sh" ` + testKeyEd25519}},
		"not a key":        {AuthorizedKeys: []string{"ssh-ed25519 AAAA"}},
		"host name":        {Hostname: "web_1"},
		"upper host":       {Hostname: "Web"},
		"instance id":      {InstanceID: "a\nb"},
		"user data":        {UserData: make([]byte, 2<<20)},
	} {
		err := WriteNoCloudSeedFile(context.Background(), filepath.Join(t.TempDir(), "s"), s)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
