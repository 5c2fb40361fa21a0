package catalog_test

import (
	"context"
	"fmt"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
)

// Find the latest image of a stream and what changed since the previous
// build.
func Example() {
	ctx := context.Background()
	store := catalogtest.NewMemStore()
	for n := 9; n <= 10; n++ {
		e := catalogtest.NewEntry("base/aws/x86_64/stable", n, 3)
		if _, err := store.Put(ctx, e); err != nil {
			fmt.Println(err)
			return
		}
	}
	q := catalog.Query{Variant: "base", Platform: "aws", Arch: "x86_64"}
	latest, err := store.Latest(ctx, q)
	if err != nil {
		fmt.Println(err)
		return
	}
	q.MaxVersion = latest.Ref.Version
	q.MaxVersion.Epoch--
	prev, err := store.Latest(ctx, q)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("latest:", latest.Ref.Stream()+":"+latest.Ref.Version.String())
	d := catalog.Diff(prev, latest)
	fmt.Println(d.Summary())
	for _, c := range d.Upgraded {
		fmt.Println(c.Name, c.From, "→", c.To)
	}
	// Output:
	// latest: base/aws/x86_64/stable:20261123.100000.0
	// kernel 6.12.0-r0 → 6.12.1-r0, 1 upgraded, installed size +0 B
	// linux 6.12.0-r0 → 6.12.1-r0
}
