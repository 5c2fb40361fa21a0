package vsphere

import (
	"context"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
)

// viewVMs retrieves every VM of the inventory with its name and config.
func viewVMs(ctx context.Context, c *vim25.Client, out *[]mo.VirtualMachine) (*view.ContainerView, error) {
	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(ctx)
	return v, v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "config"}, out)
}

// simConfig places imports in the simulator's cluster (its VPX model has
// a cluster and standalone hosts, so the default pool is ambiguous).
func simConfig(c *vim25.Client) Config {
	return Config{Client: c, ResourcePool: "/DC0/host/DC0_C0/Resources"}
}
