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
	for _, bad := range []string{"unknown: 1\n", "max_age: forever\n", "deny: [{name: x, versions: \"~1\"}]\n", "families: [debian]\n", "identities: [{issuer: x}]\n", "[1, 2"} {
		if _, err := ReadPolicy(strings.NewReader(bad)); err == nil {
			t.Errorf("policy %q accepted", bad)
		}
	}
}

func TestAPKVersionOrder(t *testing.T) {
	order := []string{"1.0_alpha1", "1.0_beta", "1.0_rc2", "1.0", "1.0-r1", "1.0_p1", "1.0a", "1.0.1", "1.2", "1.10", "2"}
	for i := 0; i+1 < len(order); i++ {
		a, err1 := parseAPKVersion(order[i])
		b, err2 := parseAPKVersion(order[i+1])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if compareAPKVersions(a, b) >= 0 {
			t.Errorf("%s should sort before %s", order[i], order[i+1])
		}
	}
}
