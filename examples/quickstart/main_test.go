package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The quickstart runs twice into the same directory: the first run builds
// and publishes release 1 of the demo repository, the second the next
// version with the repository's package updates, and shows the delta.
func TestQuickstartTwice(t *testing.T) {
	dir := t.TempDir()
	// Two platforms and a small disk keep the test quick; `go run` builds
	// all five at the embedded spec's size.
	cfg := config{platforms: []target{{"qemu", "qcow2"}, {"azure", "vhd"}}, size: 256 << 20}
	var first bytes.Buffer
	if err := run(context.Background(), &first, dir, cfg); err != nil {
		t.Fatalf("%v\n%s", err, first.String())
	}
	for _, want := range []string{"base/qemu/x86_64/stable:20251123.000000.0", "disk.qcow2", "disk.vhd", "first build of this stream", "replace 3 nodes",
		"published an image that does not boot (PublishNotBootableUnsafe)"} {
		if !strings.Contains(first.String(), want) {
			t.Errorf("first run lacks %q:\n%s", want, first.String())
		}
	}
	if strings.Contains(first.String(), " NO\n") {
		t.Errorf("an artifact did not verify:\n%s", first.String())
	}
	var second bytes.Buffer
	if err := run(context.Background(), &second, dir, cfg); err != nil {
		t.Fatalf("%v\n%s", err, second.String())
	}
	for _, want := range []string{"stable:20251123.000000.1", "upgraded", "openssh-server", "kernel 6.17.8-r0 → 6.17.9-r0"} {
		if !strings.Contains(second.String(), want) {
			t.Errorf("second run lacks %q:\n%s", want, second.String())
		}
	}
}
