package vm

import (
	"fmt"
	"slices"
)

// Family groups variants by what they are for.
type Family string

// The three families the seeds describe.
const (
	ContainerHost Family = "container-host" // runs containers: ECS, EKS, or a plain host
	Base          Family = "base"           // general purpose: base, java, python
	Application   Family = "application"    // one application as a systemd service
)

// Families returns every family in a stable order.
func Families() []Family { return []Family{ContainerHost, Base, Application} }

// Variant is one image kind: the packages it adds to the family's base, the
// systemd units it enables, and the platforms it exists on.
type Variant struct {
	Name        string   `json:"name"`
	Family      Family   `json:"family"`
	Description string   `json:"description"`
	Packages    []string `json:"packages"`  // APK world entries added to the common base
	Units       []string `json:"units"`     // systemd units enabled (wants symlinks)
	Platforms   []Cloud  `json:"platforms"` // where the variant is offered
	Ports       []int    `json:"ports"`     // TCP ports its service listens on, for firewall rules
	// Users are the system accounts its services run as (see Accounts),
	// created at build time: install scripts that would add them never run.
	Users []string `json:"users"`
	// Dirs are the directories its install scripts would create, with
	// their owners: made at build time on the root, or by systemd-tmpfiles
	// at every boot under /var (empty at first boot).
	Dirs []Dir `json:"dirs"`
}

// Dir is a directory an image needs, with its owner and mode.
type Dir struct {
	Path  string `json:"path"`
	Mode  uint32 `json:"mode"`
	Owner string `json:"owner"`
	Group string `json:"group"`
}

// BasePackages are in every image, whatever the variant.
var BasePackages = []string{"chainguard-baselayout", "busybox", "systemd", "openssh-server", "ca-certificates-bundle"}

// cloudsAll are the public clouds; every family is offered there.
var cloudsAll = []Cloud{AWS, GCP, Azure, QEMU, VMware, Nutanix}

// variants is the one literal table of variants, from the seeds.
var variants = []Variant{
	// The ECS agent talks to the Docker API: Docker (its socket's group,
	// docker, is in the group table) runs on containerd. ecs.config comes from
	// user data at first boot (image/firstboot).
	{Name: "ecs", Family: ContainerHost, Description: "container host for Amazon ECS",
		Packages:  []string{"containerd", "runc", "docker", "amazon-ecs-agent", "amazon-ssm-agent"},
		Units:     []string{"containerd.service", "docker.service", "ecs.service", "amazon-ssm-agent.service"},
		Platforms: []Cloud{AWS}},
	// The kubelet's configuration, kubeconfig and cluster CA come from
	// the NodeConfig in user data at first boot (image/firstboot).
	{Name: "eks", Family: ContainerHost, Description: "container host for Amazon EKS nodes",
		Packages:  []string{"containerd", "runc", "kubelet", "amazon-ssm-agent", "aws-iam-authenticator"},
		Units:     []string{"containerd.service", "kubelet.service", "amazon-ssm-agent.service"},
		Platforms: []Cloud{AWS}},
	// ctr (containerd's client) pulls and runs; nerdctl may be added by
	// a spec's Packages where the repository has it.
	{Name: "host", Family: ContainerHost, Description: "container host for EC2, Compute Engine, Azure and KVM",
		Packages:  []string{"containerd", "runc"},
		Units:     []string{"containerd.service"},
		Platforms: cloudsAll},
	{Name: "base", Family: Base, Description: "minimal general-purpose base",
		Platforms: cloudsAll},
	{Name: "java", Family: Base, Description: "base with a Java runtime",
		Packages:  []string{"openjdk-21-jre"},
		Platforms: cloudsAll},
	{Name: "python", Family: Base, Description: "base with a Python runtime",
		Packages:  []string{"python-3.13"},
		Platforms: cloudsAll},
	{Name: "nginx", Family: Application, Description: "nginx as a systemd service",
		Packages:  []string{"nginx"},
		Units:     []string{"nginx.service"},
		Platforms: cloudsAll, Ports: []int{80, 443},
		Users: []string{"nginx"},
		Dirs: []Dir{{"/var/log/nginx", 0o750, "nginx", "adm"}, {"/var/lib/nginx", 0o750, "nginx", "nginx"},
			{"/var/cache/nginx", 0o750, "nginx", "nginx"}}},
	{Name: "jenkins", Family: Application, Description: "Jenkins controller as a systemd service",
		Packages:  []string{"jenkins", "openjdk-21-jre"},
		Units:     []string{"jenkins.service"},
		Platforms: cloudsAll, Ports: []int{8080},
		Users: []string{"jenkins"},
		Dirs:  []Dir{{"/var/lib/jenkins", 0o750, "jenkins", "jenkins"}, {"/var/log/jenkins", 0o750, "jenkins", "jenkins"}}},
	{Name: "squid", Family: Application, Description: "Squid proxy as a systemd service",
		Packages:  []string{"squid"},
		Units:     []string{"squid.service"},
		Platforms: cloudsAll, Ports: []int{3128},
		Users: []string{"squid"},
		Dirs: []Dir{{"/var/log/squid", 0o750, "squid", "squid"}, {"/var/spool/squid", 0o750, "squid", "squid"},
			{"/var/cache/squid", 0o750, "squid", "squid"}}},
}

// Variants returns every variant, in a stable order. The slice is a copy.
func Variants() []Variant {
	out := make([]Variant, len(variants))
	copy(out, variants)
	return out
}

// VariantNames returns the names of every variant.
func VariantNames() []string {
	out := make([]string, len(variants))
	for i, v := range variants {
		out[i] = v.Name
	}
	return out
}

// LookupVariant returns the variant called name.
func LookupVariant(name string) (Variant, error) {
	for _, v := range variants {
		if v.Name == name {
			return v, nil
		}
	}
	return Variant{}, fmt.Errorf("%w: variant %q (want one of %v)", ErrUnknown, name, VariantNames())
}

// OffersOn reports whether the variant exists on platform c.
func (v Variant) OffersOn(c Cloud) bool { return slices.Contains(v.Platforms, c) }

// World returns the APK world of the variant: the base packages, then the
// variant's, then extra, without duplicates, in that order.
func (v Variant) World(extra ...string) []string {
	var out []string
	for _, list := range [][]string{BasePackages, v.Packages, extra} {
		for _, p := range list {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// KernelTrack selects which kernel an image carries.
type KernelTrack string

// The two kernel tracks. LTS is the default for FIPS images.
const (
	Stable KernelTrack = "stable"
	LTS    KernelTrack = "lts"
)

// KernelTracks returns both tracks.
func KernelTracks() []KernelTrack { return []KernelTrack{Stable, LTS} }

// Valid reports whether t is a known track.
func (t KernelTrack) Valid() bool { return t == Stable || t == LTS }

// Package returns the name of the APK that carries the track's kernel.
func (t KernelTrack) Package() string {
	if t == LTS {
		return "linux-lts"
	}
	return "linux"
}

// RepositoryFamily names the distribution an APK repository belongs to.
// Wolfi and Chainguard OS packages never meet in one image.
type RepositoryFamily string

// The repository families hardvm reads.
const (
	Wolfi      RepositoryFamily = "wolfi"
	Chainguard RepositoryFamily = "chainguard" // Chainguard OS, production
	Alpine     RepositoryFamily = "alpine"     // read for tests and tooling; not a base for images
)

// RepositoryFamilies returns every family.
func RepositoryFamilies() []RepositoryFamily {
	return []RepositoryFamily{Wolfi, Chainguard, Alpine}
}

// Valid reports whether f is a known repository family.
func (f RepositoryFamily) Valid() bool { return slices.Contains(RepositoryFamilies(), f) }

// Compatible reports whether packages from families a and b may be
// installed together: Wolfi and Chainguard OS never mix.
func Compatible(a, b RepositoryFamily) bool {
	return !((a == Wolfi && b == Chainguard) || (a == Chainguard && b == Wolfi))
}
