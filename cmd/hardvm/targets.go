package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vmware/govmomi"
	compute "google.golang.org/api/compute/v1"
	"gopkg.in/yaml.v3"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/aws"
	"github.com/hardvm/hardvm/catalog/azure"
	"github.com/hardvm/hardvm/catalog/gcp"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/nutanix"
	"github.com/hardvm/hardvm/catalog/vsphere"
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
func (t *targetFlags) register(fs *flag.FlagSet) {
	fs.Var(&t.targets, "target", "register the image on a target too: "+strings.Join(targetTypes[:len(targetTypes)-1], "|")+"|local:DIR; repeatable")
	fs.StringVar(&t.config, "target-config", "", "YAML file with a `targets:` list, each {type: aws|azure|gcp|vsphere|nutanix|local, ...settings}")
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

func openTarget(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	switch c.Type {
	case "local":
		r, err := local.NewRegistrar(c.Dir)
		return r, nil, err
	case "aws":
		return openAWS(ctx, c)
	case "gcp":
		return openGCP(ctx, c)
	case "azure":
		return openAzure(c)
	case "vsphere":
		return openVSphere(ctx, c)
	case "nutanix":
		return openNutanix(c)
	}
	return nil, nil, usagef("%s: unknown target", c.where())
}

func openAWS(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	var lopts []func(*awsconfig.LoadOptions) error
	if c.Region != "" {
		lopts = append(lopts, awsconfig.WithRegion(c.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, lopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: AWS configuration: %w", c.where(), err)
	}
	if cfg.Region == "" {
		return nil, nil, usagef("%s: no region (--aws-region, region:, AWS_REGION or the profile's)", c.where())
	}
	var opts []aws.Option
	if len(c.CopyRegions) > 0 {
		// aws.New sets its own region clients only after checking that
		// copies have them, so give them here.
		opts = append(opts, aws.WithCopyRegions(c.CopyRegions...), aws.WithRegionClients(func(region string) aws.EC2API {
			rc := cfg.Copy()
			rc.Region = region
			return ec2.NewFromConfig(rc)
		}))
	}
	if len(c.ShareAccounts) > 0 {
		opts = append(opts, aws.WithShareAccounts(c.ShareAccounts...))
	}
	if c.S3Bucket != "" {
		opts = append(opts, aws.WithS3Import(s3.NewFromConfig(cfg), c.S3Bucket))
	}
	r, err := aws.New(cfg, opts...)
	if err != nil {
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, nil, nil
}

func openGCP(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	// Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS,
	// gcloud's, the metadata server.
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: Cloud Storage client: %w", c.where(), err)
	}
	svc, err := compute.NewService(ctx)
	if err != nil {
		gcs.Close()
		return nil, nil, fmt.Errorf("%s: Compute client: %w", c.where(), err)
	}
	var opts []gcp.Option
	if len(c.ShareMembers) > 0 {
		opts = append(opts, gcp.WithShareMembers(c.ShareMembers...))
	}
	if len(c.StorageLocations) > 0 {
		opts = append(opts, gcp.WithStorageLocations(c.StorageLocations...))
	}
	r, err := gcp.New(c.Project, c.Bucket, gcs, svc, opts...)
	if err != nil {
		gcs.Close()
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, func() { gcs.Close() }, nil
}

// staticToken is an azcore.TokenCredential returning a bearer token read
// from the environment (azidentity is not served by this build's module
// proxy, so there is no DefaultAzureCredential chain here).
type staticToken struct{ token string }

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func openAzure(c *targetConfig) (catalog.Registrar, func(), error) {
	tokenEnv := cmp(c.TokenEnv, envAzureToken)
	sasEnv := cmp(c.ContainerSASEnv, envAzureSAS)
	token := os.Getenv(tokenEnv)
	if token == "" {
		return nil, nil, usagef("%s: $%s holds no ARM bearer token (e.g. az account get-access-token --query accessToken -o tsv)", c.where(), tokenEnv)
	}
	sas := os.Getenv(sasEnv)
	if sas == "" {
		return nil, nil, usagef("%s: $%s holds no blob container SAS URL", c.where(), sasEnv)
	}
	u, err := url.Parse(sas)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Never echo the value: it holds a signature.
		return nil, nil, usagef("%s: $%s is not a container URL", c.where(), sasEnv)
	}
	ctr, err := container.NewClientWithNoCredential(sas, nil)
	if err != nil {
		return nil, nil, usagef("%s: $%s is not a container URL", c.where(), sasEnv)
	}
	r, err := azure.New(azure.Config{
		SubscriptionID: c.SubscriptionID, ResourceGroup: c.ResourceGroup, Gallery: c.Gallery,
		Location: c.Location, Regions: c.Regions, Container: ctr, StorageAccountID: c.StorageAccountID,
		Credential: staticToken{token}, Publisher: c.Publisher,
	})
	if err != nil {
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, nil, nil
}

func openVSphere(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	raw := cmp(c.URL, os.Getenv(envVSphereURL))
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, nil, usagef("%s: URL is not https://HOST/sdk", c.where())
	}
	if u.User != nil && c.URL != "" {
		return nil, nil, usagef("%s: --vsphere-url must not hold credentials; set $%s and $%s", c.where(), envVSphereUser, envVSpherePassword)
	}
	if u.Scheme == "" {
		u.Scheme = "https"
	}
	if u.Path == "" {
		u.Path = "/sdk"
	}
	if user := os.Getenv(envVSphereUser); user != "" {
		u.User = url.UserPassword(user, os.Getenv(envVSpherePassword))
	}
	if u.User == nil {
		return nil, nil, usagef("%s: no user: set $%s and $%s", c.where(), envVSphereUser, envVSpherePassword)
	}
	insecure := c.Insecure
	if v := os.Getenv(envVSphereInsecure); v == "1" || v == "true" {
		insecure = true
	}
	cl, err := govmomi.NewClient(ctx, u, insecure)
	if err != nil {
		// govmomi's errors may hold the URL: redact its password.
		return nil, nil, fmt.Errorf("%s: login to %s: %s", c.where(), u.Redacted(), redact(err.Error(), u))
	}
	var opts []vsphere.Option
	if c.SecureBoot {
		opts = append(opts, vsphere.WithSecureBoot())
	}
	logout := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = cl.Logout(ctx)
	}
	r, err := vsphere.New(vsphere.Config{Client: cl.Client, Datacenter: c.Datacenter, Datastore: c.Datastore, ResourcePool: c.ResourcePool, Folder: c.Folder}, opts...)
	if err != nil {
		logout()
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, logout, nil
}

// redact removes u's password from s.
func redact(s string, u *url.URL) string {
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
		s = strings.ReplaceAll(s, url.QueryEscape(p), "xxxxx")
	}
	return s
}

func openNutanix(c *targetConfig) (catalog.Registrar, func(), error) {
	user := os.Getenv(envNutanixUser)
	if user == "" {
		return nil, nil, usagef("%s: no user: set $%s and $%s", c.where(), envNutanixUser, envNutanixPassword)
	}
	r, err := nutanix.New(nutanix.Config{Endpoint: c.Endpoint, Username: user, Password: os.Getenv(envNutanixPassword)})
	if err != nil {
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, nil, nil
}

// cmp returns the first non-empty string.
func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
