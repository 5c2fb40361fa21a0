package provenance

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/vm"
)

func TestReadPolicy(t *testing.T) {
	s := signBuild(t, testLock(vm.Wolfi, 2))
	ctx := context.Background()
	tests := []struct {
		name string
		yaml string
		want error
	}{
		{"empty is the default", "", nil},
		{"families", "families: [wolfi]\n", nil},
		{"wrong family", "families: [chainguard]\n", ErrFamily},
		{"deny", "deny:\n  - {name: busybox, versions: \"<2\"}\n", ErrDeniedPackage},
		{"builder", "builders: [https://ci.example.test/x]\n", ErrBuilder},
		{"unsafe builder", "builders: [https://ci.example.test/x]\nunsafe: {any_builder: true}\n", nil},
		{"fips", "fips: true\n", ErrFIPS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ReadPolicy(strings.NewReader(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Verify(ctx, s.arts[0], s.provenance, p, s.trusted, s.sbom)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	for _, bad := range []string{"unknown: 1\n", "max_age: forever\n", "deny: [{name: x, versions: \"~\"}]\n", "deny: [{name: x, versions: \"><Q1abc=\"}]\n", "families: [debian]\n", "identities: [{issuer: x}]\n", "[1, 2"} {
		if _, err := ReadPolicy(strings.NewReader(bad)); err == nil {
			t.Errorf("policy %q accepted", bad)
		}
	}
}
