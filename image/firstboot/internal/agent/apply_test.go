package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fixed struct {
	md  *Metadata
	err error
}

func (fixed) Name() string { return "fixed" }
func (f fixed) Fetch(context.Context) (*Metadata, error) {
	if f.err != nil {
		return nil, f.err
	}
	c := *f.md
	return &c, nil
}

// The agent applied to a temporary root: host name through the hook,
// authorized_keys root-owned under /var/lib/hardvm/ssh/USER, user data
// 0600 and the summary under /run/hardvm/firstboot; a second boot's
// metadata replaces the keys exactly, one without keys removes them.
func TestApplyToRoot(t *testing.T) {
	root := t.TempDir()
	var host string
	tgt := Target{Root: root, User: "ops", SetHostname: func(h string) error { host = h; return nil }}
	md := &Metadata{InstanceID: "iid-1", Hostname: "web-1", Keys: []string{keyEd25519, keyRSA}, UserData: []byte("ECS_CLUSTER=a\n")}
	got, err := Run(context.Background(), Config{Sources: []Source{fixed{err: ErrNoMetadata}, fixed{md: md}}, Target: tgt})
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != "fixed" || host != "web-1" {
		t.Errorf("source %q, host name %q", got.Source, host)
	}
	keys := filepath.Join(root, "var/lib/hardvm/ssh/ops/authorized_keys")
	if s := readFile(t, keys); !strings.HasSuffix(s, keyEd25519+"\n"+keyRSA+"\n") || strings.Count(s, "\n") != 3 {
		t.Errorf("authorized_keys:\n%s", s)
	}
	for p, mode := range map[string]os.FileMode{
		"var/lib/hardvm/ssh":                     0o755 | os.ModeDir,
		"var/lib/hardvm/ssh/ops":                 0o755 | os.ModeDir,
		"var/lib/hardvm/ssh/ops/authorized_keys": 0o644,
		"run/hardvm/firstboot/user-data":         0o600,
		"run/hardvm/firstboot/instance.json":     0o644,
	} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	if s := readFile(t, filepath.Join(root, UserDataFile)); s != "ECS_CLUSTER=a\n" {
		t.Errorf("user data %q", s)
	}
	var inst Instance
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, InstanceFile))), &inst); err != nil {
		t.Fatal(err)
	}
	if inst != (Instance{Source: "fixed", InstanceID: "iid-1", Hostname: "web-1", Keys: 2, UserData: true}) {
		t.Errorf("instance.json %+v", inst)
	}

	// Next boot: one key, no user data.
	md2 := &Metadata{InstanceID: "iid-1", Keys: []string{keyECDSA}}
	if _, err := Run(context.Background(), Config{Sources: []Source{fixed{md: md2}}, Target: tgt}); err != nil {
		t.Fatal(err)
	}
	if s := readFile(t, keys); strings.Contains(s, keyEd25519) || !strings.Contains(s, keyECDSA) {
		t.Errorf("keys not replaced:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(root, UserDataFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale user data: %v", err)
	}
	// Metadata without keys: nobody logs in.
	if _, err := Run(context.Background(), Config{Sources: []Source{fixed{md: &Metadata{InstanceID: "x"}}}, Target: tgt}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keys); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keys left behind: %v", err)
	}
	// No metadata at all: nothing changes, and the error says so.
	if _, err := Run(context.Background(), Config{Sources: []Source{fixed{err: ErrNoMetadata}}, Target: tgt}); !errors.Is(err, ErrNoMetadata) {
		t.Errorf("no metadata: %v", err)
	}
}

// A source that is present but broken stops the run: no fall-through to
// a second source that would then decide who logs in.
func TestBrokenSourceStops(t *testing.T) {
	root := t.TempDir()
	_, err := Run(context.Background(), Config{Sources: []Source{fixed{err: ErrMalformed}, fixed{md: &Metadata{Keys: []string{keyRSA}}}}, Target: Target{Root: root, User: "ops"}})
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("%v, want ErrMalformed", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/hardvm/ssh/ops/authorized_keys")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second source applied: %v", err)
	}
}

// A symlink planted where the user's key directory goes is refused, not
// followed.
func TestApplyRefusesSymlink(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/hardvm/ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(root, "var/lib/hardvm/ssh/ops")); err != nil {
		t.Fatal(err)
	}
	err := Apply(Target{Root: root, User: "ops"}, &Metadata{Keys: []string{keyRSA}}, nil)
	if !errors.Is(err, ErrApply) {
		t.Errorf("%v, want ErrApply", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("wrote through the symlink: %v", ents)
	}
}

func TestApplyErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		tgt Target
		md  Metadata
	}{
		"no root":     {Target{}, Metadata{}},
		"bad user":    {Target{Root: t.TempDir(), User: "../x"}, Metadata{}},
		"sethostname": {Target{Root: t.TempDir(), SetHostname: func(string) error { return errors.New("EPERM") }}, Metadata{Hostname: "h"}},
	} {
		if err := Apply(tc.tgt, &tc.md, nil); !errors.Is(err, ErrApply) {
			t.Errorf("%s: %v, want ErrApply", name, err)
		}
	}
	// No login user: keys are not installed anywhere, the rest is.
	root := t.TempDir()
	if err := Apply(Target{Root: root}, &Metadata{Keys: []string{keyRSA}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, AuthorizedKeysDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keys dir made without a user: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	for _, k := range []string{keyEd25519, keyECDSA, keyRSA, strings.Fields(keyEd25519)[0] + " " + strings.Fields(keyEd25519)[1]} {
		got, err := ParseKey("  " + k + " \t")
		if err != nil || got != k {
			t.Errorf("%q: %q %v", k, got, err)
		}
	}
	f := strings.Fields(keyEd25519)
	for name, k := range map[string]string{
		"options":        `no-pty ` + keyEd25519,
		"command":        `command="/bin/sh" ` + keyEd25519,
		"two lines":      keyEd25519 + "\n" + keyRSA,
		"cr":             keyEd25519 + "\rcommand=x",
		"type mismatch":  "ssh-rsa " + f[1],
		"not base64":     "ssh-ed25519 !!!",
		"short":          "ssh-ed25519 AAAA",
		"one field":      "ssh-ed25519",
		"dsa":            "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
		"huge":           "ssh-rsa " + strings.Repeat("A", 20000),
		"nul in comment": keyEd25519 + " a\x00b",
	} {
		if _, err := ParseKey(k); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, _ := ParseKey(f[0] + " " + f[1] + " we\x1b[2Jird\u00e9 comment"); got != f[0]+" "+f[1]+" we[2Jird comment" {
		t.Errorf("comment not cleaned: %q", got)
	}
	if fp := Fingerprint(keyEd25519); !strings.HasPrefix(fp, "SHA256:") || len(fp) != 50 {
		t.Errorf("fingerprint %q", fp)
	}
}

func TestShortHostname(t *testing.T) {
	for in, want := range map[string]string{"web-1": "web-1", "Web-1.Example.COM": "web-1", "ip-10-0-0-7.ec2.internal": "ip-10-0-0-7", "a": "a"} {
		if got, err := ShortHostname(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "a_b", "a b", strings.Repeat("a", 64), ".x", "héllo"} {
		if _, err := ShortHostname(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// The NoCloud documents in their cloud-init forms.
func TestParseNoCloud(t *testing.T) {
	cases := map[string]struct {
		meta, ud string
		keys     int
		host     string
	}{
		"keys as string":    {"instance-id: a\npublic-keys: |\n  " + keyRSA + "\n  " + keyECDSA + "\n", "", 2, ""},
		"keys as map":       {"instance-id: a\npublic-keys:\n  b: " + keyRSA + "\n  a: [\"" + keyECDSA + "\"]\n", "", 2, ""},
		"json meta-data":    {`{"instance-id": "a", "local-hostname": "j"}`, "", 0, "j"},
		"hostname fallback": {"instance-id: a\n", "#cloud-config\nhostname: cc\n", 0, "cc"},
		"duplicates":        {"instance-id: a\npublic-keys: [\"" + keyRSA + "\"]\n", "#cloud-config\nssh_authorized_keys: [\"" + keyRSA + " other comment\"]\n", 1, ""},
		"script user-data":  {"instance-id: a\n", "#!/bin/sh\nssh_authorized_keys: nope\n", 0, ""},
		"numeric id":        {"instance-id: 12345\n", "", 0, ""},
	}
	for name, tc := range cases {
		md, err := parseNoCloud([]byte(tc.meta), []byte(tc.ud), "ops")
		if err != nil || len(md.Keys) != tc.keys || md.Hostname != tc.host {
			t.Errorf("%s: %+v %v", name, md, err)
		}
	}
	if md, _ := parseNoCloud([]byte("instance-id: 12345\n"), nil, ""); md.InstanceID != "12345" {
		t.Errorf("numeric instance id %q", md.InstanceID)
	}
	for name, tc := range map[string][2]string{
		"bad yaml":       {"instance-id: [", ""},
		"bad key":        {"public-keys: [\"ssh-rsa AAAA\"]", ""},
		"keys as number": {"public-keys: 5", ""},
		"bad host":       {"local-hostname: a_b", ""},
		"bad cc":         {"instance-id: a", "#cloud-config\nssh_authorized_keys: {a: [}\n"},
		"bad cc key":     {"instance-id: a", "#cloud-config\nssh_authorized_keys: [\"x\"]\n"},
	} {
		if _, err := parseNoCloud([]byte(tc[0]), []byte(tc[1]), "ops"); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	many := "instance-id: a\npublic-keys:\n"
	for i := 0; i <= MaxKeys; i++ {
		many += "  - " + strings.Fields(keyRSA)[0] + " " + strings.Fields(keyRSA)[1] + " k" + string(rune('a'+i%26)) + "\n"
	}
	if md, err := parseNoCloud([]byte(many), nil, ""); err != nil || len(md.Keys) != 1 {
		t.Errorf("one key repeated: %v %v", md, err)
	}
}

func TestNewSource(t *testing.T) {
	for _, n := range SourceNames() {
		s, err := NewSource(n, SourceConfig{})
		if err != nil || s.Name() != n {
			t.Errorf("%s: %v %v", n, s, err)
		}
	}
	if _, err := NewSource("cloud-init", SourceConfig{}); err == nil {
		t.Error("unknown source accepted")
	}
	if !ValidUser("ops") || !ValidUser("_svc-1") || ValidUser("Ops") || ValidUser("1x") || ValidUser("") || ValidUser(strings.Repeat("a", 33)) {
		t.Error("ValidUser")
	}
}
