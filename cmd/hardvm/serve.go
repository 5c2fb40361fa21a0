package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardvm/hardvm/catalog/web"
	"github.com/hardvm/hardvm/provenance"
)

// catalogServe serves a catalog as a read-only web directory (catalog/web).
func newCatalogServeCmd(e *env) *cobra.Command {
	return leaf(e, "catalog serve", "serve the catalog as a read-only web directory", "catalog serve --catalog PATH|oci://HOST/REPO [--addr 127.0.0.1:8080] [--key KEY.pub]... [--trusted-root trusted_root.json] [--policy POLICY.yaml] [--files DIR]... [--insecure]",
		"hardvm catalog serve --catalog quickstart-out/catalog --files quickstart-out --key quickstart-out/qemu/key.pub", func(fs *pflag.FlagSet) runFunc {
			cat := fs.String("catalog", "", "the catalog: a directory or oci://HOST/REPO (required)")
			addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (another interface only when you mean it)")
			var keys, dirs listFlag
			fs.Var(&keys, "key", "public key (PEM) the images are signed with; repeatable")
			trustedRoot := fs.String("trusted-root", "", "Sigstore trusted_root.json for keyless (certificate-signed) bundles")
			policyFile := fs.String("policy", "", "policy YAML (see provenance.PolicyFile); default: the safe default policy")
			fs.Var(&dirs, "files", "directory holding the catalog's disks and attachments (build output directories, a local registrar's directory), found by digest; repeatable")
			insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
			refresh := fs.Duration("refresh", time.Minute, "how often to reload the catalog")
			recheck := fs.Duration("recheck", 10*time.Minute, "how long a verification result is shown before the image is verified again (0: on every visit)")
			return func(ctx context.Context, args []string) error {
				if fs.NArg() > 0 {
					return usagef("unexpected arguments %v", fs.Args())
				}
				if *policyFile != "" && len(keys) == 0 && *trustedRoot == "" {
					return usagef("--policy needs --key or --trusted-root: without them no signature can verify")
				}
				verifier, err := serveVerifier(keys, *trustedRoot, *policyFile)
				if err != nil {
					return err
				}
				store, err := openCatalog(*cat, *insecure)
				if err != nil {
					return err
				}
				defer closeCatalog(store)

				var sources []web.Files
				if repo, ok := strings.CutPrefix(*cat, "oci://"); ok {
					var nopts []name.Option
					if *insecure {
						nopts = append(nopts, name.Insecure)
					}
					r, err := name.NewRepository(repo, nopts...)
					if err != nil {
						return usagef("--catalog: %v", err)
					}
					sources = append(sources, web.RegistryFiles(r))
				}
				if len(dirs) > 0 {
					df, err := web.NewDirFiles(dirs...)
					if err != nil {
						return err
					}
					defer df.Close()
					sources = append(sources, df)
				}
				log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
				opts := []web.Option{web.WithLogger(log), web.WithRefresh(*refresh), web.WithRecheck(*recheck)}
				if verifier != nil {
					opts = append(opts, web.WithVerifier(verifier))
				} else {
					fmt.Fprintln(e.stderr, "hardvm catalog serve: no --key or --trusted-root: the pages show no verification")
				}
				if len(sources) > 0 {
					opts = append(opts, web.WithFiles(web.MultiFiles(sources...)))
				} else {
					fmt.Fprintln(e.stderr, "hardvm catalog serve: no --files: disks and attachments cannot be read, so verifications stay incomplete")
				}
				h, err := web.New(store, opts...)
				if err != nil {
					return err
				}
				if err := h.Refresh(ctx); err != nil {
					return err
				}

				l, err := net.Listen("tcp", *addr)
				if err != nil {
					return usagef("--addr: %v", err)
				}
				if ta, ok := l.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
					fmt.Fprintf(e.stderr, "hardvm catalog serve: listening on %s, beyond this machine\n", ta)
				}
				srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				go h.Run(ctx)
				done := make(chan error, 1)
				go func() { done <- srv.Serve(l) }()
				fmt.Fprintf(e.stdout, "serving %s on http://%s/ (read-only)\n", *cat, l.Addr())
				select {
				case err := <-done:
					return err
				case <-ctx.Done():
				}
				sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer scancel()
				if err := srv.Shutdown(sctx); err != nil {
					return err
				}
				if err := <-done; !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			}
		})
}

// serveVerifier builds the verifier of the flags; nil when no key or
// trusted root is given.
func serveVerifier(keys []string, trustedRoot, policyFile string) (*web.Verifier, error) {
	if len(keys) == 0 && trustedRoot == "" {
		return nil, nil
	}
	tm := &provenance.TrustedMaterial{}
	if trustedRoot != "" {
		tr, err := root.NewTrustedRootFromPath(trustedRoot)
		if err != nil {
			return nil, fmt.Errorf("trusted root %s: %w", trustedRoot, err)
		}
		tm = provenance.TrustRoot(tr)
	}
	for _, k := range keys {
		b, err := os.ReadFile(k)
		if err != nil {
			return nil, usagef("--key: %v", err)
		}
		pub, err := provenance.ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if tm, err = tm.WithKeys(pub); err != nil {
			return nil, err
		}
	}
	policy, err := provenance.NewPolicy()
	if policyFile != "" {
		f, ferr := os.Open(policyFile)
		if ferr != nil {
			return nil, usagef("--policy: %v", ferr)
		}
		policy, err = provenance.ReadPolicy(f)
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", policyFile, err)
	}
	return web.NewVerifier(policy, tm)
}
