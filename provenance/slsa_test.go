package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

func TestSLSA(t *testing.T) {
	lock := testLock(vm.Wolfi, 4)
	arts := testArtifacts(t, t.TempDir(), lock, vm.FormatRaw, vm.FormatQCOW2, vm.FormatVHD, vm.FormatVMDK, vm.FormatGCE, vm.FormatOVA)
	st, err := SLSA(lock, arts, WithBuilderID("https://ci.example.test/builder"), WithInvocationID("https://ci.example.test/run/42"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	// Decode with the in-toto types themselves and validate both layers.
	var back intoto.Statement
	if err := protojson.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	if back.GetPredicateType() != "https://slsa.dev/provenance/v1" {
		t.Errorf("predicate type %q", back.GetPredicateType())
	}
	predJSON, _ := protojson.Marshal(back.GetPredicate())
	var pred slsa.Provenance
	if err := protojson.Unmarshal(predJSON, &pred); err != nil {
		t.Fatalf("predicate is not SLSA v1 provenance: %v", err)
	}
	if err := pred.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(back.GetSubject()) != len(arts) {
		t.Fatalf("%d subjects, want %d", len(back.GetSubject()), len(arts))
	}
	for i, s := range back.GetSubject() {
		if "sha256:"+s.GetDigest()["sha256"] != string(arts[i].Digest) || s.GetName() != arts[i].Name() {
			t.Errorf("subject %d = %s %v, want %s %s", i, s.GetName(), s.GetDigest(), arts[i].Name(), arts[i].Digest)
		}
	}
	deps := pred.GetBuildDefinition().GetResolvedDependencies()
	if len(deps) != len(lock.Packages)+len(lock.Repositories) {
		t.Errorf("%d resolved dependencies, want %d packages + %d indexes", len(deps), len(lock.Packages), len(lock.Repositories))
	}
	if deps[0].GetDigest()["sha256"] != strings.TrimPrefix(string(lock.Repositories[0].IndexDigest), "sha256:") ||
		!strings.HasSuffix(deps[0].GetUri(), "/x86_64/APKINDEX.tar.gz") {
		t.Errorf("index dependency %v", deps[0])
	}
	if pred.GetBuildDefinition().GetBuildType() != BuildType {
		t.Errorf("build type %q", pred.GetBuildDefinition().GetBuildType())
	}
	spec := pred.GetBuildDefinition().GetExternalParameters().GetFields()["spec"].GetStructValue()
	if spec.GetFields()["variant"].GetStringValue() != "base" {
		t.Errorf("external parameters %v do not hold the spec", spec)
	}
	md := pred.GetRunDetails().GetMetadata()
	if md.GetInvocationId() != "https://ci.example.test/run/42" || md.GetStartedOn().AsTime().Unix() != testEpoch {
		t.Errorf("metadata %v", md)
	}
	if got := BuilderID(&back); got != "https://ci.example.test/builder" {
		t.Errorf("BuilderID = %q", got)
	}
	pkgs, err := ResolvedPackages(&back)
	if err != nil || len(pkgs) != len(lock.Packages) || pkgs[2].Name != "libstdc++" || pkgs[2].Family != vm.Wolfi {
		t.Errorf("ResolvedPackages = %v, %v", pkgs, err)
	}
	subs := Subjects(&back)
	if len(subs) != 6 || subs[1].Format != "qcow2" || subs[1].RootHash != arts[1].RootHash {
		t.Errorf("Subjects = %+v", subs)
	}
}

func TestSLSAReproducibleGolden(t *testing.T) {
	lock := testLock(vm.Chainguard, 0)
	arts := testArtifacts(t, t.TempDir(), lock, vm.FormatRaw, vm.FormatVHD)
	make := func() []byte {
		st, err := SLSA(lock, arts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalStatementIndent(st)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := make(), make()
	if !bytes.Equal(a, b) {
		t.Fatalf("provenance not reproducible: %s", diffLine(a, b))
	}
	if !json.Valid(a) {
		t.Fatal("invalid JSON")
	}
	golden(t, "provenance.intoto.json", a)
}

func TestSLSABadInput(t *testing.T) {
	lock := testLock(vm.Wolfi, 0)
	if _, err := SLSA(lock, nil); !errors.Is(err, ErrInput) {
		t.Errorf("no artifacts: %v", err)
	}
	if _, err := SLSA(lock, nil, WithBuilderID("not a uri")); !errors.Is(err, ErrOption) {
		t.Errorf("bad builder id: %v", err)
	}
}

func TestParseStatementRejects(t *testing.T) {
	lock := testLock(vm.Wolfi, 0)
	st, err := SLSA(lock, testArtifacts(t, t.TempDir(), lock, vm.FormatRaw))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := MarshalStatement(st)
	if _, err := ParseStatement(good); err != nil {
		t.Fatalf("good statement: %v", err)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"truncated", good[:len(good)-10]},
		{"empty", nil},
		{"wrong type", bytes.Replace(good, []byte("https://in-toto.io/Statement/v1"), []byte("https://in-toto.io/Statement/v9"), 1)},
		{"unknown field", bytes.Replace(good, []byte(`"_type"`), []byte(`"extra":1,"_type"`), 1)},
		{"no subject", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}`)},
		{"subject without digest", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"x","predicate":{"a":1}}`)},
		{"no predicate", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"x"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseStatement(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := ReadStatement(endless{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

// TestSLSAConfiguration: what the OS configuration applied (the lock's
// Configuration) is in the signed predicate's internal parameters; a lock
// without one states none.
func TestSLSAConfiguration(t *testing.T) {
	lock := testLock(vm.Wolfi, 2)
	arts := testArtifacts(t, t.TempDir(), lock, vm.FormatRaw)
	internal := func(lock *artifact.Lock) map[string]any {
		t.Helper()
		st, err := SLSA(lock, arts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalStatement(st)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Predicate struct {
				BuildDefinition struct {
					InternalParameters map[string]any `json:"internalParameters"`
				} `json:"buildDefinition"`
			} `json:"predicate"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Predicate.BuildDefinition.InternalParameters
	}
	if _, ok := internal(lock)["configuration"]; ok {
		t.Error("a lock without a configuration states one")
	}
	base := vm.BaselineFor(vm.Application)
	lock.Configuration = &vm.Configuration{Variant: "nginx", Family: vm.Application, Sysctls: base.Sysctls, Mounts: base.Mounts,
		Accounts: []vm.ConfiguredAccount{{Name: "nginx", UID: 201, GID: 201, Home: "/var/lib/nginx", Shell: "/usr/sbin/nologin"}},
		Fstab:    []string{"PARTLABEL=var /var ext4 nodev,nosuid,noexec,x-systemd.growfs 0 2"}}
	cfg, ok := internal(lock)["configuration"].(map[string]any)
	if !ok {
		t.Fatal("no configuration in internalParameters")
	}
	b, _ := json.Marshal(cfg)
	var back vm.Configuration
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Variant != "nginx" || len(back.Sysctls) != len(base.Sysctls) || back.Accounts[0].UID != 201 || back.Fstab[0] != lock.Configuration.Fstab[0] {
		t.Errorf("recorded configuration %+v", back)
	}
	// A verifier reads it back from the statement.
	st, err := SLSA(lock, arts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadBuildParameters(st)
	if err != nil || p.Configuration == nil || p.Configuration.Variant != "nginx" || len(p.Configuration.Sysctls) != len(base.Sysctls) {
		t.Errorf("ReadBuildParameters: %+v, %v", p, err)
	}
}
