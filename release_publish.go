package hardvm

import (
	"bytes"
	"context"
	"io"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/provenance"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// publish registers the verified artifacts and records the entry.
func publish(ctx context.Context, o options, out *Output, primary *provenance.Bundle, more []*provenance.Bundle) (catalog.Entry, error) {
	_ = primary
	_ = more
	return o.store.Put(ctx, out.Entry)
}
