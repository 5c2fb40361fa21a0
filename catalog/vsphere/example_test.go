package vsphere_test

import (
	"fmt"

	"github.com/hardvm/hardvm/catalog/vsphere"
	"github.com/hardvm/hardvm/vm"
)

// A template is named for its build and carries its Ref and digest in its
// ExtraConfig, so that the catalog finds it again.
func ExampleLabels() {
	ref, _ := vm.ParseRef("base/vmware/x86_64/lts:20261123.104501.0@sha256:" + fmt.Sprintf("%064x", 7))
	l := vsphere.Labels(ref)
	fmt.Println(vsphere.TemplateName(ref))
	fmt.Println(l[vsphere.KeyStream])
	fmt.Println(l[vsphere.KeyDigest])
	// Output:
	// hardvm-base-x86_64-lts-20261123.104501.0
	// base/vmware/x86_64/lts
	// sha256:0000000000000000000000000000000000000000000000000000000000000007
}
