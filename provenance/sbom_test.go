package provenance

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

func TestSBOM(t *testing.T) {
	for _, fam := range []vm.RepositoryFamily{vm.Wolfi, vm.Chainguard, vm.Alpine} {
		t.Run(string(fam), func(t *testing.T) {
			lock := withRelease(testLock(fam, 3), "3.22.2-r0")
			arts := testArtifacts(t, t.TempDir(), lock, vm.FormatRaw, vm.FormatQCOW2)
			doc, err := SBOM(lock, arts)
			if err != nil {
				t.Fatal(err)
			}
			b, err := MarshalSBOM(doc)
			if err != nil {
				t.Fatal(err)
			}
			// The oracle: tools-golang's own reader and validator, not ours.
			back, err := spdxjson.Read(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("tools-golang cannot read our SBOM: %v", err)
			}
			if err := spdxlib.ValidateDocument(back); err != nil {
				t.Fatalf("tools-golang rejects our SBOM: %v", err)
			}
			if back.SPDXVersion != "SPDX-2.3" {
				t.Errorf("version %q", back.SPDXVersion)
			}
			described, err := spdxlib.GetDescribedPackageIDs(back)
			if err != nil {
				t.Fatal(err)
			}
			if len(described) != 1+len(arts) {
				t.Errorf("document describes %d elements, want the image and %d artifacts", len(described), len(arts))
			}
			var apks, contained int
			purls := map[string]string{}
			osID := common.ElementID(OperatingSystemID + "-" + string(fam))
			var osPkg *spdx.Package
			for _, p := range back.Packages {
				for _, r := range p.PackageExternalReferences {
					if r.RefType == "purl" {
						apks++
						purls[p.PackageName] = r.Locator
					}
				}
				if p.PackageSPDXIdentifier == osID {
					osPkg = p
				}
			}
			// The distribution: a package named by the os-release ID,
			// versioned by VERSION_ID, purpose OPERATING-SYSTEM, that the
			// image contains and that contains every APK package.
			if osPkg == nil || osPkg.PackageName != string(fam) || osPkg.PackageVersion != "3.22.2" || osPkg.PrimaryPackagePurpose != "OPERATING-SYSTEM" {
				t.Fatalf("distribution package %+v, want %s 3.22.2 OPERATING-SYSTEM", osPkg, fam)
			}
			var imageHasOS bool
			for _, r := range back.Relationships {
				if r.Relationship != "CONTAINS" {
					continue
				}
				switch {
				case r.RefA.ElementRefID == osID:
					contained++
				case r.RefA.ElementRefID == ImageID && r.RefB.ElementRefID == osID:
					imageHasOS = true
				case r.RefA.ElementRefID == ImageID:
					t.Errorf("the image contains %s directly, not through the distribution", r.RefB.ElementRefID)
				}
			}
			if !imageHasOS {
				t.Error("the image does not contain the distribution")
			}
			if apks != len(lock.Packages) || contained != len(lock.Packages) {
				t.Errorf("%d APK packages with purls, %d contained by the distribution; the lock has %d", apks, contained, len(lock.Packages))
			}
			want := "pkg:apk/" + string(fam) + "/libstdc%2B%2B@15.2.0-r1?arch=x86_64&distro=" + string(fam) + "-3.22.2"
			if purls["libstdc++"] != want {
				t.Errorf("purl %q, want %q", purls["libstdc++"], want)
			}
			if back.CreationInfo.Created != "2026-11-18T11:06:40Z" {
				t.Errorf("created %q, want the epoch", back.CreationInfo.Created)
			}
			for _, p := range back.Packages {
				switch p.PackageName {
				case "busybox":
					if p.PackageOriginator == nil || p.PackageOriginator.Originator != "Jane Doe (jane@example.test)" {
						t.Errorf("busybox originator %+v", p.PackageOriginator)
					}
					if len(p.PackageChecksums) != 1 || p.PackageChecksums[0].Value != hexOf("busybox-1.37.0-r3.apk") {
						t.Errorf("busybox checksums %+v", p.PackageChecksums)
					}
					if !strings.HasSuffix(p.PackageDownloadLocation, "/x86_64/busybox-1.37.0-r3.apk") {
						t.Errorf("busybox download location %q", p.PackageDownloadLocation)
					}
				case "openssh-server":
					if p.PackageLicenseDeclared != "NOASSERTION" {
						t.Errorf("license %q from 'custom', want NOASSERTION", p.PackageLicenseDeclared)
					}
				case "disk.qcow2":
					if p.PackageChecksums[0].Value != strings.TrimPrefix(string(arts[1].Digest), "sha256:") {
						t.Errorf("qcow2 checksum %v", p.PackageChecksums)
					}
				}
			}
			if _, err := ParseSBOM(bytes.NewReader(b)); err != nil {
				t.Errorf("ParseSBOM: %v", err)
			}
		})
	}
}

func TestSBOMReproducible(t *testing.T) {
	lock := testLock(vm.Wolfi, 20)
	arts := testArtifacts(t, t.TempDir(), lock, vm.FormatRaw)
	sbom := func(l *artifact.Lock, a []artifact.Artifact) []byte {
		doc, err := SBOM(l, a, WithCreator("Organization: Example Inc."))
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalSBOM(doc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := sbom(lock, arts)
	// Same inputs from another directory: identical bytes.
	again := sbom(testLock(vm.Wolfi, 20), testArtifacts(t, t.TempDir(), lock, vm.FormatRaw))
	if !bytes.Equal(first, again) {
		t.Fatalf("SBOM not reproducible: %s", diffLine(first, again))
	}
	later := testLock(vm.Wolfi, 20)
	later.Spec.SourceDateEpoch++
	other := sbom(later, arts)
	if bytes.Equal(first, other) {
		t.Fatal("SBOMs of different epochs are identical")
	}
	d1, _ := ParseSBOM(bytes.NewReader(first))
	d2, _ := ParseSBOM(bytes.NewReader(other))
	if d1.DocumentNamespace == d2.DocumentNamespace {
		t.Errorf("namespace %q does not depend on the inputs", d1.DocumentNamespace)
	}
}

func TestSBOMGolden(t *testing.T) {
	lock := withRelease(testLock(vm.Chainguard, 0), "20230214-r9")
	arts := testArtifacts(t, t.TempDir(), lock, vm.FormatRaw, vm.FormatVHD)
	doc, err := SBOM(lock, arts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalSBOM(doc)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sbom.spdx.json", b)
}

func TestSBOMBadInput(t *testing.T) {
	good := func() (*artifact.Lock, []artifact.Artifact) {
		l := testLock(vm.Wolfi, 0)
		return l, []artifact.Artifact{{Path: "/x/disk.raw", Format: vm.FormatRaw, Digest: digest.Digest("sha256:" + hexOf("x"))}}
	}
	tests := []struct {
		name   string
		mutate func(*artifact.Lock, []artifact.Artifact) []artifact.Artifact
		want   string
	}{
		{"bad artifact digest", func(l *artifact.Lock, a []artifact.Artifact) []artifact.Artifact {
			a[0].Digest = "sha1:abc"
			return a
		}, "disk.raw"},
		{"duplicate artifact", func(l *artifact.Lock, a []artifact.Artifact) []artifact.Artifact { return append(a, a[0]) }, "two artifacts"},
		{"duplicate package", func(l *artifact.Lock, a []artifact.Artifact) []artifact.Artifact {
			l.Packages = append(l.Packages, l.Packages[0])
			return a
		}, "twice"},
		{"package without version", func(l *artifact.Lock, a []artifact.Artifact) []artifact.Artifact {
			l.Packages[1].Version = ""
			return a
		}, "ca-certificates-bundle"},
		{"bad package digest", func(l *artifact.Lock, a []artifact.Artifact) []artifact.Artifact {
			l.Packages[2].SHA256 = "sha256:XYZ"
			return a
		}, "libstdc++"},
		{"bad index digest", func(l *artifact.Lock, a []artifact.Artifact) []artifact.Artifact {
			l.Repositories[0].IndexDigest = "md5:00"
			return a
		}, "index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, a := good()
			a = tt.mutate(l, a)
			_, err := SBOM(l, a)
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInput naming %q", err, tt.want)
			}
			_, err = SLSA(l, a)
			if !errors.Is(err, ErrInput) {
				t.Fatalf("SLSA err = %v, want ErrInput", err)
			}
		})
	}
	if _, err := SBOM(nil, nil); !errors.Is(err, ErrInput) {
		t.Errorf("nil lock: %v", err)
	}
	if _, err := SBOM(testLock(vm.Wolfi, 0), nil, WithCreator("Robot")); !errors.Is(err, ErrOption) {
		t.Errorf("bad creator: %v", err)
	}
}

func TestParseSBOMRejects(t *testing.T) {
	lock := testLock(vm.Wolfi, 0)
	doc, err := SBOM(lock, testArtifacts(t, t.TempDir(), lock, vm.FormatRaw))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := MarshalSBOM(doc)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversized", nil, ErrTooLarge},
		{"truncated", good[:len(good)/2], ErrMalformed},
		{"not json", []byte("SPDXVersion: SPDX-2.3"), ErrMalformed},
		{"array", []byte("[]"), ErrMalformed},
		{"spdx 2.2", bytes.Replace(good, []byte(`"SPDX-2.3"`), []byte(`"SPDX-2.2"`), 1), ErrMalformed},
		{"dangling relationship", bytes.Replace(good, []byte(`"relatedSpdxElement": "SPDXRef-Image"`), []byte(`"relatedSpdxElement": "SPDXRef-Nothing"`), 1), ErrMalformed},
		{"no namespace", bytes.Replace(good, []byte(`"documentNamespace"`), []byte(`"documentNamespaceX"`), 1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(tt.in)
			if tt.in == nil {
				r = endless{}
			}
			_, err := ParseSBOM(r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var de *DocumentError
			if !errors.As(err, &de) || de.Kind != "sbom" {
				t.Errorf("err %v is not a *DocumentError of kind sbom", err)
			}
		})
	}
}

// endless is a reader of endless spaces: an oversized document that costs
// nothing to make.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], spaces[:])
	}
	return n, nil
}

var spaces = [64 << 10]byte{' ', ' '} // contents do not matter: zero bytes are as oversized
