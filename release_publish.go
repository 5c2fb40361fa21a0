package hardvm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/provenance"
)

// dirVerifier verifies every artifact of a release against the signed
// attestations beside it in the build's output directory, under a policy:
// the adapter that lets catalog.Publish refuse anything unverified.
type dirVerifier struct {
	dir     string
	policy  *provenance.Policy
	trusted *provenance.TrustedMaterial
}

func (v dirVerifier) Verify(ctx context.Context, r *catalog.Release) error {
	if v.policy == nil {
		return fmt.Errorf("nothing built: no verification policy")
	}
	read := func(name string) (*provenance.Bundle, error) {
		b, err := os.ReadFile(filepath.Join(v.dir, name))
		if err != nil {
			return nil, err
		}
		return provenance.ParseBundle(b)
	}
	var more []*provenance.Bundle
	for _, name := range []string{SBOMBundle, FIPSBundle} {
		b, err := read(name)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		more = append(more, b)
	}
	for _, a := range r.Artifacts {
		b, err := read(BundleFile(a.Name()))
		if err != nil {
			return fmt.Errorf("%s: %w", a.Name(), err)
		}
		if _, err := provenance.Verify(ctx, a, b, v.policy, v.trusted, more...); err != nil {
			return fmt.Errorf("%s: %w", a.Name(), err)
		}
	}
	return nil
}

// publish registers the verified artifacts on every registrar and records
// the entry, last, through catalog.Publish, which verifies again first.
func publish(ctx context.Context, o options, out *Output, v dirVerifier) (catalog.Entry, error) {
	popts := []catalog.PublishOption{catalog.WithVerifier(v), catalog.WithPublishLogger(o.logger)}
	if len(o.registrars) > 0 {
		popts = append(popts, catalog.WithRegistrars(o.registrars...))
	}
	return catalog.Publish(ctx, o.store, catalog.Release{Entry: out.Entry, Artifacts: out.Artifacts}, popts...)
}
