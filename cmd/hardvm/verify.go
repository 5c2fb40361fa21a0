package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/provenance"
)

// runVerify verifies every artifact of a build output directory against its
// signed SBOM, provenance (and FIPS report) and prints the result table.
func runVerify(ctx context.Context, e *env, args []string) error {
	fl := newFlags(e, "verify", "verify (--key KEY.pub | --trusted-root trusted_root.json | --unsafe-key-from-dir) [--policy POLICY.yaml] [--json] DIR",
		"hardvm verify --key ~/keys/release.pub --policy policy.yaml out")
	key := fl.String("key", "", "public key (PEM) that signed the attestations (a key you trust, never one found beside them)")
	keyFromDir := fl.Bool("unsafe-key-from-dir", false, "trust DIR/key.pub: proves the files are intact, not who made them")
	trustedRoot := fl.String("trusted-root", "", "Sigstore trusted_root.json for keyless (certificate-signed) bundles")
	policyFile := fl.String("policy", "", "policy YAML (see provenance.PolicyFile); default: the safe default policy")
	asJSON := fl.Bool("json", false, "print the results as JSON")
	if err := parse(fl, args); err != nil {
		return err
	}
	if fl.NArg() != 1 {
		return usagef("want exactly one output directory, got %d arguments", fl.NArg())
	}
	dir := fl.Arg(0)

	tm := &provenance.TrustedMaterial{}
	if *trustedRoot != "" {
		tr, err := root.NewTrustedRootFromPath(*trustedRoot)
		if err != nil {
			return fmt.Errorf("trusted root %s: %w", *trustedRoot, err)
		}
		tm = provenance.TrustRoot(tr)
	}
	keyPath := *key
	switch {
	case *keyFromDir && (keyPath != "" || *trustedRoot != ""):
		return usagef("--unsafe-key-from-dir excludes --key and --trusted-root")
	case *keyFromDir:
		keyPath = filepath.Join(dir, builddir.PublicKeyFile)
		fmt.Fprintf(e.stderr, "hardvm verify: --unsafe-key-from-dir: trusting %s from the directory itself, which proves integrity, not origin\n", keyPath)
	case keyPath == "" && *trustedRoot == "":
		return usagef("no trust: give --key KEY.pub (a key you trust) or --trusted-root; a key found in %s proves nothing (--unsafe-key-from-dir trusts it anyway)", dir)
	}
	if keyPath != "" {
		b, err := os.ReadFile(keyPath)
		if err != nil {
			return err
		}
		k, err := provenance.ParsePublicKeyPEM(b)
		if err != nil {
			return fmt.Errorf("%s: %w", keyPath, err)
		}
		if tm, err = tm.WithKeys(k); err != nil {
			return err
		}
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

func firstFailure(results []*provenance.Result) error {
	for _, r := range results {
		if f := r.Failed(); len(f) > 0 {
			return f[0].Err
		}
	}
	return nil
}
