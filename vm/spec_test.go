package vm

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSpecFiles(t *testing.T) {
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	invalid, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(valid) == 0 || len(invalid) == 0 {
		t.Fatal("no spec files in testdata")
	}
	for _, path := range valid {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := LoadSpec(path)
			if err != nil {
				t.Fatalf("valid spec rejected: %v", err)
			}
			// Round trip: marshal and parse again gives the same spec.
			b, err := MarshalSpec(s)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := ParseSpec(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("re-parse of marshalled spec: %v\n%s", err, b)
			}
			b2, _ := MarshalSpec(s2)
			if !bytes.Equal(b, b2) {
				t.Errorf("round trip differs:\n%s\n---\n%s", b, b2)
			}
		})
	}
	for _, path := range invalid {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := LoadSpec(path)
			if err == nil {
				t.Fatal("invalid spec accepted")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it)", rerr)
			}
			if got != string(want) {
				t.Errorf("error text changed:\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestSpecErrorsAreTyped(t *testing.T) {
	_, err := LoadSpec("testdata/invalid/mixed.yaml")
	if !errors.Is(err, ErrMixedRepositories) || !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("mixed repositories: want ErrMixedRepositories and ErrInvalidSpec, got %v", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "repositories[1].family" || fe.Line != 10 {
		t.Fatalf("want FieldError at repositories[1].family line 10, got %#v", fe)
	}

	_, err = LoadSpec("testdata/invalid/unknown-field.yaml")
	if !errors.As(err, &fe) || fe.Line != 4 || !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown field: want line 4 and ErrUnknown, got %v", err)
	}
	if !strings.Contains(err.Error(), `did you mean "repositories"`) {
		t.Errorf("unknown field: no suggestion in %q", err)
	}

	_, err = LoadSpec("testdata/invalid/many.yaml")
	n := len(errors.Unwrap(err).(interface{ Unwrap() []error }).Unwrap())
	if n < 12 {
		t.Errorf("many.yaml: want every problem reported at once, got %d:\n%v", n, err)
	}
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrUnknown) {
		t.Errorf("many.yaml: want ErrUnsupported and ErrUnknown in %v", err)
	}

	_, err = LoadSpec("testdata/invalid/fips-cmdline.yaml")
	if !errors.As(err, &fe) || fe.Field != "cmdline[0]" || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("fips=1 on the cmdline: got %v", err)
	}
}

func TestSpecDefaults(t *testing.T) {
	s, err := LoadSpec("testdata/valid/nginx-azure-fips.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.KernelTrack() != LTS {
		t.Errorf("FIPS spec without kernel: track %s, want lts", s.KernelTrack())
	}
	if got := s.DiskFormats(); len(got) != 1 || got[0] != FormatVHD {
		t.Errorf("azure default formats %v, want [vhd]", got)
	}
	if s.DiskSize()%MiB != 0 || s.DiskSize() != int64(DefaultSize) {
		t.Errorf("disk size %d", s.DiskSize())
	}
	for _, a := range s.KernelArgs() {
		if strings.HasPrefix(a, "fips") {
			t.Errorf("kernel args carry %q: FIPS must be kernel-independent", a)
		}
	}
	r := s.Ref()
	if r.String() != "nginx+fips/azure/x86_64/lts:20251123.000000.2" {
		t.Errorf("ref %s", r)
	}

	g := Spec{Variant: "base", Platform: GCP, Arch: X86_64, Size: 3*GiBSize + 1}
	if g.DiskSize() != 4<<30 {
		t.Errorf("gcp size %d not rounded up to whole GiB", g.DiskSize())
	}
}

const GiBSize ByteSize = 1 << 30

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"4GiB", 4 << 30, true}, {"512MiB", 512 << 20, true}, {"1T", 1 << 40, true},
		{"4096", 4096, true}, {"-1", 0, false}, {"1.5GiB", 0, false}, {"GiB", 0, false},
		{"99999999999999TiB", 0, false},
	} {
		got, err := ParseByteSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v", tc.in, got, err)
		}
		if tc.ok {
			back, err := ParseByteSize(got.String())
			if err != nil || back != got {
				t.Errorf("round trip %q -> %s -> %d %v", tc.in, got, back, err)
			}
		}
	}
}

func TestTablesConsistent(t *testing.T) {
	for _, v := range Variants() {
		if len(v.Platforms) == 0 {
			t.Errorf("variant %s offered nowhere", v.Name)
		}
		for _, c := range v.Platforms {
			if !c.Valid() {
				t.Errorf("variant %s names unknown platform %s", v.Name, c)
			}
		}
		if v.Family == Application && len(v.Units) == 0 {
			t.Errorf("application %s enables no systemd unit", v.Name)
		}
	}
	for _, name := range []string{"ecs", "eks"} {
		v, _ := LookupVariant(name)
		if len(v.Platforms) != 1 || v.Platforms[0] != AWS {
			t.Errorf("%s must exist only on AWS, is on %v", name, v.Platforms)
		}
	}
	for _, p := range Platforms() {
		if p.Firmware != UEFI || len(p.Formats) == 0 {
			t.Errorf("platform %s: firmware %s formats %v", p.Cloud, p.Firmware, p.Formats)
		}
	}
	az, _ := LookupPlatform(Azure)
	if az.CheckSize(3*MiB+1) == nil || az.CheckSize(3*MiB) != nil {
		t.Error("azure size rule: want multiples of 1 MiB")
	}
	for _, f := range Families() {
		b := BaselineFor(f)
		for _, a := range b.CmdlineArgs() {
			if strings.HasPrefix(a, "fips") {
				t.Errorf("baseline %s puts %s on the kernel command line", f, a)
			}
		}
		for _, s := range b.Sysctls {
			if s.Control.ID == "" || s.Control.Benchmark == "" {
				t.Errorf("baseline %s: sysctl %s names no control", f, s.Key)
			}
		}
	}
	if !Compatible(Wolfi, Alpine) || Compatible(Wolfi, Chainguard) || Compatible(Chainguard, Wolfi) {
		t.Error("Compatible")
	}
}

// TestValidateSourceDateEpochRange: a clock past 9999-12-31T23:59:59Z is
// refused by Validate, before any work: on the main of issue 17 it passed
// `spec validate` and failed at signing, after the disk was built (watched
// this fail there: no error).
func TestValidateSourceDateEpochRange(t *testing.T) {
	s, err := ParseSpec(strings.NewReader(validSpecYAML(t)))
	if err != nil {
		t.Fatal(err)
	}
	s.SourceDateEpoch = MaxSourceDateEpoch
	if err := s.Validate(); err != nil {
		t.Fatalf("9999-12-31T23:59:59Z: %v", err)
	}
	s.SourceDateEpoch = MaxSourceDateEpoch + 1
	err = s.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "source_date_epoch" || !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("year 10000: err = %v", err)
	}
}

func validSpecYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/valid/base-aws.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Issue 19, bug 6: relative paths in a spec file are the spec file's, not
// the working directory's; URLs and absolute paths are kept.
func TestLoadSpecResolvesPathsAgainstTheSpec(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "specs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := `variant: base
platform: qemu
arch: x86_64
repositories:
  - url: ./repo
    keys: [./repo/demo.rsa.pub, /etc/apk/keys/abs.rsa.pub]
    family: wolfi
  - url: https://packages.wolfi.dev/os
    keys: [https://packages.wolfi.dev/os/wolfi-signing.rsa.pub, keys/wolfi.rsa.pub]
    family: wolfi
secure_boot:
  db_cert: sb/db.crt
  db_key: /secure/db.key
source_date_epoch: 1763856000
`
	path := filepath.Join(dir, "base.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpec(path)
	if s == nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{s.Repositories[0].URL, filepath.Join(dir, "repo")},
		{s.Repositories[0].Keys[0], filepath.Join(dir, "repo/demo.rsa.pub")},
		{s.Repositories[0].Keys[1], "/etc/apk/keys/abs.rsa.pub"},
		{s.Repositories[1].URL, "https://packages.wolfi.dev/os"},
		{s.Repositories[1].Keys[0], "https://packages.wolfi.dev/os/wolfi-signing.rsa.pub"},
		{s.Repositories[1].Keys[1], filepath.Join(dir, "keys/wolfi.rsa.pub")},
		{s.SecureBoot.DBCert, filepath.Join(dir, "sb/db.crt")},
		{s.SecureBoot.DBKey, "/secure/db.key"},
	} {
		if c.got != c.want {
			t.Errorf("resolved %q, want %q", c.got, c.want)
		}
	}
}
