package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

const testHash = "0123456789abcdef0123456789abcdef00112233445566778899aabbccddeeff"

func TestParseCmdline(t *testing.T) {
	cfg, err := parseCmdline("console=ttyS0 roothash=" + strings.ToUpper(testHash) + " hardvm.verity=check=lazy,data=AA init=/bin/init\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rootHash != testHash || cfg.fullCheck || cfg.dataUUID != "aa" || cfg.init != "/bin/init" {
		t.Fatalf("cfg = %+v", cfg)
	}
	cfg, err = parseCmdline("roothash=" + testHash)
	if err != nil || !cfg.fullCheck || cfg.init != "/sbin/init" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	for _, bad := range []string{
		"console=ttyS0",
		"roothash=xyz",
		"roothash=00ff",
		"roothash=" + testHash + " hardvm.verity=check=maybe",
		"roothash=" + testHash + " hardvm.verity=fallback=1",
		"roothash=" + testHash + " init=sbin/init",
	} {
		if _, err := parseCmdline(bad); err == nil {
			t.Errorf("parseCmdline(%q) accepted", bad)
		}
	}
	d, h := dpsUUIDs(testHash)
	if d != "01234567-89ab-cdef-0123-456789abcdef" || h != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Errorf("dpsUUIDs = %s %s", d, h)
	}
}

// parseGPT reads what sgdisk writes.
func TestParseGPTWithSgdisk(t *testing.T) {
	testtool.Require(t, "sgdisk")
	path := filepath.Join(t.TempDir(), "disk")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testtool.Run(t, "sgdisk",
		"-n", "1:2048:+1M", "-t", "1:ef00", "-c", "1:esp",
		"-n", "2:0:+2M", "-t", "2:"+dpsRootTypes["amd64"][0], "-u", "2:01234567-89ab-cdef-0123-456789abcdef", "-c", "2:root-x86-64",
		"-n", "3:0:+1M", "-t", "3:"+dpsRootTypes["amd64"][1], "-u", "3:00112233-4455-6677-8899-aabbccddeeff", "-c", "3:root-x86-64-verity",
		path)
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parts, err := parseGPT(f, 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("parts = %+v", parts)
	}
	want := []gptEntry{
		{1, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "", "esp"},
		{2, dpsRootTypes["amd64"][0], "01234567-89ab-cdef-0123-456789abcdef", "root-x86-64"},
		{3, dpsRootTypes["amd64"][1], "00112233-4455-6677-8899-aabbccddeeff", "root-x86-64-verity"},
	}
	for i, w := range want {
		p := parts[i]
		if p.index != w.index || p.typ != w.typ || p.name != w.name || (w.uuid != "" && p.uuid != w.uuid) {
			t.Errorf("part %d = %+v, want %+v", i, p, w)
		}
	}
	if _, err := parseGPT(strings.NewReader(strings.Repeat("x", 4096)), 512); err == nil {
		t.Error("parseGPT accepted a disk without GPT")
	}
}

// parseSuperblock reads what veritysetup format writes, and the table line
// carries veritysetup's parameters.
func TestParseSuperblockWithVeritysetup(t *testing.T) {
	testtool.Require(t, "veritysetup")
	dir := t.TempDir()
	data, hash := filepath.Join(dir, "data"), filepath.Join(dir, "hash")
	if err := os.WriteFile(data, []byte(strings.Repeat("hardvm!!", 64<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := testtool.Run(t, "veritysetup", "format", data, hash)
	rh := regexp.MustCompile(`Root hash:\s+([0-9a-f]+)`).FindStringSubmatch(out)
	salt := regexp.MustCompile(`Salt:\s+([0-9a-f]+)`).FindStringSubmatch(out)
	if rh == nil || salt == nil {
		t.Fatalf("veritysetup output:\n%s", out)
	}
	b, err := os.ReadFile(hash)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := parseSuperblock(b[:512])
	if err != nil {
		t.Fatal(err)
	}
	want := "1 /dev/vda2 /dev/vda3 4096 4096 128 1 sha256 " + rh[1] + " " + salt[1]
	if got := verityTable("/dev/vda2", "/dev/vda3", sb, rh[1]); got != want {
		t.Errorf("table %q\n want %q", got, want)
	}
	bad := append([]byte(nil), b[:512]...)
	binary.LittleEndian.PutUint16(bad[80:], 300)
	if _, err := parseSuperblock(bad); err == nil {
		t.Error("oversized salt accepted")
	}
	if _, err := parseSuperblock(make([]byte, 512)); err == nil {
		t.Error("zero superblock accepted")
	}
}

// The ioctl structures have the kernel's layout (linux/dm-ioctl.h).
func TestDMIoctlLayout(t *testing.T) {
	if dmIoctlBase|dmTableLoad != 0xc138fd09 {
		t.Errorf("DM_TABLE_LOAD = %#x, want 0xc138fd09", dmIoctlBase|dmTableLoad)
	}
	spec := dmTarget(0, 2048, "verity", "1 a b")
	b := dmIoctl("root", "HARDVM-VERITY-root", dmReadonlyFlag, 1, spec)
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != 4 || int(le.Uint32(b[12:])) != len(b) || le.Uint32(b[16:]) != 312 || le.Uint32(b[20:]) != 1 || le.Uint32(b[28:]) != 1 {
		t.Errorf("header fields wrong: % x", b[:48])
	}
	if string(b[48:52]) != "root" || string(b[176:194]) != "HARDVM-VERITY-root" {
		t.Errorf("name/uuid misplaced")
	}
	if le.Uint64(b[312+8:]) != 2048 || string(b[312+24:312+30]) != "verity" || string(b[312+40:312+45]) != "1 a b" {
		t.Errorf("target spec misplaced: % x", b[312:])
	}
	if len(b)%8 != 0 {
		t.Errorf("size %d not 8-aligned", len(b))
	}
}
