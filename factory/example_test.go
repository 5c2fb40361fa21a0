package factory_test

import (
	"fmt"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/vm"
)

// Versions come from the lock: the newest package build time, then a
// counter the catalog advances when the packages are not newer than the
// stream's latest build.
func ExampleNextVersion() {
	lock := &artifact.Lock{Packages: []artifact.Package{
		{Name: "busybox", Version: "1.37.0-r3", BuildTime: 1764086400},
		{Name: "glibc", Version: "2.42-r1", BuildTime: 1764000000},
	}}
	first, _ := factory.NextVersion(lock, vm.Version{})
	again, _ := factory.NextVersion(lock, first)
	fmt.Println(first)
	fmt.Println(again)
	// Output:
	// 20251125.160000.0
	// 20251125.160000.1
}
