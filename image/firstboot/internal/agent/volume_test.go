package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// seedTree writes the files of a NoCloud seed and a config drive into a
// directory.
func seedTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, dir, name, data)
	}
	return dir
}

// makeISO runs genisoimage, as cloud-localds does, over dir.
func makeISO(t *testing.T, label, dir string, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "v.iso")
	args := append([]string{"-quiet", "-output", out, "-volid", label}, flags...)
	testtool.Run(t, "genisoimage", append(args, dir)...)
	return out
}

// makeFAT runs mkfs.vfat and mtools' mmd/mcopy.
func makeFAT(t *testing.T, label string, bits int, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "v.img")
	kb := map[int]string{12: "1440", 16: "16384", 32: "40960"}[bits]
	testtool.Run(t, "mkfs.vfat", "-n", label, "-F", strconv.Itoa(bits), "-C", out, kb)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			testtool.Run(t, "mmd", "-i", out, "::/"+rel)
			return nil
		}
		testtool.Run(t, "mcopy", "-i", out, p, "::/"+rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func openFile(t *testing.T, p string) volume {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, _ := f.Stat()
	v, err := openVolume(f, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return v
}

// The readers get labels, names and bytes right on volumes the usual
// tools make: genisoimage with Joliet and/or Rock Ridge or neither
// (level-1 8.3 names and -l long names), and mkfs.vfat FAT12/16/32
// filled by mcopy, nested directories included (config drives).
func TestVolumesFromRealTools(t *testing.T) {
	testtool.Require(t, "genisoimage", "mkfs.vfat", "mcopy", "mmd")
	big := strings.Repeat("0123456789abcdef", 5000) // several clusters and sectors
	files := map[string]string{
		"meta-data":                       "instance-id: iid-1\nlocal-hostname: h\n",
		"user-data":                       "#cloud-config\n# " + big + "\n",
		"openstack/latest/meta_data.json": `{"uuid":"u"}`,
	}
	dir := seedTree(t, files)
	vols := map[string]string{
		"iso joliet+rockridge": makeISO(t, "cidata", dir, "-joliet", "-rock"),
		"iso rockridge":        makeISO(t, "cidata", dir, "-rock"),
		"iso joliet":           makeISO(t, "cidata", dir, "-joliet"),
		"iso plain -l":         makeISO(t, "cidata", dir, "-l"),
		"fat12":                makeFAT(t, "CIDATA", 12, dir),
		"fat16":                makeFAT(t, "cidata", 16, dir),
		"fat32":                makeFAT(t, "CIDATA", 32, dir),
	}
	for name, p := range vols {
		v := openFile(t, p)
		if !strings.EqualFold(v.label(), "cidata") {
			t.Errorf("%s: label %q", name, v.label())
		}
		for f, want := range files {
			got, err := v.readFile(f, 1<<20)
			if err != nil || string(got) != want {
				t.Errorf("%s: %s: %v, %d bytes, want %d", name, f, err, len(got), len(want))
			}
		}
		if _, err := v.readFile("vendor-data", 1<<20); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: absent file: %v", name, err)
		}
		if _, err := v.readFile("user-data", 100); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: bound: %v", name, err)
		}
		if _, err := v.readFile("../meta-data", 100); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: dot-dot path: %v", name, err)
		}
	}
	// Level-1 ISO 9660 (genisoimage's default): META_DAT.;1 is meta-data.
	v := openFile(t, makeISO(t, "cidata", seedTree(t, map[string]string{"meta-data": "instance-id: a\n", "user-data": "x"})))
	if got, err := v.readFile("meta-data", 100); err != nil || string(got) != "instance-id: a\n" {
		t.Errorf("level-1 iso: %q %v", got, err)
	}
}

// NoCloud finds the one CIDATA volume among other devices.
func TestNoCloudFindsVolume(t *testing.T) {
	testtool.Require(t, "genisoimage", "mkfs.vfat", "mcopy")
	seed := makeISO(t, "cidata", seedTree(t, map[string]string{
		"meta-data": "instance-id: iid-abc\nlocal-hostname: web-1.example.com\npublic-keys:\n  - " + keyEd25519 + "\n",
		"user-data": "#cloud-config\nssh_authorized_keys:\n  - " + keyRSA + "\nusers:\n  - default\n  - name: ops\n    ssh_authorized_keys: [\"" + keyECDSA + "\"]\n  - name: eve\n    ssh_authorized_keys: [\"" + keyECDSA + " eve\"]\n",
	}), "-joliet", "-rock")
	other := makeFAT(t, "OTHER", 12, seedTree(t, map[string]string{"meta-data": "instance-id: evil\n"}))
	junk := writeFile(t, t.TempDir(), "junk", strings.Repeat("x", 100000))
	empty := writeFile(t, t.TempDir(), "empty", "")
	md, err := NoCloud{Devices: FileDevices(junk, empty, other, seed), User: "ops"}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.InstanceID != "iid-abc" || md.Hostname != "web-1" || strings.Join(md.Keys, "\n") != strings.Join([]string{keyEd25519, keyRSA, keyECDSA}, "\n") {
		t.Errorf("got %+v", md)
	}
	// Two seeds: which one speaks for the machine would be a guess.
	second := makeFAT(t, "CIDATA", 12, seedTree(t, map[string]string{"meta-data": "instance-id: two\n"}))
	if _, err := (NoCloud{Devices: FileDevices(seed, second)}).Fetch(context.Background()); !errors.Is(err, ErrMalformed) {
		t.Errorf("two seeds: %v, want ErrMalformed", err)
	}
	// None: no metadata, after the wait.
	if _, err := (NoCloud{Devices: FileDevices(other, junk)}).Fetch(context.Background()); !errors.Is(err, ErrNoMetadata) {
		t.Errorf("no seed: %v, want ErrNoMetadata", err)
	}
	// A seed without meta-data is broken, not absent.
	nometa := makeFAT(t, "CIDATA", 12, seedTree(t, map[string]string{"user-data": "#cloud-config\n"}))
	if _, err := (NoCloud{Devices: FileDevices(nometa)}).Fetch(context.Background()); !errors.Is(err, ErrMalformed) {
		t.Errorf("no meta-data: %v, want ErrMalformed", err)
	}
}

// The config drive, as OpenStack and Nutanix AHV write it.
func TestConfigDrive(t *testing.T) {
	testtool.Require(t, "genisoimage")
	drive := makeISO(t, "config-2", seedTree(t, map[string]string{
		"openstack/latest/meta_data.json": `{"uuid":"83679162-1378-4288-a2d4-70e13ec132aa","hostname":"vm-1.novalocal","name":"vm-1",
"public_keys":{"b":"` + keyRSA + `","a":"` + keyEd25519 + `"},"keys":[{"name":"a","type":"ssh","data":"` + keyEd25519 + `"},{"type":"x509","data":"junk"}]}`,
		"openstack/latest/user_data": "#!/bin/sh\n",
	}), "-joliet", "-rock")
	md, err := ConfigDrive{Devices: FileDevices(drive)}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.InstanceID != "83679162-1378-4288-a2d4-70e13ec132aa" || md.Hostname != "vm-1" || strings.Join(md.Keys, "|") != keyEd25519+"|"+keyRSA || string(md.UserData) != "#!/bin/sh\n" {
		t.Errorf("got %+v", md)
	}
}

// Guestinfo through QEMU's fw_cfg sysfs tree (a directory standing in
// for /sys/firmware/qemu_fw_cfg/by_name), each encoding; and through a
// stand-in for vmware-rpctool that answers as open-vm-tools' does.
func TestGuestInfo(t *testing.T) {
	fw := t.TempDir()
	meta := "instance-id: vm-42\nlocal-hostname: esx-vm\npublic-keys: [\"" + keyEd25519 + "\"]\n"
	writeFile(t, fw, FwCfgPrefix+"guestinfo.metadata/raw", gzipBase64(t, meta))
	writeFile(t, fw, FwCfgPrefix+"guestinfo.metadata.encoding/raw", "gzip+base64")
	writeFile(t, fw, FwCfgPrefix+"guestinfo.userdata/raw", "I2Nsb3VkLWNvbmZpZwo=")
	writeFile(t, fw, FwCfgPrefix+"guestinfo.userdata.encoding/raw", "base64")
	md, err := GuestInfo{FwCfgDir: fw, RPCTool: "/nonexistent"}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.InstanceID != "vm-42" || md.Hostname != "esx-vm" || len(md.Keys) != 1 || string(md.UserData) != "#cloud-config\n" {
		t.Errorf("fw_cfg: got %+v", md)
	}

	tool := filepath.Join(t.TempDir(), "vmware-rpctool")
	script := "#!/bin/sh\ncase \"$1\" in\n" +
		"'info-get guestinfo.metadata') printf '%s\\n' '{\"instance-id\":\"vm-7\",\"local-hostname\":\"v7\"}';;\n" +
		"*) echo 'No value found' >&2; exit 1;;\nesac\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	md, err = GuestInfo{FwCfgDir: t.TempDir(), RPCTool: tool}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.InstanceID != "vm-7" || md.Hostname != "v7" || md.UserData != nil {
		t.Errorf("rpctool: got %+v", md)
	}
	if _, err := (GuestInfo{FwCfgDir: t.TempDir(), RPCTool: "/nonexistent"}).Fetch(context.Background()); !errors.Is(err, ErrNoMetadata) {
		t.Errorf("neither transport: %v", err)
	}
	writeFile(t, fw, FwCfgPrefix+"guestinfo.metadata.encoding/raw", "rot13")
	if _, err := (GuestInfo{FwCfgDir: fw}).Fetch(context.Background()); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad encoding: %v", err)
	}
}
