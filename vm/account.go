package vm

import "fmt"

// Account is a system account an image may carry, with the IDs it always
// has: the same name gets the same UID and GID in every image hardvm
// builds, so builds are reproducible and files on /var keep their owners
// from one image version to the next. Its primary group has the account's
// name and GID.
type Account struct {
	Name        string `json:"name"`
	UID         int    `json:"uid"`
	GID         int    `json:"gid"`
	Home        string `json:"home"`
	Description string `json:"description"`
	// Groups are supplementary groups (see Groups).
	Groups []string `json:"groups,omitempty"`
}

// Group is a system group with its fixed GID.
type Group struct {
	Name string `json:"name"`
	GID  int    `json:"gid"`
}

// accounts is the one literal table of system accounts. IDs follow the
// static assignments most distributions share (Fedora's setup package:
// sshd 74, messagebus 81, systemd-journal 190, systemd-network 192,
// systemd-resolve 193); application services get 200 and up.
var accounts = []Account{
	{Name: "root", UID: 0, GID: 0, Home: "/root", Description: "root"},
	{Name: "nobody", UID: 65534, GID: 65534, Home: "/nonexistent", Description: "unprivileged user"},
	{Name: "sshd", UID: 74, GID: 74, Home: "/nonexistent", Description: "OpenSSH privilege separation"},
	{Name: "messagebus", UID: 81, GID: 81, Home: "/nonexistent", Description: "D-Bus system bus"},
	{Name: "systemd-network", UID: 192, GID: 192, Home: "/nonexistent", Description: "systemd network management"},
	{Name: "systemd-resolve", UID: 193, GID: 193, Home: "/nonexistent", Description: "systemd resolver"},
	{Name: "systemd-timesync", UID: 194, GID: 194, Home: "/nonexistent", Description: "systemd time synchronization"},
	{Name: "nginx", UID: 201, GID: 201, Home: "/var/lib/nginx", Description: "nginx web server"},
	{Name: "squid", UID: 202, GID: 202, Home: "/var/spool/squid", Description: "Squid proxy"},
	{Name: "jenkins", UID: 203, GID: 203, Home: "/var/lib/jenkins", Description: "Jenkins controller"},
}

// groups is the one literal table of system groups an image always has:
// the ones systemd's and udev's own configuration name (device nodes,
// journal, utmp), with the GIDs Debian's base-passwd made the de-facto
// standard where it has one.
var groups = []Group{
	{"root", 0}, {"adm", 4}, {"tty", 5}, {"disk", 6}, {"lp", 7}, {"kmem", 15},
	{"dialout", 20}, {"cdrom", 24}, {"floppy", 25}, {"tape", 26}, {"audio", 29},
	{"utmp", 43}, {"video", 44}, {"users", 100}, {"input", 104}, {"kvm", 105},
	{"render", 106}, {"sgx", 107}, {"docker", 108}, {"systemd-journal", 190}, {"nobody", 65534},
}

// DynamicIDs is the range IDs are taken from, in name order, for accounts
// and groups a package's sysusers.d names that the tables do not fix.
var DynamicIDs = [2]int{900, 999}

// Accounts returns the system account table, in a stable order.
func Accounts() []Account {
	out := make([]Account, len(accounts))
	copy(out, accounts)
	return out
}

// Groups returns the system group table, in a stable order.
func Groups() []Group {
	out := make([]Group, len(groups))
	copy(out, groups)
	return out
}

// LookupAccount returns the system account called name.
func LookupAccount(name string) (Account, error) {
	for _, a := range accounts {
		if a.Name == name {
			return a, nil
		}
	}
	return Account{}, fmt.Errorf("%w: system account %q", ErrUnknown, name)
}

// LookupGroup returns the system group called name, including the primary
// groups of the accounts.
func LookupGroup(name string) (Group, error) {
	for _, g := range groups {
		if g.Name == name {
			return g, nil
		}
	}
	for _, a := range accounts {
		if a.Name == name {
			return Group{a.Name, a.GID}, nil
		}
	}
	return Group{}, fmt.Errorf("%w: system group %q", ErrUnknown, name)
}
