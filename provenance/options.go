package provenance

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Defaults of the documents hardvm writes.
const (
	// DefaultBuilderID is the SLSA builder id of a build run by this SDK
	// outside any CI system. A CI system should set its own with
	// [WithBuilderID].
	DefaultBuilderID = "https://hardvm.dev/builder/local/v1"
	// BuildType is the SLSA buildType URI of a hardvm image build: external
	// parameters are the vm.Spec; internal parameters the arch, the
	// repository family, the resolved world, the lock's digest and the
	// kernel the image boots (see [BuildParameters]); dependencies every
	// package and repository index.
	BuildType = "https://hardvm.dev/build/image/v1"
	// DefaultNamespace is the base of SPDX document namespaces.
	DefaultNamespace = "https://hardvm.dev/spdx"
	// Creator names the tool in SPDX creation info.
	Creator = "hardvm"
)

// Option configures the documents [SBOM], [SLSA], [SBOMStatement] and
// [FIPSStatement] build.
type Option func(*options) error

type options struct {
	builderID    string
	builderVer   map[string]string
	invocationID string
	kernel       string
	namespace    string
	creators     []string
	log          *slog.Logger
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		builderID: DefaultBuilderID,
		namespace: DefaultNamespace,
		log:       slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func absoluteURI(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return fmt.Errorf("%w: %s %q is not an absolute URI", ErrOption, what, s)
	}
	return nil
}

// WithBuilderID sets the SLSA builder id (an absolute URI naming the
// trusted build platform). Default [DefaultBuilderID].
func WithBuilderID(id string) Option {
	return func(o *options) error {
		if err := absoluteURI("builder id", id); err != nil {
			return err
		}
		o.builderID = id
		return nil
	}
}

// WithBuilderVersion records versions of the builder's components
// (runDetails.builder.version), e.g. {"hardvm": "v0.3.0"}.
func WithBuilderVersion(v map[string]string) Option {
	return func(o *options) error {
		o.builderVer = v
		return nil
	}
}

// WithInvocationID sets runDetails.metadata.invocationId, e.g. the URL of
// a CI run. Default: derived from the build's inputs.
func WithInvocationID(id string) Option {
	return func(o *options) error {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("%w: empty invocation id", ErrOption)
		}
		o.invocationID = id
		return nil
	}
}

// WithKernel records in the provenance the version of the kernel the
// image boots (what `uname -r` says; image/boot finds it). Without it the
// provenance says the image has no kernel: its disks do not boot, and
// hardvm publishes them only when told to with an Unsafe option.
func WithKernel(version string) Option {
	return func(o *options) error {
		if strings.TrimSpace(version) == "" || strings.ContainsAny(version, " \t\n/") {
			return fmt.Errorf("%w: kernel version %q", ErrOption, version)
		}
		o.kernel = version
		return nil
	}
}

// WithNamespace sets the base URI of SPDX document namespaces; the
// document's own part, derived from its inputs, is appended. Default
// [DefaultNamespace].
func WithNamespace(base string) Option {
	return func(o *options) error {
		if err := absoluteURI("namespace", base); err != nil {
			return err
		}
		o.namespace = strings.TrimRight(base, "/")
		return nil
	}
}

// WithCreator adds an SPDX creator ("Organization: Example Inc." or
// "Person: Jane Doe (jane@example.com)"); "Tool: hardvm" is always listed.
func WithCreator(c string) Option {
	return func(o *options) error {
		kind, name, ok := strings.Cut(c, ":")
		kind = strings.TrimSpace(kind)
		if !ok || strings.TrimSpace(name) == "" || (kind != "Organization" && kind != "Person" && kind != "Tool") {
			return fmt.Errorf("%w: SPDX creator %q (want \"Organization: NAME\", \"Person: NAME\" or \"Tool: NAME\")", ErrOption, c)
		}
		o.creators = append(o.creators, kind+": "+strings.TrimSpace(name))
		return nil
	}
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		o.log = l
		return nil
	}
}
