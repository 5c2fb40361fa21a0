package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/provenance"
)

// copyFiles copies the regular files of src into dst, as copying a build
// directory to another machine does (the package cache stays behind).
func copyFiles(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
	}
}

// Build now, publish later, elsewhere: `hardvm build` on one machine
// (directory A), the directory copied to another (B) and A removed, then
// B published from the directory alone, with hardvm.Publish and with
// `hardvm publish`, verified with the key the publisher holds. A tampered
// copy is refused by both and registers nothing.
//
// The demo repository's kernel is a stand-in (hardvmtest): the image does
// not boot, so both publish it with their Unsafe switch, and refuse it
// without.
func TestBuildThenPublishElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tmp := t.TempDir()
	spec := writeDemoSpec(t, tmp)
	key, err := provenance.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(tmp, "key.pem"), filepath.Join(tmp, "publisher", "key.pub")
	os.MkdirAll(filepath.Dir(pubFile), 0o755)
	if err := provenance.WritePrivateKeyFile(keyFile, key); err != nil {
		t.Fatal(err)
	}
	if err := provenance.WritePublicKeyFile(pubFile, key.Public()); err != nil {
		t.Fatal(err)
	}

	// Machine one.
	a := filepath.Join(tmp, "machine-one", "out")
	if code, out, errs := runCLI(t, "--quiet", "build", "--spec", spec, "--out", a, "--key", keyFile, "--json"); code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, out, errs)
	}
	// Machine two: a copy of the directory, nothing else.
	b := filepath.Join(tmp, "machine-two", "out")
	copyFiles(t, a, b)
	if err := os.RemoveAll(filepath.Join(tmp, "machine-one")); err != nil {
		t.Fatal(err)
	}

	// With the SDK.
	trusted, err := provenance.ReadTrustedKeyFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	sdkStore, err := local.Open(filepath.Join(tmp, "sdk-catalog"))
	if err != nil {
		t.Fatal(err)
	}
	defer sdkStore.Close()
	sdkImages := filepath.Join(tmp, "sdk-images")
	reg, err := local.NewRegistrar(sdkImages)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hardvm.Publish(ctx, b, hardvm.WithStore(sdkStore), hardvm.WithRegistrars(reg), hardvm.WithTrustedMaterial(trusted)); !errors.Is(err, hardvm.ErrNotBootable) {
		t.Fatalf("SDK publish of an image that does not boot: %v", err)
	}
	viaSDK, err := hardvm.Publish(ctx, b, hardvm.WithStore(sdkStore), hardvm.WithRegistrars(reg), hardvm.WithTrustedMaterial(trusted),
		hardvm.PublishNotBootableUnsafe())
	if err != nil {
		t.Fatal(err)
	}

	// With the CLI, into another catalog: the same entry.
	cliCatalog, cliImages := filepath.Join(tmp, "cli-catalog"), filepath.Join(tmp, "cli-images")
	args := []string{"publish", b, "--catalog", cliCatalog, "--key", pubFile, "--target", "local:" + cliImages, "--json"}
	if code, out, errs := runCLI(t, args...); code != 1 || !strings.Contains(errs, "--unsafe-not-bootable") {
		t.Fatalf("CLI publish of an image that does not boot: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := runCLI(t, append(args, "--unsafe-not-bootable")...)
	if code != 0 {
		t.Fatalf("CLI publish: exit %d\n%s%s", code, out, errs)
	}
	var viaCLI catalog.Entry
	if err := json.Unmarshal([]byte(out), &viaCLI); err != nil {
		t.Fatal(err)
	}
	if viaCLI.Ref != viaSDK.Ref || viaCLI.Ref.Digest == "" || len(viaCLI.Artifacts) != 2 || len(viaCLI.Locations) != 2 || len(viaSDK.Locations) != 2 ||
		viaCLI.Kernel != viaSDK.Kernel || len(viaCLI.Packages) != len(viaSDK.Packages) || viaCLI.InstalledSize != viaSDK.InstalledSize {
		t.Fatalf("CLI published %+v\nSDK published %+v", viaCLI, viaSDK)
	}
	for _, images := range []string{sdkImages, cliImages} {
		if blobs, _ := os.ReadDir(filepath.Join(images, "blobs", "sha256")); len(blobs) != 2 {
			t.Errorf("%s: %d blobs, want the 2 disks", images, len(blobs))
		}
	}

	// A tampered copy: lock.json claims the next build; refused by both,
	// nothing registered.
	c := filepath.Join(tmp, "machine-three", "out")
	copyFiles(t, b, c)
	lock := filepath.Join(c, builddir.LockFile)
	lb, _ := os.ReadFile(lock)
	os.WriteFile(lock, []byte(strings.Replace(string(lb), `"source_date_epoch"`, `"build": 1, "source_date_epoch"`, 1)), 0o644)
	images := filepath.Join(tmp, "tampered-images")
	reg2, _ := local.NewRegistrar(images)
	if _, err := hardvm.Publish(ctx, c, hardvm.WithStore(sdkStore), hardvm.WithRegistrars(reg2), hardvm.WithTrustedMaterial(trusted),
		hardvm.PublishNotBootableUnsafe()); !errors.Is(err, provenance.ErrLock) {
		t.Errorf("SDK publish of a tampered copy: %v", err)
	}
	code, out, errs = runCLI(t, "publish", c, "--catalog", filepath.Join(tmp, "tampered-catalog"), "--key", pubFile, "--target", "local:"+images, "--unsafe-not-bootable")
	if code != 1 || !strings.Contains(errs, "spec.build") {
		t.Errorf("CLI publish of a tampered copy: exit %d\n%s%s", code, out, errs)
	}
	if blobs, _ := os.ReadDir(filepath.Join(images, "blobs", "sha256")); len(blobs) != 0 {
		t.Errorf("%d blobs registered from a tampered copy", len(blobs))
	}
}

// A build whose provenance names no kernel is published only with
// --unsafe-not-bootable.
func TestCLIPublishNotBootable(t *testing.T) {
	build := writeBuildDir(t, "")
	key := filepath.Join(build, "key.pub")
	code, out, errs := runCLI(t, "publish", build, "--catalog", t.TempDir(), "--key", key)
	if code != 1 || !strings.Contains(errs, "does not boot") || !strings.Contains(errs, "--unsafe-not-bootable") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runCLI(t, "publish", build, "--catalog", t.TempDir(), "--key", key, "--unsafe-not-bootable"); code != 0 {
		t.Fatalf("--unsafe-not-bootable: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "publish", t.TempDir(), "--catalog", t.TempDir(), "--key", key); code != 1 || !strings.Contains(errs, "not a build directory") {
		t.Fatalf("not a build directory: exit %d\n%s", code, errs)
	}
}
