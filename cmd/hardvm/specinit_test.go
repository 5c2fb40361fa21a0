package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/vm"
)

// spec init writes, for every variant on every platform it is offered on,
// a spec that vm.LoadSpec accepts, that the JSON Schema accepts, and that
// says what each field is.
func TestSpecInit(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, v := range vm.Variants() {
		for _, p := range v.Platforms {
			for _, fam := range []string{"wolfi", "chainguard"} {
				out := filepath.Join(dir, v.Name+"-"+string(p)+"-"+fam+".yaml")
				code, _, errs := runCLI(t, "spec", "init", v.Name, string(p), "--family", fam, "--source-date-epoch", "1763856000", "--out", out)
				if code != 0 {
					t.Fatalf("spec init %s %s: exit %d: %s", v.Name, p, code, errs)
				}
				s, err := vm.LoadSpec(out)
				if err != nil {
					t.Fatalf("spec init %s %s wrote an invalid spec: %v", v.Name, p, err)
				}
				if s.Variant != v.Name || s.Platform != p || s.SourceDateEpoch != 1763856000 || string(s.Repositories[0].Family) != fam {
					t.Errorf("spec init %s %s: %+v", v.Name, p, s)
				}
				files = append(files, out)
			}
		}
	}
	b, _ := os.ReadFile(files[0])
	for _, want := range []string{"# What the image is", "source_date_epoch: 1763856000", "hardvm spec validate"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("starter spec lacks %q:\n%s", want, b)
		}
	}
	checkSchema(t, files, nil)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"spec", "init", "ecs", "gcp"}, 2, "not offered on gcp"},
		{[]string{"spec", "init", "nope", "qemu"}, 2, "nope"},
		{[]string{"spec", "init", "base"}, 2, "want VARIANT and PLATFORM"},
		{[]string{"spec", "init", "base", "qemu", "--family", "alpine"}, 2, "--family"},
		{[]string{"spec", "init", "base", "aws", "--arch", "riscv64"}, 2, "--arch"},
		{[]string{"spec", "init", "base", "qemu", "--out", files[0]}, 1, "exists"},
	} {
		if code, out, errs := runCLI(t, tc.args...); code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: exit %d, want %d and %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errs)
		}
	}
}

// The JSON Schema of specs is a valid draft 2020-12 schema (checked by
// python3-jsonschema) that accepts the valid specs of vm/testdata and
// refuses unknown fields and values outside vm's tables.
func TestSpecSchema(t *testing.T) {
	valid, err := filepath.Glob("../../vm/testdata/valid/*.yaml")
	if err != nil || len(valid) == 0 {
		t.Fatalf("no valid specs: %v", err)
	}
	dir := t.TempDir()
	var invalid []string
	for name, body := range map[string]string{
		"unknown-field.yaml": "variant: base\nplatform: qemu\narch: x86_64\nrepositories: []\nsource_date_epoch: 1\nnope: 1\n",
		"bad-variant.yaml":   "variant: nope\nplatform: qemu\narch: x86_64\nrepositories: []\nsource_date_epoch: 1\n",
		"bad-format.yaml":    "variant: base\nplatform: qemu\narch: x86_64\nrepositories: []\nsource_date_epoch: 1\nformats: [iso]\n",
		"bad-size.yaml":      "variant: base\nplatform: qemu\narch: x86_64\nrepositories: []\nsource_date_epoch: 1\nsize: 4 parsecs\n",
		"no-epoch.yaml":      "variant: base\nplatform: qemu\narch: x86_64\nrepositories: []\n",
		"repo-no-keys.yaml":  "variant: base\nplatform: qemu\narch: x86_64\nrepositories: [{url: x, family: wolfi}]\nsource_date_epoch: 1\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		invalid = append(invalid, p)
	}
	checkSchema(t, valid, invalid)
}

// checkSchema validates the YAML files against 'hardvm spec schema' with
// python3-jsonschema: valid ones must pass, invalid ones must fail.
func checkSchema(t *testing.T, valid, invalid []string) {
	t.Helper()
	code, schema, errs := runCLI(t, "spec", "schema")
	if code != 0 {
		t.Fatalf("spec schema: exit %d: %s", code, errs)
	}
	sp := filepath.Join(t.TempDir(), "schema.json")
	if err := os.WriteFile(sp, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	const check = `
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bad = 0
for want, files in (("valid", sys.argv[2].split(",")), ("invalid", sys.argv[3].split(","))):
    for f in filter(None, files):
        errs = [e.message for e in v.iter_errors(yaml.safe_load(open(f)))]
        if (want == "valid") != (not errs):
            bad += 1
            print(f, "should be", want, errs)
sys.exit(1 if bad else 0)
`
	out, err := exec.Command("python3", "-c", check, sp, strings.Join(valid, ","), strings.Join(invalid, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("python3-jsonschema: %v\n%s", err, out)
	}
}
