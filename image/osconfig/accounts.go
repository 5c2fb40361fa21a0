package osconfig

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// The accounts database: /etc/passwd, /etc/group and /etc/shadow as the
// packages left them, with the accounts and groups the image needs added.

type passwdEntry struct {
	name     string
	uid, gid int
	gecos    string
	home     string
	shell    string
	login    bool // a spec user
}

func (p passwdEntry) line() string {
	return fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", p.name, p.uid, p.gid, p.gecos, p.home, p.shell)
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

func (g groupEntry) line() string {
	return fmt.Sprintf("%s:x:%d:%s", g.name, g.gid, strings.Join(g.members, ","))
}

type accountDB struct {
	users  []passwdEntry
	groups []groupEntry
	shadow map[string]string // name -> whole line
	order  []string          // shadow names in file order
}

var nameRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

func (s *state) readAccounts() (*accountDB, error) {
	db := &accountDB{shadow: map[string]string{}}
	passwd, _ := s.t.ReadFile("etc/passwd")
	for i, l := range lines(passwd) {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, ":")
		if len(f) != 7 {
			return nil, errf("/etc/passwd line %d: %d fields, want 7", i+1, len(f))
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
			return nil, errf("/etc/passwd line %d: bad uid or gid", i+1)
		}
		db.users = append(db.users, passwdEntry{name: f[0], uid: uid, gid: gid, gecos: f[4], home: f[5], shell: f[6]})
	}
	group, _ := s.t.ReadFile("etc/group")
	for i, l := range lines(group) {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, ":")
		if len(f) != 4 {
			return nil, errf("/etc/group line %d: %d fields, want 4", i+1, len(f))
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil || gid < 0 {
			return nil, errf("/etc/group line %d: bad gid", i+1)
		}
		g := groupEntry{name: f[0], gid: gid}
		if f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		db.groups = append(db.groups, g)
	}
	shadow, _ := s.t.ReadFile("etc/shadow")
	for _, l := range lines(shadow) {
		name, _, ok := strings.Cut(l, ":")
		if !ok || name == "" {
			continue
		}
		if _, dup := db.shadow[name]; !dup {
			db.order = append(db.order, name)
		}
		db.shadow[name] = l
	}
	return db, nil
}

func (db *accountDB) user(name string) (*passwdEntry, bool) {
	for i := range db.users {
		if db.users[i].name == name {
			return &db.users[i], true
		}
	}
	return nil, false
}

func (db *accountDB) group(name string) (*groupEntry, bool) {
	for i := range db.groups {
		if db.groups[i].name == name {
			return &db.groups[i], true
		}
	}
	return nil, false
}

func (db *accountDB) uidUser(uid int) string {
	for _, u := range db.users {
		if u.uid == uid {
			return u.name
		}
	}
	return ""
}

func (db *accountDB) gidGroup(gid int) string {
	for _, g := range db.groups {
		if g.gid == gid {
			return g.name
		}
	}
	return ""
}

// addGroup adds group name with gid unless it exists; a gid another group
// holds is an error.
func (db *accountDB) addGroup(name string, gid int) error {
	if _, ok := db.group(name); ok {
		return nil
	}
	if other := db.gidGroup(gid); other != "" {
		return errf("group %s: gid %d is already group %s", name, gid, other)
	}
	db.groups = append(db.groups, groupEntry{name: name, gid: gid})
	return nil
}

func (db *accountDB) addMember(group, user string) error {
	g, ok := db.group(group)
	if !ok {
		return errf("user %s: group %q does not exist", user, group)
	}
	if !slices.Contains(g.members, user) {
		g.members = append(g.members, user)
	}
	return nil
}

// addSystemUser adds a system account with a locked password, its primary
// group first.
func (db *accountDB) addSystemUser(a vm.Account, shell string) error {
	if _, ok := db.user(a.Name); ok {
		return nil
	}
	if other := db.uidUser(a.UID); other != "" {
		return errf("account %s: uid %d is already %s's", a.Name, a.UID, other)
	}
	if g, ok := db.group(a.Name); ok {
		a.GID = g.gid
	} else if err := db.addGroup(a.Name, a.GID); err != nil {
		return err
	}
	db.users = append(db.users, passwdEntry{name: a.Name, uid: a.UID, gid: a.GID, gecos: a.Description, home: a.Home, shell: shell})
	return nil
}

// sysusersLine is one line of a sysusers.d file.
type sysusersLine struct {
	kind, name, id, gecos, home, shell string
}

// readSysusers returns the lines of the sysusers.d files of the tree, files
// in name order (a name in /etc overrides the same name in /usr/lib).
func (s *state) readSysusers() ([]sysusersLine, error) {
	files := map[string]string{}
	for _, d := range []string{"usr/lib/sysusers.d", "lib/sysusers.d", "etc/sysusers.d"} {
		ents, err := s.t.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				files[e.Name()] = d + "/" + e.Name()
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []sysusersLine
	for _, n := range names {
		b, err := s.t.ReadFile(files[n])
		if err != nil {
			return nil, wrap(err)
		}
		for i, l := range lines(b) {
			f, err := splitQuoted(l)
			if err != nil {
				return nil, errf("%s line %d: %v", files[n], i+1, err)
			}
			if len(f) < 2 {
				continue
			}
			sl := sysusersLine{kind: f[0], name: f[1]}
			for i, p := range []*string{&sl.id, &sl.gecos, &sl.home, &sl.shell} {
				if len(f) > i+2 && f[i+2] != "-" {
					*p = f[i+2]
				}
			}
			out = append(out, sl)
		}
	}
	return out, nil
}

// splitQuoted splits a sysusers.d line into fields; double quotes group
// words; a # starts a comment.
func splitQuoted(l string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, have := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '"':
			in, have = !in, true
		case !in && (c == ' ' || c == '\t'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		case !in && c == '#' && !have:
			return out, nil
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if in {
		return nil, fmt.Errorf("unterminated quote")
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

// numericID returns the leading number of a sysusers.d ID field ("42",
// "42:65534"), or -1.
func numericID(id string) int {
	id, _, _ = strings.Cut(id, ":")
	n, err := strconv.Atoi(id)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// accounts adds the groups and system accounts the image needs, then the
// spec's login users, and writes passwd, group and shadow.
func (s *state) accounts(v vm.Variant, base vm.Baseline, users []vm.User, cfg *vm.Configuration) (*accountDB, error) {
	db, err := s.readAccounts()
	if err != nil {
		return nil, err
	}
	nologin := s.binary("nologin")
	if nologin == "" {
		nologin = "/usr/sbin/nologin" // no shell at all: no login either
	}
	for _, g := range vm.Groups() {
		if err := db.addGroup(g.Name, g.GID); err != nil {
			return nil, err
		}
	}
	sys, err := s.readSysusers()
	if err != nil {
		return nil, err
	}
	// IDs the tables do not fix come from vm.DynamicIDs in name order, once
	// every fixed ID is placed.
	var dynGroups, dynUsers []string
	var members [][2]string
	dynUserLine := map[string]sysusersLine{}
	for _, l := range sys {
		switch l.kind {
		case "g":
			if _, ok := db.group(l.name); ok {
				continue
			}
			if !nameRe.MatchString(l.name) {
				return nil, errf("sysusers.d: group name %q", l.name)
			}
			if g, err := vm.LookupGroup(l.name); err == nil {
				if err := db.addGroup(g.Name, g.GID); err != nil {
					return nil, err
				}
			} else if n := numericID(l.id); n >= 0 && db.gidGroup(n) == "" {
				db.groups = append(db.groups, groupEntry{name: l.name, gid: n})
			} else if !slices.Contains(dynGroups, l.name) {
				dynGroups = append(dynGroups, l.name)
			}
		case "u":
			if _, ok := db.user(l.name); ok {
				continue
			}
			if !slices.Contains(base.Users, l.name) {
				if !slices.Contains(cfg.Skipped, l.name) {
					cfg.Skipped = append(cfg.Skipped, l.name)
				}
				continue
			}
			if a, err := vm.LookupAccount(l.name); err == nil {
				if err := db.addSystemUser(a, nologin); err != nil {
					return nil, err
				}
			} else if !slices.Contains(dynUsers, l.name) {
				dynUsers = append(dynUsers, l.name)
				dynUserLine[l.name] = l
			}
		case "m":
			if len(l.id) > 0 {
				members = append(members, [2]string{l.name, l.id})
			}
		}
	}
	for _, name := range v.Accounts() {
		a, err := vm.LookupAccount(name)
		if err != nil {
			return nil, errf("variant %s: %v", v.Name, err)
		}
		if err := db.addSystemUser(a, nologin); err != nil {
			return nil, err
		}
	}
	sort.Strings(dynGroups)
	sort.Strings(dynUsers)
	next := vm.DynamicIDs[0]
	take := func(what, name string) (int, error) {
		for ; next <= vm.DynamicIDs[1]; next++ {
			if db.gidGroup(next) == "" && db.uidUser(next) == "" {
				next++
				return next - 1, nil
			}
		}
		return 0, errf("%s %s: no free ID in %d..%d", what, name, vm.DynamicIDs[0], vm.DynamicIDs[1])
	}
	for _, name := range dynGroups {
		id, err := take("group", name)
		if err != nil {
			return nil, err
		}
		db.groups = append(db.groups, groupEntry{name: name, gid: id})
	}
	for _, name := range dynUsers {
		id, err := take("account", name)
		if err != nil {
			return nil, err
		}
		l := dynUserLine[name]
		home := l.home
		if home == "" {
			home = "/nonexistent"
		}
		gid := id
		if g, ok := db.group(name); ok {
			gid = g.gid
		} else {
			db.groups = append(db.groups, groupEntry{name: name, gid: id})
		}
		db.users = append(db.users, passwdEntry{name: name, uid: id, gid: gid, gecos: l.gecos, home: home, shell: nologin})
	}
	for _, m := range members {
		_, uok := db.user(m[0])
		_, gok := db.group(m[1])
		if uok && gok {
			if err := db.addMember(m[1], m[0]); err != nil {
				return nil, err
			}
		}
	}
	if err := s.loginUsers(db, users); err != nil {
		return nil, err
	}
	return db, s.writeAccounts(db, cfg)
}

// loginUsers adds the spec's users: no password (login by SSH key only),
// home under /home (on /var), keys from the spec on the verified root.
func (s *state) loginUsers(db *accountDB, users []vm.User) error {
	shell := s.binary("bash")
	if shell == "" {
		shell = "/bin/sh"
	}
	next := 1000
	var sudoers []string
	for _, u := range users {
		if !nameRe.MatchString(u.Name) {
			return errf("user name %q (want [a-z_][a-z0-9_-]*, at most 32)", u.Name)
		}
		if _, ok := db.user(u.Name); ok {
			return errf("user %s exists already", u.Name)
		}
		uid := u.UID
		if uid == 0 {
			for db.uidUser(next) != "" || db.gidGroup(next) != "" {
				next++
			}
			uid = next
		}
		if uid < 1000 || db.uidUser(uid) != "" {
			return errf("user %s: uid %d is taken or below 1000", u.Name, uid)
		}
		if err := db.addGroup(u.Name, uid); err != nil {
			return err
		}
		db.users = append(db.users, passwdEntry{name: u.Name, uid: uid, gid: uid, home: "/home/" + u.Name, shell: shell, login: true})
		for _, g := range u.Groups {
			if err := db.addMember(g, u.Name); err != nil {
				return err
			}
		}
		if len(u.SSHKeys) > 0 {
			var keys []byte
			for _, k := range u.SSHKeys {
				k = strings.TrimSpace(k)
				if k == "" || strings.ContainsAny(k, "\n\r") {
					return errf("user %s: SSH key must be one line", u.Name)
				}
				keys = appendLine(keys, k)
			}
			if err := s.write(strings.TrimPrefix(vm.SpecKeysDir, "/")+"/"+u.Name, keys, 0o644); err != nil {
				return err
			}
		}
		if u.Sudo {
			sudoers = append(sudoers, u.Name+" ALL=(ALL) NOPASSWD: ALL")
		}
	}
	if len(sudoers) > 0 {
		return s.write("etc/sudoers.d/hardvm-users", []byte(strings.Join(sudoers, "\n")+"\n"), 0o440)
	}
	return nil
}

// writeAccounts writes passwd, group and shadow and records them.
func (s *state) writeAccounts(db *accountDB, cfg *vm.Configuration) error {
	var passwd, group, shadow []byte
	for _, u := range db.users {
		passwd = appendLine(passwd, u.line())
		cfg.Accounts = append(cfg.Accounts, vm.ConfiguredAccount{Name: u.name, UID: u.uid, GID: u.gid, Home: u.home, Shell: u.shell, Login: u.login})
		if _, ok := db.shadow[u.name]; ok {
			continue
		}
		// "*" matches no password: a login user logs in with a key only.
		// "!*" locks a system account.
		pw := "!*"
		if u.login {
			pw = "*"
		}
		db.shadow[u.name] = u.name + ":" + pw + ":::::::"
		db.order = append(db.order, u.name)
	}
	for _, g := range db.groups {
		group = appendLine(group, g.line())
		cfg.Groups = append(cfg.Groups, vm.Group{Name: g.name, GID: g.gid})
	}
	for _, n := range db.order {
		shadow = appendLine(shadow, db.shadow[n])
	}
	if err := s.write("etc/passwd", passwd, 0o644); err != nil {
		return err
	}
	if err := s.write("etc/group", group, 0o644); err != nil {
		return err
	}
	return s.write("etc/shadow", shadow, 0o600)
}

// ids returns the numeric owner of a vm.Dir.
func (db *accountDB) ids(d vm.Dir) (Owner, error) {
	u, ok := db.user(d.Owner)
	if !ok {
		return Owner{}, errf("directory %s: no account %q", d.Path, d.Owner)
	}
	g, ok := db.group(d.Group)
	if !ok {
		return Owner{}, errf("directory %s: no group %q", d.Path, d.Group)
	}
	return Owner{uint32(u.uid), uint32(g.gid)}, nil
}
