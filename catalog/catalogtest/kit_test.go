package catalogtest_test

import (
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
)

// The kit passes its own in-memory store: the kit's expectations are
// consistent with the Index every store uses.
func TestRunStoreMem(t *testing.T) {
	catalogtest.RunStore(t, func(*testing.T) catalog.Store { return catalogtest.NewMemStore() })
}
