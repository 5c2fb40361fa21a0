package catalogtest_test

import (
	"fmt"

	"github.com/hardvm/hardvm/catalog/catalogtest"
)

// NewEntry makes deterministic, valid entries for tests and benchmarks.
func ExampleNewEntry() {
	e := catalogtest.NewEntry("base+fips/aws/x86_64/lts", 25, 3)
	fmt.Println(e.Ref.Stream(), e.Ref.Version, e.Kernel, len(e.Packages), e.Validate())
	// Output:
	// base+fips/aws/x86_64/lts 20261124.010000.0 6.12.2-r0 4 <nil>
}
