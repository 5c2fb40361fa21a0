package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/image/firstboot/firstboottest"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdwR3aiO1H5FdHbV0znW2nucZmK+R8u1gpRiT04RLLL alice@example"

func seed(t *testing.T, s firstboot.Seed) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed.img")
	if err := firstboot.WriteNoCloudSeedFile(context.Background(), p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// The program end to end on a temporary root: a NoCloud seed applied,
// the host name handed to sethostname only when the root is /.
func TestRunNoCloud(t *testing.T) {
	root := t.TempDir()
	var stderr bytes.Buffer
	var host string
	code := run(context.Background(), []string{"--source", "configdrive,nocloud", "--user", "ops", "--wait", "0s", "--root", root, "--devices", seed(t, firstboot.Seed{Hostname: "web-1", AuthorizedKeys: []string{key}})},
		&stderr, func(h string) error { host = h; return nil })
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(root, "var/lib/hardvm/ssh/ops/authorized_keys"))
	if err != nil || !strings.Contains(string(b), key) {
		t.Errorf("authorized_keys %q %v", b, err)
	}
	if host != "" {
		t.Errorf("sethostname(%q) called for a root that is not /", host)
	}
	log := stderr.String()
	for _, want := range []string{`msg="no metadata from source" source=configdrive`, "metadata found", "fingerprints=SHA256:", "hostname=web-1"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "AAAAC3Nza") {
		t.Errorf("log holds key material:\n%s", log)
	}
}

func TestRunExitCodes(t *testing.T) {
	ec2 := &firstboottest.EC2{InstanceID: "i-1", Keys: []string{key}, UserData: []byte("secret-token-123")}
	srv := httptest.NewServer(ec2)
	defer srv.Close()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--source", "nocloud", "--wait", "0s", "--devices", filepath.Join(t.TempDir(), "none")}, 0, "no metadata"},
		{[]string{"--source", "ec2", "--user", "ops", "--endpoint", srv.URL}, 0, "source=ec2"},
		{[]string{"--source", "nocloud", "--user", "ops", "--wait", "0s", "--devices", seed(t, firstboot.Seed{UserData: []byte("#cloud-config\nssh_authorized_keys: [\"ssh-rsa AAAA\"]\n")})}, 1, "malformed"},
		{[]string{}, 2, "want at least one --source"},
		{[]string{"--source", "cloud-init"}, 2, "unknown source"},
		{[]string{"--source", "nocloud", "--user", "Root!"}, 2, "not a valid user"},
		{[]string{"--source", "nocloud", "extra"}, 2, "no arguments"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		code := run(context.Background(), append(tc.args, "--root", t.TempDir()), &stderr, nil)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, stderr.String())
		}
		if strings.Contains(stderr.String(), "secret-token-123") {
			t.Errorf("%v: user data in the log", tc.args)
		}
	}
	for _, v := range ec2.Violations() {
		t.Errorf("IMDS violation: %s", v)
	}
}

// A container host: good user data configures the ECS agent; user data
// naming an unknown key is refused with a log line that names it and
// exit status 1, after the keys were installed (SSH still works), and
// leaves the earlier ecs.config alone.
func TestRunContainerHost(t *testing.T) {
	root := t.TempDir()
	var stderr bytes.Buffer
	args := func(ud string) []string {
		return []string{"--source", "nocloud", "--user", "ops", "--wait", "0s", "--root", root, "--containers", "ecs",
			"--devices", seed(t, firstboot.Seed{Hostname: "ecs-1", AuthorizedKeys: []string{key}, UserData: []byte(ud)})}
	}
	if code := run(context.Background(), args("ECS_CLUSTER=prod\nECS_ENABLE_TASK_IAM_ROLE=true\n"), &stderr, func(string) error { return nil }); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(root, firstboot.ECSConfig))
	if err != nil || !strings.Contains(string(b), "\nECS_CLUSTER=prod\nECS_ENABLE_TASK_IAM_ROLE=true\n") {
		t.Fatalf("ecs.config %q %v", b, err)
	}
	if err := os.Remove(filepath.Join(root, "var/lib/hardvm/ssh/ops/authorized_keys")); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run(context.Background(), args("ECS_CLUSTER=other\nECS_CLUSTRE=typo\n"), &stderr, func(string) error { return nil }); code != 1 {
		t.Fatalf("exit %d for refused user data\n%s", code, stderr.String())
	}
	if log := stderr.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "ECS_CLUSTRE is not an ecs.config key") {
		t.Errorf("log does not say why:\n%s", log)
	}
	if b, _ := os.ReadFile(filepath.Join(root, firstboot.ECSConfig)); !strings.Contains(string(b), "ECS_CLUSTER=prod") {
		t.Errorf("refused user data changed ecs.config: %q", b)
	}
	if b, err := os.ReadFile(filepath.Join(root, "var/lib/hardvm/ssh/ops/authorized_keys")); err != nil || !strings.Contains(string(b), key) {
		t.Errorf("keys not installed before the refusal: %q %v", b, err)
	}
	var buf bytes.Buffer
	if code := run(context.Background(), []string{"--source", "nocloud", "--containers", "gke"}, &buf, nil); code != 2 {
		t.Errorf("--containers gke: exit %d", code)
	}
}
