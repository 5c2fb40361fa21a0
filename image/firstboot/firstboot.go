package firstboot

import (
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hardvm/hardvm/image/firstboot/internal/agent"
	"github.com/hardvm/hardvm/vm"
)

// Paths and names an image and its configuration agree on.
const (
	// ProgramPath is where Files installs the agent (relative to the
	// image root, as image.Rootfs names files).
	ProgramPath = "usr/lib/hardvm/firstboot"
	// UnitName is the systemd unit to enable (it has an [Install]
	// section: WantedBy=multi-user.target).
	UnitName = "hardvm-firstboot.service"
	// UnitPath is where Files installs the unit.
	UnitPath = "usr/lib/systemd/system/" + UnitName
	// ModulesLoadPath is the modules-load.d file Files adds for the
	// guestinfo source (qemu_fw_cfg, which shows fw_cfg in sysfs).
	ModulesLoadPath = "usr/lib/modules-load.d/hardvm-firstboot.conf"

	// AuthorizedKeysDir holds /var/lib/hardvm/ssh/USER/authorized_keys,
	// written by the agent from metadata at every boot, root-owned.
	AuthorizedKeysDir = agent.AuthorizedKeysDir
	// AuthorizedKeysFile is the value sshd_config's AuthorizedKeysFile
	// must have for keys from metadata to count (and only them):
	//
	//	AuthorizedKeysFile /var/lib/hardvm/ssh/%u/authorized_keys
	AuthorizedKeysFile = agent.AuthorizedKeysFile
	// RunDir holds what this boot's metadata said, for the variant's
	// services; order them After=hardvm-firstboot.service.
	RunDir = agent.RunDir
	// UserDataFile is the platform's user data, byte for byte (mode 0600,
	// root's), absent when the platform gave none: where a variant's
	// service (e.g. the ECS agent's environment) reads it.
	UserDataFile = agent.UserDataFile
	// InstanceFile is a JSON summary of the metadata applied this boot:
	// {"source", "instance_id", "hostname", "keys", "user_data"}.
	InstanceFile = agent.InstanceFile
	// FwCfgPrefix is the QEMU fw_cfg name prefix of guestinfo keys
	// (-fw_cfg name=opt/org.hardvm/guestinfo.metadata,string=...).
	FwCfgPrefix = agent.FwCfgPrefix
)

// File is one file Files adds to an image.
type File struct {
	Path string      // slash-separated, relative to the image root
	Mode fs.FileMode // permission bits; with fs.ModeSymlink, a symlink to Data
	Data []byte
}

// Option configures Files.
type Option func(*options) error

type options struct {
	user       string
	sources    []vm.MetadataSource
	endpoint   string
	wireServer string
	deadline   time.Duration
	containers string // WithContainerHost's variant
}

// WithUser names the login user whose authorized_keys the metadata sets:
// the spec's first user. Without it the image has no SSH login from
// metadata (the agent still sets the host name and user data).
func WithUser(name string) Option {
	return func(o *options) error {
		if !agent.ValidUser(name) {
			return fmt.Errorf("%w: user name %q", ErrInvalid, name)
		}
		o.user = name
		return nil
	}
}

// WithSources replaces the platform's metadata sources (vm.Platform's
// Metadata) with these, in order.
func WithSources(s ...vm.MetadataSource) Option {
	return func(o *options) error {
		if len(s) == 0 {
			return fmt.Errorf("%w: no metadata source", ErrInvalid)
		}
		for _, m := range s {
			if !m.Valid() {
				return fmt.Errorf("%w: metadata source %q", ErrUnsupported, m)
			}
		}
		o.sources = slices.Clone(s)
		return nil
	}
}

// WithEndpoint points the network sources (ec2, gce, azure IMDS) at base
// instead of http://169.254.169.254: for tests whose fake metadata server
// sits elsewhere.
func WithEndpoint(base string) Option {
	return func(o *options) error {
		if err := checkURL(base); err != nil {
			return err
		}
		o.endpoint = base
		return nil
	}
}

// WithWireServer points the Azure ready report at base instead of
// http://168.63.129.16.
func WithWireServer(base string) Option {
	return func(o *options) error {
		if err := checkURL(base); err != nil {
			return err
		}
		o.wireServer = base
		return nil
	}
}

// WithDeadline sets how long the agent waits for a metadata server to
// answer at all before booting without metadata (default 60s).
func WithDeadline(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 || d > time.Hour {
			return fmt.Errorf("%w: deadline %v", ErrInvalid, d)
		}
		o.deadline = d
		return nil
	}
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || strings.ContainsAny(s, " \t\n\"\\") {
		return fmt.Errorf("%w: endpoint %q: want http://HOST[:PORT]", ErrInvalid, s)
	}
	return nil
}

// networkSource reports whether m needs the network.
func networkSource(m vm.MetadataSource) bool {
	return m == vm.MetadataEC2 || m == vm.MetadataGCE || m == vm.MetadataAzure
}

// Files returns what an image for arch and platform needs for first-boot
// configuration: the agent at ProgramPath (0755), its unit at UnitPath
// (enable UnitName) and, for the guestinfo source, ModulesLoadPath.
// The unit runs the agent once per boot, after the writable /var is
// mounted (and, for network sources, after network-online.target) and
// before sshd and user sessions.
func Files(arch vm.Arch, platform vm.Platform, opts ...Option) ([]File, error) {
	o := options{sources: platform.Metadata}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(o.sources) == 0 {
		return nil, fmt.Errorf("%w: platform %q names no metadata source", ErrUnsupported, platform.Cloud)
	}
	if platform.Cloud != "" && len(platform.Arches) > 0 && !slices.Contains(platform.Arches, arch) {
		return nil, fmt.Errorf("%w: %s does not run %s", ErrUnsupported, platform.Cloud, arch)
	}
	prog, err := Program(arch)
	if err != nil {
		return nil, err
	}
	files := []File{
		{Path: ProgramPath, Mode: 0o755, Data: prog},
		{Path: UnitPath, Mode: 0o644, Data: []byte(unit(o))},
	}
	if o.containers != "" {
		files = append(files, containerFiles(o.containers)...)
	}
	if slices.Contains(o.sources, vm.MetadataGuestInfo) {
		files = append(files, File{Path: ModulesLoadPath, Mode: 0o644,
			Data: []byte("# hardvm-firstboot: QEMU's fw_cfg in sysfs, where guestinfo keys can be given\nqemu_fw_cfg\n")})
	}
	return files, nil
}

// unit renders hardvm-firstboot.service.
func unit(o options) string {
	names := make([]string, len(o.sources))
	network := false
	for i, s := range o.sources {
		names[i] = string(s)
		network = network || networkSource(s)
	}
	exec := "/" + ProgramPath + " --source " + strings.Join(names, ",")
	if o.user != "" {
		exec += " --user " + o.user
	}
	if o.endpoint != "" {
		exec += " --endpoint " + o.endpoint
	}
	if o.wireServer != "" {
		exec += " --wireserver " + o.wireServer
	}
	if o.deadline > 0 {
		exec += " --deadline " + o.deadline.String()
	}
	if o.containers != "" {
		exec += " --containers " + o.containers
	}
	var b strings.Builder
	b.WriteString(`# hardvm first boot: the host name, the login user's SSH keys and the user
# data from this machine's metadata, applied at every boot before sshd.
[Unit]
Description=hardvm first boot configuration from platform metadata
RequiresMountsFor=/var/lib/hardvm
`)
	after := "After=local-fs.target"
	if network {
		b.WriteString("Wants=network-online.target\n")
		after += " network-online.target"
	}
	b.WriteString(after + "\n")
	b.WriteString(`Before=sshd.service ssh.service systemd-user-sessions.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=` + exec + `
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=5min
StateDirectory=hardvm
RuntimeDirectory=hardvm/firstboot
RuntimeDirectoryPreserve=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
ProtectClock=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`)
	return b.String()
}
