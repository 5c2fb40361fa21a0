package hardvm

import (
	"context"
	"fmt"

	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
)

// publish registers a build read from its directory on every registrar and
// records its entry, last, through catalog.Publish, which verifies every
// disk again first (the build's Verifier). An image that does not boot is
// refused unless the options say otherwise.
func publish(ctx context.Context, o options, b *builddir.Build) (catalog.Entry, error) {
	if b.Kernel == "" && !o.notBootable {
		return catalog.Entry{}, stepError("publish", fmt.Errorf("%w: %s has no kernel (its signed provenance names none); publish it anyway only with PublishNotBootableUnsafe", ErrNotBootable, b.Ref))
	}
	rel, err := b.Release()
	if err != nil {
		return catalog.Entry{}, stepError("catalog", err)
	}
	popts := []catalog.PublishOption{catalog.WithPublishLogger(o.logger)}
	if o.unverified {
		popts = append(popts, catalog.PublishUnverifiedUnsafe())
	} else {
		popts = append(popts, catalog.WithVerifier(b.Verifier()))
	}
	if len(o.registrars) > 0 {
		popts = append(popts, catalog.WithRegistrars(o.registrars...))
	}
	e, err := catalog.Publish(ctx, o.store, rel, popts...)
	if err != nil {
		return catalog.Entry{}, stepError("publish", err)
	}
	return e, nil
}
