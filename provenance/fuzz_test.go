package provenance

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image/apk/apkversion"
	"github.com/hardvm/hardvm/vm"
)

// The parsers of untrusted input never panic and either fail with a
// document error or return a document that re-encodes.

// bundleSeeds are small bundles for FuzzParseBundle, written out rather
// than signed at start: a real signed bundle is 4.5 KB of mostly base64
// payload the parser never looks into, which made the fuzzer spend its
// time mutating and minimizing payload bytes (4,400 executions in 60 s).
// The first seed parses (TestBundleSeeds); the others take the paths a
// hostile bundle takes.
var bundleSeeds = []string{
	// A key-signed v0.3 bundle as Signer.Sign writes it, with an empty
	// statement for payload.
	`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"r2pHLqm8"}},` +
		`"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"MEUCIQ=="}]}}`,
	// With a transparency log entry and a timestamp.
	`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"aA=="},` +
		`"tlogEntries":[{"logIndex":"1","logId":{"keyId":"aA=="},"kindVersion":{"kind":"dsse","version":"0.0.1"},"integratedTime":"1",` +
		`"inclusionPromise":{"signedEntryTimestamp":"aA=="},"canonicalizedBody":"eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiZHNzZSIsInNwZWMiOnsiZW52ZWxvcGVIYXNoIjp7ImFsZ29yaXRobSI6InNoYTI1NiIsInZhbHVlIjoiMDAifSwicGF5bG9hZEhhc2giOnsiYWxnb3JpdGhtIjoic2hhMjU2IiwidmFsdWUiOiIwMCJ9LCJzaWduYXR1cmVzIjpbeyJzaWduYXR1cmUiOiJhQT09IiwidmVyaWZpZXIiOiJhQT09In1dfX0="}],` +
		`"timestampVerificationData":{"rfc3161Timestamps":[{"signedTimestamp":"aA=="}]}},` +
		`"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"aA==","keyid":""}]}}`,
	// A certificate instead of a key (v0.3 form) and an older media type.
	`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"MAA="}},` +
		`"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"aA=="}]}}`,
	`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2","verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":"MAA="}]}},` +
		`"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"aA=="}]}}`,
	// A message signature, not a DSSE envelope: refused.
	`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"aA=="}},` +
		`"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"aA=="},"signature":"aA=="}}`,
	`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`,
	`{}`,
}

func FuzzParseBundle(f *testing.F) {
	for _, s := range bundleSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := ParseBundle(b)
		if err == nil {
			if _, err := MarshalBundle(out); err != nil {
				t.Fatalf("parsed bundle does not re-encode: %v", err)
			}
		}
	})
}

// The first bundle seed is a bundle ParseBundle accepts, so the fuzzer
// starts on the success path; so does a real signed bundle.
func TestBundleSeeds(t *testing.T) {
	if _, err := ParseBundle([]byte(bundleSeeds[0])); err != nil {
		t.Fatalf("seed 0: %v", err)
	}
	if _, err := ParseBundle(mustMarshal(t, signBuild(t, testLock(vm.Wolfi, 0)).provenance)); err != nil {
		t.Fatalf("signed bundle: %v", err)
	}
	for i, s := range bundleSeeds[1:] {
		_, err := ParseBundle([]byte(s))
		t.Logf("seed %d: %v", i+1, err)
	}
}

func FuzzParseStatement(f *testing.F) {
	lock := testLock(vm.Wolfi, 1)
	st, err := SLSA(lock, testArtifacts(f, f.TempDir(), lock, vm.FormatRaw))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := MarshalStatement(st)
	f.Add(good)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00"}}],"predicateType":"x","predicate":{"a":[1,{"b":null}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStatement(b)
		if err != nil {
			return
		}
		if _, err := MarshalStatement(st); err != nil {
			t.Fatalf("parsed statement does not re-encode: %v", err)
		}
		BuilderID(st)
		Subjects(st)
		ResolvedPackages(st)
	})
}

// FuzzParseSBOM: a document ParseSBOM accepts re-encodes, the encoding
// parses again to the same document, and encoding is then a fixed point
// (parse → print → parse → print gives the same bytes twice).
func FuzzParseSBOM(f *testing.F) {
	lock := testLock(vm.Chainguard, 1)
	doc, err := SBOM(lock, testArtifacts(f, f.TempDir(), lock, vm.FormatRaw))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := MarshalSBOM(doc)
	f.Add(good)
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[null],"relationships":[{}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-X"],"packages":[{"SPDXID":"SPDXRef-X","hasFiles":["SPDXRef-F"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ParseSBOM(bytes.NewReader(b))
		if err != nil {
			return
		}
		first, err := MarshalSBOM(doc)
		if err != nil {
			t.Fatalf("parsed SBOM does not re-encode: %v", err)
		}
		again, err := ParseSBOM(bytes.NewReader(first))
		if err != nil {
			t.Fatalf("the re-encoded SBOM does not parse: %v\n%s", err, first)
		}
		if !reflect.DeepEqual(doc, again) {
			t.Fatalf("parse → print → parse changes the document:\n%s", first)
		}
		second, err := MarshalSBOM(again)
		if err != nil {
			t.Fatalf("the re-parsed SBOM does not re-encode: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("printing is not a fixed point: %s", diffLine(first, second))
		}
	})
}

// FuzzParsePurl: whatever ParsePurl accepts, Purl prints, and that purl
// parses back to the same reference and prints the same again.
func FuzzParsePurl(f *testing.F) {
	f.Add("pkg:apk/wolfi/libstdc%2B%2B@15.2.0-r1?arch=x86_64")
	f.Add("pkg:apk/x/y@%zz")
	f.Add("pkg:apk/chainguard/a%2Fb%40c@1%3F2?arch=aarch64&arch=x86_64")
	f.Add("pkg:apk//n@v?arch=")
	f.Add("pkg:apk/w/n@v?arch=a+b%20c")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePurl(s)
		if err != nil {
			return
		}
		printed := Purl(r.Family, artifact.Package{Name: r.Name, Version: r.Version, Arch: r.Arch})
		again, err := ParsePurl(printed)
		if err != nil {
			t.Fatalf("%q parses to %+v, printed as %q, which does not parse: %v", s, r, printed, err)
		}
		if again != r {
			t.Fatalf("%q parses to %+v, printed as %q, which parses to %+v", s, r, printed, again)
		}
		if p2 := Purl(again.Family, artifact.Package{Name: again.Name, Version: again.Version, Arch: again.Arch}); p2 != printed {
			t.Fatalf("printing is not a fixed point: %q, then %q", printed, p2)
		}
	})
}

// FuzzDenyConstraint: any denial constraint parses or fails cleanly, and
// "!=V" denies exactly what "=V" lets through.
func FuzzDenyConstraint(f *testing.F) {
	f.Add("<1.2.3_rc1-r0", "1.2.3-r0")
	f.Add("!= 10.0_p1-r2", "10.0a")
	f.Add("~3.6", "3.6.9")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, s, v string) {
		c, err := parseConstraint(s)
		if err != nil {
			return
		}
		got := c.matches(v)
		if !apkversion.Valid(v) && !got {
			t.Fatalf("%q does not deny the odd version %q", s, v)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s), "!="); ok && apkversion.Valid(v) {
			eq, err := parseConstraint("=" + rest)
			if err != nil || eq.matches(v) == got {
				t.Fatalf("%q and =%s agree on %q (%v)", s, rest, v, err)
			}
		}
	})
}
