package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
)

// clearTargetEnv empties the environment variables the targets read, so
// that the machine's own settings do not leak into a test.
func clearTargetEnv(t *testing.T) {
	for _, k := range []string{envVSphereURL, envVSphereUser, envVSpherePassword, envVSphereInsecure, envNutanixUser, envNutanixPassword, envAzureToken, envAzureSAS} {
		t.Setenv(k, "")
	}
}

func writeFile(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIPublishTargetUsage checks that bad targets are usage errors
// (exit 2) naming what is wrong.
func TestCLIPublishTargetUsage(t *testing.T) {
	clearTargetEnv(t)
	misspelt := writeFile(t, "t.yaml", "targets:\n  - type: aws\n    region: eu-west-1\n  - type: gcp\n    projcet: p\n    bucket: b\n")
	wrongType := writeFile(t, "t.yaml", "targets:\n  - type: nutanix\n    endpoint: https://pc:9440\n    region: eu-west-1\n")
	unknown := writeFile(t, "t.yaml", "targets:\n  - type: openstack\n")
	missing := writeFile(t, "t.yaml", "targets:\n  - type: local\n    dir: /tmp/x\n  - type: azure\n    subscription_id: s\n    gallery: g\n")
	twoDocs := writeFile(t, "t.yaml", "targets:\n  - type: local\n    dir: /tmp/x\n---\ntargets: []\n")
	empty := writeFile(t, "t.yaml", "targets: []\n")
	build := buildDir(t) // a real one: some targets are opened after it is read
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag target", []string{"--target", "openstack"}, []string{`"openstack": unknown target`, "aws, azure, gcp, vsphere, nutanix, local"}},
		{"local without dir", []string{"--target", "local:"}, []string{"local:DIR needs a directory"}},
		{"argument to a cloud", []string{"--target", "aws:eu-west-1"}, []string{"only local takes an argument"}},
		{"gcp flags missing", []string{"--target", "gcp", "--gcp-project", "p"}, []string{"--target gcp: missing bucket (--gcp-bucket)"}},
		{"azure flags missing", []string{"--target", "azure"}, []string{"subscription_id (--azure-subscription)", "storage_account_id"}},
		{"nutanix endpoint missing", []string{"--target", "nutanix"}, []string{"missing endpoint (--nutanix-endpoint)"}},
		{"vsphere url missing", []string{"--target", "vsphere"}, []string{"missing url (--vsphere-url or $GOVC_URL)"}},
		{"yaml misspelt key", []string{"--target-config", misspelt}, []string{"line 5", "projcet"}},
		{"yaml key of another type", []string{"--target-config", wrongType}, []string{"line 4", `"region" is a setting of aws targets, not of nutanix`}},
		{"yaml unknown type", []string{"--target-config", unknown}, []string{"line 2", `"openstack" unknown`}},
		{"yaml missing settings", []string{"--target-config", missing}, []string{"target azure (line 4): missing resource_group", "location", "storage_account_id"}},
		{"yaml two documents", []string{"--target-config", twoDocs}, []string{"more than one YAML document"}},
		{"yaml no targets", []string{"--target-config", empty}, []string{"no targets"}},
		{"yaml file missing", []string{"--target-config", filepath.Join(t.TempDir(), "none.yaml")}, []string{"--target-config", "no such file"}},
		{"nutanix without user", []string{"--target", "nutanix", "--nutanix-endpoint", "https://127.0.0.1:9"}, []string{"$NUTANIX_USERNAME"}},
		{"vsphere credentials in url", []string{"--target", "vsphere", "--vsphere-url", "https://u:hunter2@127.0.0.1:9/sdk"}, []string{"must not hold credentials"}},
		{"azure without token", []string{"--target", "azure", "--azure-subscription", "s", "--azure-resource-group", "rg", "--azure-gallery", "g", "--azure-location", "westeurope", "--azure-storage-account-id", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa"}, []string{"$AZURE_ACCESS_TOKEN holds no ARM bearer token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"publish", build, "--catalog", t.TempDir(), "--unsafe-unverified"}, tc.args...)
			code, out, errs := runCLI(t, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if strings.Contains(errs, "hunter2") {
				t.Errorf("stderr shows a password:\n%s", errs)
			}
		})
	}
}

// TestTargetConfigFlagsAndYAML checks that flags and YAML give the same
// settings, and that YAML targets keep their lines.
func TestTargetConfigFlagsAndYAML(t *testing.T) {
	clearTargetEnv(t)
	cfg := writeFile(t, "t.yaml", `targets:
  - type: aws
    region: eu-west-1
    copy_regions: [us-east-1, ap-south-1]
    share_accounts: ["123456789012"]
  - type: local
    dir: /srv/images
`)
	fs := pflag.NewFlagSet("publish", pflag.ContinueOnError)
	var tf targetFlags
	tf.register(fs)
	if err := fs.Parse([]string{"--target", "aws", "--aws-region", "eu-west-1", "--aws-copy-region", "us-east-1", "--aws-copy-region", "ap-south-1", "--aws-share-account", "123456789012", "--target-config", cfg}); err != nil {
		t.Fatal(err)
	}
	cs, err := tf.configs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("%d targets, want 3: %+v", len(cs), cs)
	}
	fromFlags, fromYAML := cs[0], cs[1]
	if fromYAML.line != 2 || cs[2].line != 6 || cs[2].Dir != "/srv/images" {
		t.Errorf("lines %d, %d, dir %q", fromYAML.line, cs[2].line, cs[2].Dir)
	}
	fromYAML.line = 0
	if fromFlags.Type != "aws" || strings.Join(fromFlags.CopyRegions, ",") != strings.Join(fromYAML.CopyRegions, ",") ||
		fromFlags.Region != fromYAML.Region || strings.Join(fromFlags.ShareAccounts, ",") != strings.Join(fromYAML.ShareAccounts, ",") {
		t.Errorf("flags %+v != YAML %+v", fromFlags, fromYAML)
	}
}

// TestOpenCloudTargets constructs the aws, gcp, azure and nutanix
// registrars from settings and environment credentials pointing at local
// endpoints. No request is made: the EC2, EBS, Compute and ARM fakes live
// in _test files of their packages, which this package cannot import, so
// these registrars are tested end to end in their own packages; here it
// is the wiring (credentials from the standard chains, options) that is
// checked.
func TestOpenCloudTargets(t *testing.T) {
	clearTargetEnv(t)
	dir := t.TempDir()
	// AWS: static credentials from the environment, no profile files.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// GCP: application default credentials from a file (an authorized
	// user: nothing is fetched until a call).
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", writeFile(t, "adc.json", `{"type":"authorized_user","client_id":"id","client_secret":"s","refresh_token":"r"}`))
	// Azure: an ARM token and a container SAS URL from the environment.
	t.Setenv("HARDVM_TEST_ARM_TOKEN", "tok")
	t.Setenv(envAzureSAS, "http://127.0.0.1:10000/devstoreaccount1/vhds?sv=2024&sig=c2VjcmV0")
	// Nutanix: user and password from the environment.
	t.Setenv(envNutanixUser, "admin")
	t.Setenv(envNutanixPassword, "hunter2")
	prism := httptest.NewServer(http.NotFoundHandler())
	defer prism.Close()

	ctx := context.Background()
	if _, _, err := openTargetConfigs(ctx, []targetConfig{{Type: "aws"}}); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Errorf("aws without a region: %v", err)
	}
	cs := []targetConfig{
		{Type: "aws", Region: "eu-west-1", CopyRegions: []string{"us-east-1"}, ShareAccounts: []string{"123456789012"}, S3Bucket: "imports"},
		{Type: "gcp", Project: "p", Bucket: "b", ShareMembers: []string{"group:ops@example.com"}},
		{Type: "azure", SubscriptionID: "sub", ResourceGroup: "rg", Gallery: "g", Location: "westeurope",
			StorageAccountID: "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa", TokenEnv: "HARDVM_TEST_ARM_TOKEN"},
		{Type: "nutanix", Endpoint: prism.URL},
		{Type: "local", Dir: filepath.Join(dir, "images")},
	}
	regs, closeAll, err := openTargetConfigs(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	want := []vm.Cloud{vm.AWS, vm.GCP, vm.Azure, vm.Nutanix}
	for i, w := range want {
		if got := regs[i].Target(); got != w {
			t.Errorf("registrar %d targets %s, want %s", i, got, w)
		}
	}
	// Without the environment, azure says which variable is missing and
	// nothing of the token.
	t.Setenv("HARDVM_TEST_ARM_TOKEN", "")
	if _, _, err := openTargetConfigs(ctx, cs[2:3]); err == nil || !strings.Contains(err.Error(), "$HARDVM_TEST_ARM_TOKEN") {
		t.Errorf("azure without a token: %v", err)
	}
	t.Setenv("HARDVM_TEST_ARM_TOKEN", "tok")
	t.Setenv(envAzureSAS, "not a url")
	if _, _, err := openTargetConfigs(ctx, cs[2:3]); err == nil || strings.Contains(err.Error(), "not a url") {
		t.Errorf("azure with a bad SAS URL: %v (must not echo it)", err)
	}
}

// TestCLIPublishVSphere publishes a build directory holding an OVA to
// govmomi's vCenter simulator (a real SOAP peer run in process, on
// 127.0.0.1), with the URL and credentials from GOVC_* variables.
func TestCLIPublishVSphere(t *testing.T) {
	clearTargetEnv(t)
	m := simulator.VPX()
	defer m.Remove()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	// A user other than the simulator's default, so that it checks the
	// password.
	m.Service.Listen = &url.URL{User: url.UserPassword("hardvm", "s3cret-pass")}
	s := m.Service.NewServer()
	defer s.Close()
	pass, _ := s.URL.User.Password()
	u := *s.URL
	u.User = nil
	t.Setenv(envVSphereURL, u.String())
	t.Setenv(envVSphereUser, s.URL.User.Username())
	t.Setenv(envVSpherePassword, pass)

	build := buildDir(t, vm.FormatOVA)
	cat := t.TempDir()
	code, out, errs := runCLI(t, "publish", build, "--catalog", cat, "--unsafe-unverified", "--json", "--target", "vsphere",
		"--vsphere-resource-pool", "/DC0/host/DC0_C0/Resources", "--vsphere-folder", "/DC0/vm")
	if code != 0 {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errs)
	}
	var e catalog.Entry
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(e.Locations, func(l catalog.Location) bool { return l.Target == vm.VMware })
	if i < 0 {
		t.Fatalf("no vmware location in %+v", e.Locations)
	}
	// The simulator holds a template there.
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	v, err := find.NewFinder(c.Client).VirtualMachine(ctx, e.Locations[i].URI)
	if err != nil {
		t.Fatalf("location %s: %v", e.Locations[i].URI, err)
	}
	var mvm mo.VirtualMachine
	if err := v.Properties(ctx, v.Reference(), []string{"config.template"}, &mvm); err != nil || mvm.Config == nil || !mvm.Config.Template {
		t.Errorf("%s is not a template: %+v, %v", e.Locations[i].URI, mvm.Config, err)
	}
	if strings.Contains(out+errs, pass) {
		t.Errorf("output shows the password")
	}
	// A wrong password: a failure (exit 1) that does not show it.
	t.Setenv(envVSpherePassword, "hunter2-wrong")
	code, out, errs = runCLI(t, "publish", build, "--catalog", t.TempDir(), "--unsafe-unverified", "--target", "vsphere")
	if code != 1 || !strings.Contains(errs, "login") || strings.Contains(out+errs, "hunter2") {
		t.Errorf("wrong password: exit %d\n%s%s", code, out, errs)
	}
}

// writeTestOVA exports a small sparse raw disk as an OVA at p.
func writeTestOVA(t *testing.T, p string) {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(strings.Repeat("hardvm", 1000)), 1<<20)
	f.Truncate(4 << 20)
	f.Close()
	src, err := vdisk.OpenFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := (vdisk.OVA{Name: "hardvm", SourceDateEpoch: catalogtest.Base}).WriteDisk(context.Background(), out, src); err != nil {
		t.Fatal(err)
	}
}
