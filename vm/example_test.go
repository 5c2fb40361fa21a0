package vm_test

import (
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

func ExampleParseSpec() {
	spec, err := vm.ParseSpec(strings.NewReader(`
variant: nginx
platform: azure
arch: x86_64
fips: true
repositories:
  - url: https://apk.cgr.dev/chainguard
    keys: [chainguard.rsa.pub]
    family: chainguard
source_date_epoch: 1763856000
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Ref())
	fmt.Println(spec.DiskFormats(), vm.ByteSize(spec.DiskSize()))
	// Output:
	// nginx+fips/azure/x86_64/lts:20251123.000000.0
	// [vhd] 2GiB
}

func ExampleLookupVariant() {
	v, _ := vm.LookupVariant("eks")
	fmt.Println(v.Family, v.Platforms, v.Units)
	// Output: container-host [aws] [containerd.service kubelet.service amazon-ssm-agent.service]
}

func ExamplePlan() {
	old := vm.Ref{Variant: "base", Platform: vm.AWS, Arch: vm.X86_64, Kernel: vm.Stable, Version: vm.Version{Epoch: 1763856000}}
	target := old
	target.Version.Epoch += 86400
	fleet := []vm.Node{
		{ID: "i-1", Zone: "eu-west-1a", Ref: old},
		{ID: "i-2", Zone: "eu-west-1b", Ref: old},
		{ID: "i-3", Zone: "eu-west-1a", Ref: target},
	}
	plan, _ := vm.Plan(fleet, target, vm.WithMaxSurge(1), vm.WithMaxUnavailable(0))
	fmt.Println(plan)
	for i, w := range plan.Waves {
		for _, s := range w.Steps {
			fmt.Println(i+1, s.Action, s.Node, s.Zone)
		}
	}
	// Output:
	// replace 2 nodes in 2 waves (max surge 1, max unavailable 0), skip 1
	// 1 launch i-1-next eu-west-1a
	// 1 drain i-1 eu-west-1a
	// 1 terminate i-1 eu-west-1a
	// 2 launch i-2-next eu-west-1b
	// 2 drain i-2 eu-west-1b
	// 2 terminate i-2 eu-west-1b
}
