package hardvm

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/provenance"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// bundleVerifier verifies every artifact of a release against the signed
// provenance (and the SBOM and FIPS bundles) under a policy: the adapter
// that lets catalog.Publish refuse anything unverified.
type bundleVerifier struct {
	primary *provenance.Bundle
	more    []*provenance.Bundle
	policy  *provenance.Policy
	trusted *provenance.TrustedMaterial
}

func (v bundleVerifier) Verify(ctx context.Context, r *catalog.Release) error {
	for _, a := range r.Artifacts {
		if _, err := provenance.Verify(ctx, a, v.primary, v.policy, v.trusted, v.more...); err != nil {
			return fmt.Errorf("%s: %w", a.Name(), err)
		}
	}
	return nil
}

// publish registers the verified artifacts on every registrar and records
// the entry, last, through catalog.Publish, which verifies again first.
func publish(ctx context.Context, o options, out *Output, v bundleVerifier) (catalog.Entry, error) {
	popts := []catalog.PublishOption{catalog.WithVerifier(v), catalog.WithPublishLogger(o.logger)}
	if len(o.registrars) > 0 {
		popts = append(popts, catalog.WithRegistrars(o.registrars...))
	}
	return catalog.Publish(ctx, o.store, catalog.Release{Entry: out.Entry, Artifacts: out.Artifacts}, popts...)
}
