package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
)

// targetConfig is one publishing target, from a --target-config YAML file
// or from --target and the per-target flags. Only settings that are not
// secret are here: credentials come from each SDK's standard chain or from
// environment variables (see targetEnv), never from flags or the file.
type targetConfig struct {
	Type string `yaml:"type"`
	// local
	Dir string `yaml:"dir" for:"local"`
	// aws (region, copies, sharing, optional S3 import bucket)
	Region        string   `yaml:"region" for:"aws"`
	CopyRegions   []string `yaml:"copy_regions" for:"aws"`
	ShareAccounts []string `yaml:"share_accounts" for:"aws"`
	S3Bucket      string   `yaml:"s3_bucket" for:"aws"`
	// gcp
	Project          string   `yaml:"project" for:"gcp"`
	Bucket           string   `yaml:"bucket" for:"gcp"`
	ShareMembers     []string `yaml:"share_members" for:"gcp"`
	StorageLocations []string `yaml:"storage_locations" for:"gcp"`
	// azure
	SubscriptionID   string   `yaml:"subscription_id" for:"azure"`
	ResourceGroup    string   `yaml:"resource_group" for:"azure"`
	Gallery          string   `yaml:"gallery" for:"azure"`
	Location         string   `yaml:"location" for:"azure"`
	Regions          []string `yaml:"regions" for:"azure"`
	StorageAccountID string   `yaml:"storage_account_id" for:"azure"`
	Publisher        string   `yaml:"publisher" for:"azure"`
	TokenEnv         string   `yaml:"token_env" for:"azure"`
	ContainerSASEnv  string   `yaml:"container_sas_env" for:"azure"`
	// vsphere (URL without user info; GOVC_URL if empty)
	URL          string `yaml:"url" for:"vsphere"`
	Insecure     bool   `yaml:"insecure" for:"vsphere"`
	Datacenter   string `yaml:"datacenter" for:"vsphere"`
	Datastore    string `yaml:"datastore" for:"vsphere"`
	ResourcePool string `yaml:"resource_pool" for:"vsphere"`
	Folder       string `yaml:"folder" for:"vsphere"`
	SecureBoot   bool   `yaml:"secure_boot" for:"vsphere"`
	// nutanix
	Endpoint string `yaml:"endpoint" for:"nutanix"`

	line int // line in the YAML file (0 for flags)
}

// targetTypes are the known target types, in the order help shows.
var targetTypes = []string{"aws", "azure", "gcp", "vsphere", "nutanix", "local"}

// Environment variables the targets read their secrets from.
const (
	envVSphereURL      = "GOVC_URL"
	envVSphereUser     = "GOVC_USERNAME"
	envVSpherePassword = "GOVC_PASSWORD"
	envVSphereInsecure = "GOVC_INSECURE"
	envNutanixUser     = "NUTANIX_USERNAME"
	envNutanixPassword = "NUTANIX_PASSWORD"
	envAzureToken      = "AZURE_ACCESS_TOKEN"
	envAzureSAS        = "AZURE_STORAGE_CONTAINER_SAS_URL"
)

// targetFlags holds the per-target flags of `hardvm publish`.
type targetFlags struct {
	targets listFlag
	config  string
	flags   targetConfig // settings of every target type given by flags
}

// register adds --target, --target-config and the per-target flags to fs.
func (t *targetFlags) register(fs *pflag.FlagSet) {
	fs.Var(&t.targets, "target", "register the image on a target too: "+strings.Join(targetTypes[:len(targetTypes)-1], "|")+"|local:DIR; repeatable")
	fs.StringVar(&t.config, "target-config", "", "YAML file with a list under targets:, each {type: aws|azure|gcp|vsphere|nutanix|local, ...settings}")
	c := &t.flags
	fs.StringVar(&c.Region, "aws-region", "", "aws: region (default: the SDK's, AWS_REGION or the profile)")
	fs.Var((*listFlag)(&c.CopyRegions), "aws-copy-region", "aws: copy the AMI to this region too; repeatable")
	fs.Var((*listFlag)(&c.ShareAccounts), "aws-share-account", "aws: share the AMI with this account id; repeatable")
	fs.StringVar(&c.S3Bucket, "aws-s3-bucket", "", "aws: upload through this S3 bucket and ImportSnapshot instead of EBS direct")
	fs.StringVar(&c.Project, "gcp-project", "", "gcp: project (required)")
	fs.StringVar(&c.Bucket, "gcp-bucket", "", "gcp: Cloud Storage bucket for the disk.raw tar.gz (required)")
	fs.Var((*listFlag)(&c.ShareMembers), "gcp-share-member", "gcp: grant this IAM member use of the image; repeatable")
	fs.Var((*listFlag)(&c.StorageLocations), "gcp-storage-location", "gcp: image storage location; repeatable")
	fs.StringVar(&c.SubscriptionID, "azure-subscription", "", "azure: subscription id (required)")
	fs.StringVar(&c.ResourceGroup, "azure-resource-group", "", "azure: resource group of the gallery (required)")
	fs.StringVar(&c.Gallery, "azure-gallery", "", "azure: Compute Gallery name (required)")
	fs.StringVar(&c.Location, "azure-location", "", "azure: the gallery's region (required)")
	fs.Var((*listFlag)(&c.Regions), "azure-region", "azure: replicate the image version to this region too; repeatable")
	fs.StringVar(&c.StorageAccountID, "azure-storage-account-id", "", "azure: ARM resource id of the storage account of the container (required)")
	fs.StringVar(&c.Publisher, "azure-publisher", "", "azure: publisher of the image definitions (default hardvm)")
	fs.StringVar(&c.TokenEnv, "azure-token-env", "", "azure: name of the environment variable holding an ARM bearer token (default "+envAzureToken+")")
	fs.StringVar(&c.ContainerSASEnv, "azure-container-sas-env", "", "azure: name of the environment variable holding the blob container's SAS URL (default "+envAzureSAS+")")
	fs.StringVar(&c.URL, "vsphere-url", "", "vsphere: SDK URL, https://vcenter/sdk (default $"+envVSphereURL+"); user and password come from $"+envVSphereUser+" and $"+envVSpherePassword)
	fs.BoolVar(&c.Insecure, "vsphere-insecure", false, "vsphere: skip TLS verification (or $"+envVSphereInsecure+"=1)")
	fs.StringVar(&c.Datacenter, "vsphere-datacenter", "", "vsphere: datacenter (default: the only one)")
	fs.StringVar(&c.Datastore, "vsphere-datastore", "", "vsphere: datastore (default: the only one)")
	fs.StringVar(&c.ResourcePool, "vsphere-resource-pool", "", "vsphere: resource pool (default: the only one)")
	fs.StringVar(&c.Folder, "vsphere-folder", "", "vsphere: VM folder of the templates (default: the datacenter's)")
	fs.BoolVar(&c.SecureBoot, "vsphere-secure-boot", false, "vsphere: enable UEFI Secure Boot on the templates")
	fs.StringVar(&c.Endpoint, "nutanix-endpoint", "", "nutanix: Prism Central URL, https://pc:9440 (required); user and password from $"+envNutanixUser+" and $"+envNutanixPassword)
}

// configs returns the targets of the flags and of the YAML file.
func (t *targetFlags) configs() ([]targetConfig, error) {
	var out []targetConfig
	for _, s := range t.targets {
		kind, arg, hasArg := strings.Cut(s, ":")
		if !slices.Contains(targetTypes, kind) {
			return nil, usagef("--target %q: unknown target (want one of %s)", s, strings.Join(targetTypes, ", "))
		}
		c := t.flags
		c.Type = kind
		if kind == "local" {
			if arg == "" {
				return nil, usagef("--target local:DIR needs a directory")
			}
			c.Dir = arg
		} else if hasArg {
			return nil, usagef("--target %q: only local takes an argument; give %s's settings as --%s-... flags", s, kind, kind)
		}
		out = append(out, c)
	}
	if t.config != "" {
		b, err := os.ReadFile(t.config)
		if err != nil {
			return nil, usagef("--target-config: %v", err)
		}
		cs, err := parseTargetConfig(b)
		if err != nil {
			return nil, usagef("--target-config %s: %v", t.config, err)
		}
		out = append(out, cs...)
	}
	for _, c := range out {
		if err := c.check(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseTargetConfig decodes one YAML document with a targets: list,
// strictly: unknown keys, keys of another target type and a second
// document are errors naming their line.
func parseTargetConfig(b []byte) ([]targetConfig, error) {
	var doc struct {
		Targets []targetConfig `yaml:"targets"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("more than one YAML document")
	}
	// The same document again as nodes, for the lines of each target and
	// of its keys.
	var nodes struct {
		Targets []yaml.Node `yaml:"targets"`
	}
	if err := yaml.Unmarshal(b, &nodes); err != nil {
		return nil, err
	}
	if len(doc.Targets) == 0 {
		return nil, errors.New("no targets: list")
	}
	allowed := settingsOf()
	for i := range doc.Targets {
		n := &nodes.Targets[i]
		c := &doc.Targets[i]
		c.line = n.Line
		if !slices.Contains(targetTypes, c.Type) {
			return nil, fmt.Errorf("line %d: target type %q unknown (want one of %s)", n.Line, c.Type, strings.Join(targetTypes, ", "))
		}
		for k := 0; k+1 < len(n.Content); k += 2 {
			key := n.Content[k]
			if key.Value == "type" {
				continue
			}
			if allowed[key.Value] != c.Type {
				return nil, fmt.Errorf("line %d: %q is a setting of %s targets, not of %s", key.Line, key.Value, allowed[key.Value], c.Type)
			}
		}
	}
	return doc.Targets, nil
}

// settingsOf maps each YAML key to the target type it belongs to.
func settingsOf() map[string]string {
	m := map[string]string{}
	t := reflect.TypeFor[targetConfig]()
	for i := range t.NumField() {
		f := t.Field(i)
		if k := f.Tag.Get("yaml"); k != "" && f.Tag.Get("for") != "" {
			m[k] = f.Tag.Get("for")
		}
	}
	return m
}

// where names the target in errors: its YAML line or its flags.
func (c *targetConfig) where() string {
	if c.line > 0 {
		return fmt.Sprintf("target %s (line %d)", c.Type, c.line)
	}
	return "--target " + c.Type
}

// check reports the required settings that are missing, as a usage error.
func (c *targetConfig) check() error {
	var missing []string
	need := func(v, name string) {
		if v == "" {
			missing = append(missing, name)
		}
	}
	switch c.Type {
	case "local":
		need(c.Dir, "dir")
	case "gcp":
		need(c.Project, "project (--gcp-project)")
		need(c.Bucket, "bucket (--gcp-bucket)")
	case "azure":
		need(c.SubscriptionID, "subscription_id (--azure-subscription)")
		need(c.ResourceGroup, "resource_group (--azure-resource-group)")
		need(c.Gallery, "gallery (--azure-gallery)")
		need(c.Location, "location (--azure-location)")
		need(c.StorageAccountID, "storage_account_id (--azure-storage-account-id)")
	case "vsphere":
		if c.URL == "" && os.Getenv(envVSphereURL) == "" {
			missing = append(missing, "url (--vsphere-url or $"+envVSphereURL+")")
		}
	case "nutanix":
		need(c.Endpoint, "endpoint (--nutanix-endpoint)")
	}
	if len(missing) > 0 {
		return usagef("%s: missing %s", c.where(), strings.Join(missing, ", "))
	}
	return nil
}

// openTargets makes the registrars of --target values given alone (no
// per-target flags): local:DIR only needs none. `hardvm catalog deprecate`
// uses it.
func openTargets(targets listFlag) ([]catalog.Registrar, error) {
	t := targetFlags{targets: targets}
	cs, err := t.configs()
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Type != "local" {
			return nil, usagef("%s: this command knows local:DIR targets only", c.where())
		}
	}
	regs, _, err := openTargetConfigs(context.Background(), cs)
	return regs, err
}

// openTargetConfigs makes the registrars of the targets. closeAll releases
// what they hold (clients, sessions); call it when publishing is done.
func openTargetConfigs(ctx context.Context, cs []targetConfig) ([]catalog.Registrar, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, f := range slices.Backward(closers) {
			f()
		}
	}
	var regs []catalog.Registrar
	for i := range cs {
		r, cl, err := openTarget(ctx, &cs[i])
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		if cl != nil {
			closers = append(closers, cl)
		}
		regs = append(regs, r)
	}
	return regs, closeAll, nil
}

// openers make the registrars of the cloud targets this build of hardvm
// carries: each target's file adds its own, and a build tag leaves it out
// (with its SDK) of a smaller binary: hardvm_noaws, hardvm_nogcp,
// hardvm_noazure, hardvm_novsphere, hardvm_nonutanix.
var openers = map[string]func(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error){}

func openTarget(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	if c.Type == "local" {
		r, err := local.NewRegistrar(c.Dir)
		return r, nil, err
	}
	open, ok := openers[c.Type]
	if !ok {
		if slices.Contains(targetTypes, c.Type) {
			return nil, nil, fmt.Errorf("%s: this hardvm was built without the %s target (build tag hardvm_no%s); build it without that tag", c.where(), c.Type, c.Type)
		}
		return nil, nil, usagef("%s: unknown target", c.where())
	}
	return open(ctx, c)
}

// cmp returns the first non-empty string.
func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
