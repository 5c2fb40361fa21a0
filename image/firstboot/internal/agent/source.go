package agent

import (
	"fmt"
	"log/slog"
	"time"
)

// SourceConfig configures the sources NewSource makes.
type SourceConfig struct {
	User       string        // login user
	Endpoint   string        // metadata server base URL (default DefaultEndpoint)
	WireServer string        // Azure wire server base URL (default DefaultWireServer)
	Deadline   time.Duration // how long a metadata server may take to answer at all
	Wait       time.Duration // how long to wait for a labelled volume to appear
	Devices    Devices       // block devices to search (default SysBlockDevices)
	FwCfgDir   string        // fw_cfg by_name directory (default /sys/firmware/qemu_fw_cfg/by_name)
	RPCTool    string        // vmware-rpctool (default /usr/bin/vmware-rpctool)
	Client     HTTPClient
	Log        *slog.Logger
}

// SourceNames lists the sources NewSource knows, as vm.MetadataSource
// names them.
func SourceNames() []string {
	return []string{"nocloud", "configdrive", "ec2", "gce", "azure", "guestinfo"}
}

// NewSource returns the source named name (a vm.MetadataSource).
func NewSource(name string, c SourceConfig) (Source, error) {
	log := orDiscard(c.Log)
	net := Network{Endpoint: c.Endpoint, Client: c.Client, Deadline: c.Deadline}
	switch name {
	case "nocloud":
		return NoCloud{Devices: c.Devices, Wait: c.Wait, User: c.User, Log: log}, nil
	case "configdrive":
		return ConfigDrive{Devices: c.Devices, Wait: c.Wait, Log: log}, nil
	case "ec2":
		return EC2{net}, nil
	case "gce":
		return GCE{Network: net, User: c.User}, nil
	case "azure":
		return Azure{Network: net, WireServer: c.WireServer}, nil
	case "guestinfo":
		return GuestInfo{FwCfgDir: c.FwCfgDir, RPCTool: c.RPCTool, User: c.User}, nil
	}
	return nil, fmt.Errorf("%w: unknown source %q (want one of %v)", ErrMalformed, name, SourceNames())
}
