package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// resolvedPackage is one line of `hardvm resolve`.
type resolvedPackage struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Repository string `json:"repository"`
	Checksum   string `json:"checksum"`
}

func init() {
	addCommand(newResolveCmd)
}

// runResolve prints the set of packages a world resolves to, from the
// repositories' indexes alone (no package is downloaded), with the
// resolver `install` and `build` use. Credentials come from HTTP_AUTH or a
// netrc file, never from flags or URLs.
func newResolveCmd(e *env) *cobra.Command {
	return leaf(e, "resolve", "print the packages a world resolves to, from the indexes alone",
		"resolve --repository [@TAG=]URL_OR_DIR... --keyring KEY.rsa.pub... --arch ARCH [--json] [--cache DIR] PACKAGE...",
		"hardvm resolve --repository https://apk.cgr.dev/chainguard --keyring chainguard.rsa.pub --arch x86_64 --json chainguard-baselayout busybox\n  (credentials for a private repository: HTTP_AUTH=basic:apk.cgr.dev:USER:TOKEN or a ~/.netrc entry, never in the URL)", func(fl *pflag.FlagSet) runFunc {
			var repos, keys multiFlag
			fl.Var(&repos, "repository", "APK repository: http(s) URL, file:// URL or directory; @TAG=URL for a tagged one that only PKG@TAG entries use (repeatable, in priority order)")
			fl.Var(&keys, "keyring", "public key trusted to sign indexes (repeatable)")
			arch := fl.String("arch", "", "architecture: x86_64 or aarch64 (required)")
			asJSON := fl.Bool("json", false, "print the packages as JSON")
			cache := fl.String("cache", "", "cache directory: indexes are fetched again only when they changed")
			verbose := fl.BoolP("verbose", "v", false, "log the indexes fetched to stderr")
			return func(ctx context.Context, args []string) error {
				if fl.NArg() == 0 {
					return usagef("name at least one package")
				}
				if len(repos) == 0 {
					return usagef("give at least one --repository")
				}
				a, err := vm.ParseArch(*arch)
				if err != nil {
					return usageError{err}
				}
				spec := vm.Spec{Arch: a, Packages: fl.Args()}
				for _, r := range repos {
					tag := ""
					if strings.HasPrefix(r, "@") {
						t, u, ok := strings.Cut(r[1:], "=")
						if !ok || t == "" || u == "" {
							return usagef("--repository %q: want @TAG=URL", apk.Redact(r))
						}
						tag, r = t, u
					}
					spec.Repositories = append(spec.Repositories, vm.Repository{URL: repoURL(r), Tag: tag})
				}
				lock, _, _, err := e.resolve(ctx, spec, keys, *verbose, *cache)
				if err != nil {
					return err
				}
				out := make([]resolvedPackage, 0, len(lock.Packages))
				for _, p := range lock.Packages {
					out = append(out, resolvedPackage{Name: p.Name, Version: p.Version, Repository: p.Repository, Checksum: p.Checksum})
				}
				if *asJSON {
					return writeJSONOut(e.stdout, out)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tREPOSITORY\tCHECKSUM")
				for _, p := range out {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Repository, p.Checksum)
				}
				return tw.Flush()
			}
		})
}
