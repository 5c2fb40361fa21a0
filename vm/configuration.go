package vm

// Configuration is what the operating-system configuration step applied to
// an image (package image/osconfig): the accounts and groups it created,
// the units it enabled or masked, the hardening in force and the files that
// carry it. The build records it in the lock and the provenance, so what a
// machine runs with is stated, signed, next to the disk.
type Configuration struct {
	Variant string `json:"variant"`
	Family  Family `json:"family"`
	// Accounts are every account of /etc/passwd, in file order.
	Accounts []ConfiguredAccount `json:"accounts"`
	// Groups are every group of /etc/group, in file order.
	Groups []Group `json:"groups"`
	// Skipped are accounts a package's sysusers.d asks for that the
	// baseline does not allow: not created.
	Skipped []string `json:"skipped,omitempty"`
	// Units are the units enabled (wants/requires/alias symlinks made),
	// Masked the ones masked (symlinked to /dev/null), each with why.
	Units  []string     `json:"units"`
	Masked []MaskedUnit `json:"masked,omitempty"`
	// Cmdline, Sysctls and Mounts are the hardening baseline in force:
	// kernel arguments (on the UKI's signed command line), sysctls (a
	// sysctl.d drop-in) and the writable file systems with their options
	// (fstab; /home lives on /var).
	Cmdline []KernelArg `json:"cmdline"`
	Sysctls []Sysctl    `json:"sysctls"`
	Mounts  []Mount     `json:"mounts"`
	// Fstab are the lines written to /etc/fstab.
	Fstab []string `json:"fstab"`
	// SSHD is the SSH server configuration, nil without an SSH server.
	SSHD *SSHD `json:"sshd,omitempty"`
	// Firstboot is the first-boot agent installed, nil for a spec without
	// a platform.
	Firstboot *FirstbootAgent `json:"firstboot,omitempty"`
	// Network is the systemd-networkd configuration written ("" without
	// systemd-networkd).
	Network string `json:"network,omitempty"`
	// Tmpfiles are the systemd-tmpfiles lines that make the writable state
	// at boot (directories and files of /var).
	Tmpfiles []string `json:"tmpfiles"`
	// Files are the files the step wrote or replaced, sorted.
	Files []string `json:"files"`
}

// ConfiguredAccount is an account of an image.
type ConfiguredAccount struct {
	Name  string `json:"name"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Home  string `json:"home"`
	Shell string `json:"shell"`
	// Login is true for the spec's users (SSH keys, no password); system
	// accounts have a locked password and a shell that refuses logins.
	Login bool `json:"login,omitempty"`
}

// MaskedUnit is a unit the configuration masked, with the reason.
type MaskedUnit struct {
	Unit   string `json:"unit"`
	Reason string `json:"reason"`
}

// FirstbootAgent is the first-boot agent an image carries: where it reads
// the machine's metadata from and whose SSH keys it sets.
type FirstbootAgent struct {
	Unit    string           `json:"unit"`
	Program string           `json:"program"`
	Sources []MetadataSource `json:"sources"`
	User    string           `json:"user,omitempty"` // "" : no SSH login from metadata
}
