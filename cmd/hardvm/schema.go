package main

import (
	"context"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardvm/hardvm/vm"
)

func init() {
	addSpecCommand(newSpecSchemaCmd)
}

func newSpecSchemaCmd(e *env) *cobra.Command {
	return leaf(e, "spec schema", "print the JSON Schema of specs, for editors to complete and check them", "spec schema",
		"hardvm spec schema > hardvm-spec.schema.json  # then, in a spec: # yaml-language-server: $schema=hardvm-spec.schema.json", func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return usagef("spec schema takes no arguments")
				}
				return writeJSONOut(e.stdout, specSchema())
			}
		})
}

// schemaDescriptions describe the spec's fields, by YAML path.
var schemaDescriptions = map[string]string{
	"variant":             "what the image is: one of 'hardvm variants'",
	"platform":            "where it runs: one of 'hardvm platforms'",
	"arch":                "CPU architecture",
	"kernel":              "kernel track (default: lts with fips, else stable)",
	"fips":                "kernel-independent FIPS: a validated user-space module, proven from the image's files",
	"repositories":        "APK repositories the image is built from, all of one family",
	"repositories.url":    "file:// path, directory (relative to the spec file) or http(s) URL",
	"repositories.keys":   "public keys (files relative to the spec file, or URLs) that may sign the index",
	"repositories.family": "wolfi or chainguard (never both in one image)",
	"repositories.tag":    "pin name: world entries name@tag resolve only here",
	"packages":            "APK world entries added to the variant's",
	"formats":             "disk formats (default: the platform's first)",
	"source_date_epoch":   "the build's only clock, Unix seconds: file times, versions and signatures derive from it",
	"build":               "build number within the epoch's second",
	"cmdline":             "extra kernel arguments, one per entry",
	"size":                "virtual disk size: bytes, or a number with B, K, KiB, M, MiB, G, GiB, T or TiB (default 2GiB)",
	"users":               "accounts the image creates; they log in with SSH keys only",
	"users.ssh_keys":      "OpenSSH public key lines",
	"secure_boot":         "the db certificate and key that sign the boot loader (paths relative to the spec file)",
	"hostname":            "the machine's host name (default: from the platform's metadata)",
	"labels":              "free-form labels recorded in the catalog",
	"users.uid":           "default: 1000 and up, in order",
	"secure_boot.db_cert": "PEM certificate of the Secure Boot db key",
	"secure_boot.db_key":  "PEM private key of the Secure Boot db",
}

// specSchema is the JSON Schema (draft 2020-12) of vm.Spec as YAML: its
// fields, which are required (those the spec always writes), and the
// values the tables of package vm allow.
func specSchema() map[string]any {
	s := schemaOf(reflect.TypeFor[vm.Spec](), "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://github.com/hardvm/hardvm/spec.schema.json"
	s["title"] = "hardvm image spec"
	return s
}

var byteSizeType = reflect.TypeFor[vm.ByteSize]()

func schemaOf(t reflect.Type, path string) map[string]any {
	s := map[string]any{}
	if d := schemaDescriptions[path]; d != "" {
		s["description"] = d
	}
	if e := enumOf(t, path); e != nil {
		s["type"], s["enum"] = "string", e
		return s
	}
	switch {
	case t == byteSizeType:
		s["anyOf"] = []any{
			map[string]any{"type": "integer", "minimum": 1},
			map[string]any{"type": "string", "pattern": `^\s*[0-9]+\s*(B|K|KiB|M|MiB|G|GiB|T|TiB)?\s*$`},
		}
		return s
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), path)
	case reflect.String:
		s["type"] = "string"
	case reflect.Bool:
		s["type"] = "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		s["type"] = "integer"
		if path == "source_date_epoch" || path == "users.uid" {
			s["minimum"] = 1
		} else {
			s["minimum"] = 0
		}
	case reflect.Slice:
		s["type"] = "array"
		s["items"] = schemaOf(t.Elem(), path)
		delete(s["items"].(map[string]any), "description")
	case reflect.Map:
		s["type"] = "object"
		s["additionalProperties"] = schemaOf(t.Elem(), path+".*")
	case reflect.Struct:
		s["type"] = "object"
		s["additionalProperties"] = false
		props := map[string]any{}
		required := []string{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			props[name] = schemaOf(f.Type, p)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
		s["properties"] = props
		s["required"] = required
	}
	return s
}

// enumOf returns the values vm's tables allow for t (or for the field at
// path), or nil if any string goes.
func enumOf(t reflect.Type, path string) []string {
	if path == "variant" {
		return vm.VariantNames()
	}
	switch t {
	case reflect.TypeFor[vm.Cloud]():
		return strs(vm.Clouds())
	case reflect.TypeFor[vm.Arch]():
		return strs(vm.Arches())
	case reflect.TypeFor[vm.KernelTrack]():
		return strs(vm.KernelTracks())
	case reflect.TypeFor[vm.DiskFormat]():
		return strs(vm.DiskFormats())
	case reflect.TypeFor[vm.RepositoryFamily]():
		return strs(vm.RepositoryFamilies())
	}
	return nil
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
