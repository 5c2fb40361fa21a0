// Command quickstart shows hardvm end to end, offline, with embedded
// defaults: it loads an example spec, validates it, shows the rules of the
// variant and platform it targets, and plans the replacement of a small
// fleet with the image the spec names.
//
//	go run ./examples/quickstart [-out DIR]
//
// It prints only the steps it did.
package main

import (
	"bytes"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

//go:embed spec.yaml
var specYAML []byte

func main() {
	out := flag.String("out", "quickstart-out", "directory the quickstart writes into")
	flag.Parse()
	if err := run(os.Stdout, *out); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	step := func(format string, args ...any) { fmt.Fprintf(w, "==> "+format+"\n", args...) }

	step("spec: embedded spec.yaml")
	spec, err := vm.ParseSpec(bytes.NewReader(specYAML))
	if err != nil {
		return fmt.Errorf("embedded spec: %w", err)
	}
	variant, _ := vm.LookupVariant(spec.Variant)
	platform, _ := vm.LookupPlatform(spec.Platform)
	fmt.Fprintf(w, "    image      %s\n", spec.Ref())
	fmt.Fprintf(w, "    variant    %s (%s): %s; on %s\n", variant.Name, variant.Family, variant.Description, joinS(variant.Platforms))
	fmt.Fprintf(w, "    platform   %s, firmware %s, formats %s, size %s (aligned to %s)\n",
		platform.Name, platform.Firmware, joinS(spec.DiskFormats()), vm.ByteSize(spec.DiskSize()), vm.ByteSize(platform.SizeAlign))
	for _, r := range platform.Rules {
		fmt.Fprintf(w, "    rule       %-16s %s\n", r.ID, r.Text)
	}
	base := vm.BaselineFor(variant.Family)
	fmt.Fprintf(w, "    hardening  %d kernel args, %d sysctls, %d mounts (e.g. %s = %s, %s %s)\n",
		len(base.Cmdline), len(base.Sysctls), len(base.Mounts), base.Sysctls[0].Key, base.Sysctls[0].Value,
		base.Sysctls[0].Control.Benchmark, base.Sysctls[0].Control.ID)
	fmt.Fprintf(w, "    cmdline    %s\n", strings.Join(spec.KernelArgs(), " "))

	step("plan: replace a 5-node fleet with %s (no in-place upgrades)", spec.Ref().Version)
	target := spec.Ref()
	prev := target
	prev.Version.Epoch -= 86400
	fleet := []vm.Node{
		{ID: "kvm-1", Zone: "rack-a", Ref: prev}, {ID: "kvm-2", Zone: "rack-b", Ref: prev},
		{ID: "kvm-3", Zone: "rack-a", Ref: prev, Health: vm.Unhealthy}, {ID: "kvm-4", Zone: "rack-c", Ref: prev},
		{ID: "kvm-5", Zone: "rack-b", Ref: target},
	}
	plan, err := vm.Plan(fleet, target, vm.WithMaxSurge(1), vm.WithMaxUnavailable(1))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "    %s\n", plan)
	for i, wave := range plan.Waves {
		var parts []string
		for _, s := range wave.Steps {
			parts = append(parts, fmt.Sprintf("%s %s", s.Action, s.Node))
		}
		fmt.Fprintf(w, "    wave %d: %s\n", i+1, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "    rollback: %d waves back to the previous images\n", len(plan.Rollback.Waves))
	return nil
}

func joinS[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}
