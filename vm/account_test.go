package vm

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestAccountTables checks the tables the OS configuration creates
// accounts from: IDs unique and fixed, every account a variant or the
// baseline needs is in the table, every directory owner exists.
func TestAccountTables(t *testing.T) {
	uids, gids, names := map[int]string{}, map[int]string{}, map[string]bool{}
	for _, a := range Accounts() {
		if o, dup := uids[a.UID]; dup {
			t.Errorf("uid %d: %s and %s", a.UID, o, a.Name)
		}
		uids[a.UID] = a.Name
		if a.Home == "" || a.Description == "" {
			t.Errorf("account %+v", a)
		}
		if a.UID >= DynamicIDs[0] && a.UID <= DynamicIDs[1] && a.UID != 65534 {
			t.Errorf("account %s: uid %d in the dynamic range", a.Name, a.UID)
		}
		names[a.Name] = true
	}
	for _, g := range Groups() {
		if o, dup := gids[g.GID]; dup {
			t.Errorf("gid %d: %s and %s", g.GID, o, g.Name)
		}
		gids[g.GID] = g.Name
	}
	for _, a := range Accounts() {
		if o, ok := gids[a.GID]; ok && o != a.Name && !(a.Name == "root" || a.Name == "nobody") {
			t.Errorf("account %s's primary gid %d is group %s's", a.Name, a.GID, o)
		}
	}
	for _, f := range Families() {
		for _, u := range BaselineFor(f).Users {
			if !names[u] {
				t.Errorf("baseline %s allows %s, which has no fixed IDs", f, u)
			}
		}
	}
	for _, v := range Variants() {
		for _, u := range v.Accounts() {
			if !names[u] {
				t.Errorf("variant %s runs as %s, which has no fixed IDs", v.Name, u)
			}
			if !slices.Contains(BaselineFor(v.Family).Users, u) {
				t.Errorf("variant %s's account %s is not allowed by its baseline", v.Name, u)
			}
		}
		for _, d := range v.Dirs {
			if _, err := LookupAccount(d.Owner); err != nil {
				t.Errorf("variant %s: %s owner: %v", v.Name, d.Path, err)
			}
			if _, err := LookupGroup(d.Group); err != nil {
				t.Errorf("variant %s: %s group: %v", v.Name, d.Path, err)
			}
			if !strings.HasPrefix(d.Path, "/") || d.Mode == 0 {
				t.Errorf("variant %s: dir %+v", v.Name, d)
			}
		}
	}
	if _, err := LookupAccount("nope"); !errors.Is(err, ErrUnknown) {
		t.Error(err)
	}
	if g, err := LookupGroup("nginx"); err != nil || g.GID != 201 {
		t.Errorf("an account's primary group: %+v, %v", g, err)
	}
	if _, err := LookupGroup("nope"); !errors.Is(err, ErrUnknown) {
		t.Error(err)
	}
}

// TestBaselineWritableState: /var is the only writable partition, /home
// lives on it, /tmp is a tmpfs; the SSH server takes keys only.
func TestBaselineWritableState(t *testing.T) {
	for _, f := range Families() {
		b := BaselineFor(f)
		v, ok := b.Mount("/var")
		if !ok || v.FSType != "ext4" || !slices.Contains(v.Options, "nodev") || !slices.Contains(v.Options, "nosuid") {
			t.Errorf("%s: /var %+v", f, v)
		}
		if h, ok := b.Mount("/home"); !ok || h.Under != "/var" || h.FSType != "" {
			t.Errorf("%s: /home %+v", f, h)
		}
		if tmp, ok := b.Mount("/tmp"); !ok || tmp.FSType != "tmpfs" {
			t.Errorf("%s: /tmp %+v", f, tmp)
		}
		if _, ok := b.Mount("/nope"); ok {
			t.Error("Mount found /nope")
		}
		set := map[string]string{}
		for _, s := range b.SSHD.Settings {
			set[s.Keyword] = s.Value
			if s.Control.ID == "" {
				t.Errorf("sshd %s names no control", s.Keyword)
			}
		}
		if set["PermitRootLogin"] != "no" || set["PasswordAuthentication"] != "no" || set["KbdInteractiveAuthentication"] != "no" ||
			!strings.Contains(set["AuthorizedKeysFile"], MetadataKeysFile) || strings.Contains(set["AuthorizedKeysFile"], ".ssh/") {
			t.Errorf("%s: sshd settings %v", f, set)
		}
		if !strings.HasPrefix(b.SSHD.HostKeyDir, "/var/") || len(b.SSHD.HostKeyTypes) == 0 {
			t.Errorf("%s: host keys %+v", f, b.SSHD)
		}
	}
	// Application images only carry their own service account.
	ng, _ := LookupVariant("nginx")
	if slices.Contains(ng.Accounts(), "squid") || !slices.Contains(ng.Accounts(), "nginx") || !slices.Contains(ng.Accounts(), "sshd") {
		t.Errorf("nginx accounts %v", ng.Accounts())
	}
}
