package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// fixtureCatalog writes builds 0..2 of one stream into a directory catalog.
func fixtureCatalog(t *testing.T) (string, []vm.Ref) {
	t.Helper()
	dir := t.TempDir()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var refs []vm.Ref
	for n := range 3 {
		e := catalogtest.NewEntry("base/aws/x86_64/stable", n*5, 4)
		if _, err := s.Put(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		r := e.Ref
		r.Digest = ""
		refs = append(refs, r)
	}
	return dir, refs
}

func TestCLICatalog(t *testing.T) {
	cat, refs := fixtureCatalog(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"catalog"}, 2, "subcommand"},
		{[]string{"catalog", "nope"}, 2, `unknown command "nope"`},
		{[]string{"catalog", "list"}, 2, "--catalog is required"},
		{[]string{"catalog", "list", "--catalog", cat, "--fips", "maybe"}, 2, "--fips"},
		{[]string{"catalog", "list", "--catalog", cat, "--variant", "nope"}, 2, "variant"},
		{[]string{"catalog", "list", "--catalog", cat}, 0, refs[2].Version.String()},
		{[]string{"catalog", "list", "--catalog", cat, "--until", refs[1].Version.String()}, 0, refs[1].Version.String()},
		{[]string{"catalog", "latest", "--catalog", cat, "--variant", "base", "--delta"}, 0, "upgraded"},
		{[]string{"catalog", "latest", "--catalog", cat, "--platform", "gcp"}, 1, "not found"},
		{[]string{"catalog", "diff", "--catalog", cat, refs[0].String(), refs[2].String()}, 0, "kernel"},
		{[]string{"catalog", "diff", "--catalog", cat, refs[0].String()}, 2, "two refs"},
		{[]string{"catalog", "diff", "--catalog", cat, refs[0].String(), "base/aws/x86_64/stable:20300101.000000.0"}, 1, "not found"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q?\nstdout: %s\nstderr: %s", code, tc.code, tc.want, out, errs)
			}
		})
	}

	// list: one line per entry (plus the header); JSON round-trips.
	_, out, _ := runCLI(t, "catalog", "list", "--catalog", cat)
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 4 {
		t.Errorf("list: %d lines, want 4:\n%s", n, out)
	}
	_, out, _ = runCLI(t, "catalog", "list", "--catalog", cat, "--json")
	checkJSON(t, "catalog list", out, "labels")
	var es []catalog.Entry
	if err := json.Unmarshal([]byte(out), &es); err != nil || len(es) != 3 {
		t.Fatalf("list --json: %d entries, %v", len(es), err)
	}
	_, out, _ = runCLI(t, "catalog", "diff", "--json", "--catalog", cat, refs[0].String(), refs[2].String())
	checkJSON(t, "catalog diff", out, "labels")
	var d catalog.Delta
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Kernel == nil || d.Kernel.To != "6.12.1-r0" {
		t.Fatalf("diff --json: %+v, %v\n%s", d.Kernel, err, out)
	}

	// Deprecate the newest: latest falls back to the one before.
	code, out, errs := runCLI(t, "catalog", "deprecate", "--catalog", cat, refs[2].String(), "--replacement", refs[1].String(), "--reason", "CVE-2026-0001", "--time", "2026-12-01T00:00:00Z")
	if code != 0 || !strings.Contains(out, "CVE-2026-0001") {
		t.Fatalf("deprecate: exit %d\n%s%s", code, out, errs)
	}
	_, out, _ = runCLI(t, "catalog", "latest", "--catalog", cat, "--json")
	checkJSON(t, "catalog latest", out, "labels")
	var l struct {
		Entry catalog.Entry `json:"entry"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Entry.Ref.Version != refs[1].Version {
		t.Fatalf("latest after deprecate: %v, %v", l.Entry.Ref, err)
	}
	if _, out, _ = runCLI(t, "catalog", "list", "--catalog", cat, "--all"); !strings.Contains(out, "2026-12-01") {
		t.Errorf("list --all does not show the deprecation:\n%s", out)
	}
}

// buildDir writes what `hardvm build` writes (lock, disks, SBOM,
// provenance and bundles signed with a fresh key, key.pub) for stand-in
// disks: raw and qcow2, and the extra formats given (an OVA is a real
// one). Its provenance names a kernel, as a bootable build's does.
func buildDir(t *testing.T, extra ...vm.DiskFormat) string {
	return writeBuildDir(t, "6.12.8-0-virt", extra...)
}

// writeBuildDir is buildDir with the kernel the provenance names ("": none,
// the disks do not boot).
func writeBuildDir(t *testing.T, kernel string, extra ...vm.DiskFormat) string {
	t.Helper()
	dir := t.TempDir()
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: catalogtest.Base,
		Repositories: []vm.Repository{{URL: "https://packages.example.test/os", Keys: []string{"keys/wolfi-signing.rsa.pub"}, Family: vm.RepositoryFamily("wolfi")}}}
	lock := &artifact.Lock{Spec: spec, Arch: vm.X86_64, Family: "wolfi", World: []string{"busybox", "linux"},
		Repositories: []artifact.Repository{{URL: spec.Repositories[0].URL, Family: "wolfi", IndexDigest: digest.Digest(catalogtest.Digest("index")), Keys: []string{"wolfi-signing.rsa.pub"}}}}
	for _, p := range []struct{ name, ver string }{{"busybox", "1.37.0-r3"}, {"linux", "6.12.8-r0"}} {
		lock.Packages = append(lock.Packages, artifact.Package{Name: p.name, Version: p.ver, Arch: "x86_64", Checksum: "Q1" + strings.Repeat("A", 27) + "=",
			SHA256: digest.Digest(catalogtest.Digest(p.name)), Size: 1000, InstalledSize: 4096, Repository: spec.Repositories[0].URL, Origin: p.name, License: "GPL-2.0-only"})
	}
	ref := spec.Ref()
	var arts []artifact.Artifact
	for _, f := range append([]vm.DiskFormat{vm.FormatRaw, vm.FormatQCOW2}, extra...) {
		p := filepath.Join(dir, builddir.DiskFile(f))
		if f == vm.FormatOVA {
			writeTestOVA(t, p)
		} else {
			os.WriteFile(p, []byte(strings.Repeat("disk "+string(f)+"\n", 1000)), 0o644)
		}
		d, err := provenance.FileDigest(p)
		if err != nil {
			t.Fatal(err)
		}
		if f == vm.FormatRaw {
			ref.Digest = d
		}
		fi, _ := os.Stat(p)
		arts = append(arts, artifact.Artifact{Ref: ref, Format: f, Path: p, Size: fi.Size(), Digest: d})
	}
	k, err := provenance.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := provenance.NewSigner(provenance.WithKey(k))
	if err != nil {
		t.Fatal(err)
	}
	if err := builddir.Write(context.Background(), dir, builddir.Contents{Lock: lock, Artifacts: arts, Kernel: kernel}, s); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCLIPublish(t *testing.T) {
	build := buildDir(t)
	cat := t.TempDir()
	target := t.TempDir()
	code, out, errs := runCLI(t, "publish", build, "--catalog", cat)
	if code != 2 || !strings.Contains(errs, "--key is required") {
		t.Fatalf("publish without --key: exit %d\n%s%s", code, out, errs)
	}
	// A key that did not sign the build: refused, nothing registered.
	other, _ := provenance.GenerateKey()
	otherPub := filepath.Join(t.TempDir(), "other.pub")
	if err := provenance.WritePublicKeyFile(otherPub, other.Public()); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "publish", build, "--catalog", cat, "--key", otherPub, "--target", "local:"+target)
	if code != 1 || !strings.Contains(errs, "verification failed") {
		t.Fatalf("publish with the wrong key: exit %d\n%s%s", code, out, errs)
	}
	if bs, _ := os.ReadDir(filepath.Join(target, "blobs", "sha256")); len(bs) != 0 {
		t.Fatalf("%d blobs registered by a publish that failed verification", len(bs))
	}
	code, out, errs = runCLI(t, "publish", build, "--catalog", cat, "--key", filepath.Join(build, "key.pub"), "--target", "local:"+target)
	if code != 0 || !strings.Contains(out, "published base/qemu/x86_64/stable") || !strings.Contains(out, "location   qemu images/") {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errs)
	}
	// An edited lock.json (a later build, an upgrade the image does not
	// hold): refused, naming the field.
	for _, edit := range []struct{ old, new, field string }{
		{`"source_date_epoch"`, `"build": 77, "source_date_epoch"`, "spec.build"},
		{`"version": "1.37.0-r3"`, `"version": "9.9"`, "packages[busybox].version"},
	} {
		tampered := t.TempDir()
		copyFiles(t, build, tampered)
		b, _ := os.ReadFile(filepath.Join(tampered, "lock.json"))
		b = []byte(strings.Replace(string(b), edit.old, edit.new, 1))
		os.WriteFile(filepath.Join(tampered, "lock.json"), b, 0o644)
		code, out, errs = runCLI(t, "publish", tampered, "--catalog", t.TempDir(), "--key", filepath.Join(build, "key.pub"))
		if code != 1 || !strings.Contains(errs, edit.field) || !strings.Contains(errs, "nothing was published") {
			t.Errorf("publish with %s edited: exit %d\n%s%s", edit.field, code, out, errs)
		}
	}
	// Publishing again is idempotent.
	if code, out, errs = runCLI(t, "publish", "--json", build, "--catalog", cat, "--key", filepath.Join(build, "key.pub")); code != 0 {
		t.Fatalf("second publish: exit %d\n%s%s", code, out, errs)
	}
	checkJSON(t, "publish", out, "labels")
	var e catalog.Entry
	if err := json.Unmarshal([]byte(out), &e); err != nil || len(e.Locations) != 2 || len(e.Attachments) != 4 || e.Kernel != "6.12.8-r0" {
		t.Fatalf("second publish returned %+v, %v", e, err)
	}
}
