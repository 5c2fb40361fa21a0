package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/provenance"
)

func init() {
	addCommand(newVerifyCmd)
}

// trustFlags are the flags that say which signers a command trusts.
type trustFlags struct {
	key, trustedRoot string
	keyFromDir       bool
}

func (t *trustFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&t.key, "key", "", "public key (PEM) that signed the attestations (a key you trust, never one found beside them)")
	fl.StringVar(&t.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json for keyless (certificate-signed) bundles")
	fl.BoolVar(&t.keyFromDir, "unsafe-key-from-dir", false, "trust DIR/key.pub: proves the files are intact, not who made them")
}

// trusted returns the trusted material the flags name for the build
// directory dir. Without --key or --trusted-root it refuses: a key found
// beside the artifacts proves nothing, unless --unsafe-key-from-dir.
func (t *trustFlags) trusted(e *env, cmd, dir string) (*provenance.TrustedMaterial, error) {
	tm := &provenance.TrustedMaterial{}
	if t.trustedRoot != "" {
		tr, err := root.NewTrustedRootFromPath(t.trustedRoot)
		if err != nil {
			return nil, fmt.Errorf("trusted root %s: %w", t.trustedRoot, err)
		}
		tm = provenance.TrustRoot(tr)
	}
	keyPath := t.key
	switch {
	case t.keyFromDir && (keyPath != "" || t.trustedRoot != ""):
		return nil, usagef("--unsafe-key-from-dir excludes --key and --trusted-root")
	case t.keyFromDir:
		keyPath = filepath.Join(dir, builddir.PublicKeyFile)
		fmt.Fprintf(e.stderr, "hardvm %s: --unsafe-key-from-dir: trusting %s from the directory itself, which proves integrity, not origin\n", cmd, keyPath)
	case keyPath == "" && t.trustedRoot == "":
		return nil, usagef("no trust: give --key KEY.pub (a key you trust) or --trusted-root; a key found in %s proves nothing (--unsafe-key-from-dir trusts it anyway)", dir)
	}
	if keyPath != "" {
		b, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, err
		}
		k, err := provenance.ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyPath, err)
		}
		if tm, err = tm.WithKeys(k); err != nil {
			return nil, err
		}
	}
	return tm, nil
}

// newVerifyCmd verifies every artifact of a build output directory against its
// signed SBOM, provenance (and FIPS report) and prints the result table.
func newVerifyCmd(e *env) *cobra.Command {
	return leaf(e, "verify", "verify the signed SBOM, provenance and FIPS report of every artifact in a build directory", "verify (--key KEY.pub | --trusted-root trusted_root.json | --unsafe-key-from-dir) [--policy POLICY.yaml] [--json] DIR",
		"hardvm verify --key ~/keys/release.pub --policy policy.yaml out", func(fl *pflag.FlagSet) runFunc {
			var tf trustFlags
			tf.register(fl)
			policyFile := fl.String("policy", "", "policy YAML (see provenance.PolicyFile); default: the safe default policy")
			asJSON := fl.Bool("json", false, "print the results as JSON")
			return func(ctx context.Context, args []string) error {
				if fl.NArg() != 1 {
					return usagef("want exactly one output directory, got %d arguments", fl.NArg())
				}
				dir := fl.Arg(0)

				tm, err := tf.trusted(e, "verify", dir)
				if err != nil {
					return err
				}
				policy, err := provenance.NewPolicy()
				if *policyFile != "" {
					f, ferr := os.Open(*policyFile)
					if ferr != nil {
						return usagef("policy: %v", ferr)
					}
					policy, err = provenance.ReadPolicy(f)
					f.Close()
				}
				if err != nil {
					return fmt.Errorf("policy %s: %w", *policyFile, err)
				}
				results, verr := builddir.Verify(ctx, dir, policy, tm, builddir.WithRootHashReader(hardvm.RootHashReader))
				if *asJSON {
					if err := writeJSONOut(e.stdout, results); err != nil {
						return err
					}
				} else if len(results) > 0 {
					if err := provenance.WriteTable(e.stdout, results...); err != nil {
						return err
					}
				}
				if verr != nil {
					var n int
					for _, r := range results {
						n += len(r.Failed())
					}
					if n == 0 || errors.Is(verr, context.Canceled) {
						return verr
					}
					return fmt.Errorf("%s: %d rules failed; first: %w", dir, n, firstFailure(results))
				}
				fmt.Fprintf(e.stderr, "hardvm verify: %s: %d artifacts verified\n", dir, len(results))
				return nil
			}
		})
}

func firstFailure(results []*provenance.Result) error {
	for _, r := range results {
		if f := r.Failed(); len(f) > 0 {
			return f[0].Err
		}
	}
	return nil
}
