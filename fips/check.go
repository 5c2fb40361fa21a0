package fips

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
)

// Check proves from the files of an image's root file system that the image
// is FIPS without depending on its kernel. It runs every check and returns a
// [Report] with one [Result] each, in the order of the Check* constants:
//
//   - the OpenSSL FIPS provider module is present, and the module-mac in its
//     fipsmodule.cnf equals the HMAC-SHA256 of the module under the FIPS
//     module key (the integrity check `openssl fipsinstall` records);
//   - openssl.cnf includes that fipsmodule.cnf, activates the fips and base
//     providers and no other, and sets fips=yes as the default property;
//   - the jitter entropy source is the seed source and its library is present;
//   - java.security (if the image has a JDK) lists the BouncyCastle FIPS
//     providers first, with approved-only mode on;
//   - no kernel command line of the image sets fips=1;
//   - no package of the deny-list of non-validated crypto libraries is
//     installed (from the APK installed database).
//
// If a check fails, Check returns the report and an error joining a
// [*CheckError] per failing check (each errors.Is [ErrCheck] and its own
// sentinel: [ErrMAC], [ErrConfig], [ErrEntropy], [ErrKernel], [ErrDenied] or
// [ErrNotFound]). Other errors (bad options, I/O, ctx) return no report.
func Check(ctx context.Context, root fs.FS, opts ...Option) (*Report, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: nil root file system", ErrOption)
	}
	c := &checker{fsys: root, o: o}
	r := &Report{Scope: DefaultScope()}
	steps := []func(context.Context) ([]Result, error){
		c.installed, // first: the package database feeds the module list
		c.openssl,
		c.entropy,
		c.java,
		c.kernel,
		c.denied,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := step(ctx)
		if err != nil {
			return nil, err
		}
		r.Results = append(r.Results, res...)
	}
	r.Results = orderResults(r.Results)
	r.Modules = c.found
	for _, res := range r.Results {
		c.o.log.Debug("fips check", slog.String("check", string(res.Check)), slog.String("status", string(res.Status)),
			slog.String("path", res.Path), slog.String("got", res.Got))
	}
	return r, r.failures()
}

// failures is Err without the "no check passed" case: nil when nothing failed.
func (r *Report) failures() error {
	var errs []error
	for _, c := range r.Results {
		if err := c.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && !r.Passed() {
		return fmt.Errorf("%w: no check passed", ErrCheck)
	}
	return errors.Join(errs...)
}

// checkOrder is the order of results in a report.
var checkOrder = []CheckName{
	CheckProviderModule, CheckProviderMAC, CheckConfigInclude, CheckConfigProviders,
	CheckConfigProperties, CheckEntropy, CheckJava, CheckKernel, CheckDenyList,
}

func orderResults(rs []Result) []Result {
	slices.SortStableFunc(rs, func(a, b Result) int {
		return slices.Index(checkOrder, a.Check) - slices.Index(checkOrder, b.Check)
	})
	return rs
}

// checker holds what the checks of one Check learn about the image; the
// context is passed to each check.
type checker struct {
	fsys     fs.FS
	o        options
	pkgs     []installed
	dbPath   string
	dbErr    error
	found    []Found
	cnf      *opensslConfig
	cnfErr   error
	fipsSect *cnfSection
}

func pass(c CheckName, p, got string) Result {
	return Result{Check: c, Status: Pass, Path: p, Got: got}
}

func fail(c CheckName, p, want, got string) Result {
	return Result{Check: c, Status: Fail, Path: p, Want: want, Got: got}
}

// ioErr returns err unless it says the file is missing, too large or
// malformed: those are findings about the image, not failures to look.
func ioErr(err error) error {
	if err == nil || notExist(err) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrParse) {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil // a path the image cannot resolve (a dangling or looping link)
	}
	return err
}

func describe(err error) string {
	if notExist(err) {
		return "not in the image"
	}
	return err.Error()
}

// installed reads the APK installed database and records the FIPS modules
// its packages provide. It adds no result of its own.
func (c *checker) installed(context.Context) ([]Result, error) {
	c.dbPath = installedDBs[0]
	for _, p := range installedDBs {
		data, err := readFile(c.fsys, p, c.o.maxFile*16)
		if notExist(err) {
			c.dbErr = err
			continue
		}
		if err := ioErr(err); err != nil {
			return nil, err
		}
		c.dbPath, c.dbErr = p, err
		if err != nil {
			break
		}
		c.pkgs, c.dbErr = parseInstalled(p, data)
		break
	}
	for _, p := range c.pkgs {
		if m, ok := providerOf(p.Name, p.Version); ok {
			f := Found{Module: m.Name, Package: p.Name, Version: p.Version, Certificate: m.Certificate}
			for _, file := range m.Files {
				if exists(c.fsys, file) {
					f.Path = file
					break
				}
			}
			c.found = append(c.found, f)
		}
	}
	return nil, nil
}

func (c *checker) installedPkg(name string) (installed, bool) {
	for _, p := range c.pkgs {
		if p.Name == name {
			return p, true
		}
	}
	return installed{}, false
}

// openssl runs the provider and configuration checks.
func (c *checker) openssl(ctx context.Context) ([]Result, error) {
	conf := c.o.opensslConf
	c.cnf, c.cnfErr = parseOpenSSLConfig(ctx, c.fsys, conf, c.o.maxFile)
	if err := ioErr(c.cnfErr); err != nil {
		return nil, err
	}
	var out []Result
	init := c.cnf.section(c.value("default", "openssl_conf"))
	provSect := c.cnf.section(valueOf(init, "providers"))
	fipsName := valueOf(provSect, "fips")
	c.fipsSect = c.cnf.section(fipsName)
	if c.fipsSect == nil && c.cnf != nil {
		// Without a provider section, find the fipsmodule.cnf by its MAC.
		for _, name := range sortedKeys(c.cnf.Sections) {
			if s := c.cnf.Sections[name]; s.File != conf {
				if _, ok := s.Values["module-mac"]; ok {
					c.fipsSect = s
					break
				}
			}
		}
	}

	// The configuration includes the provider's fipsmodule.cnf.
	const wantInclude = ".include of the provider's fipsmodule.cnf, defining its section with module-mac"
	switch {
	case c.cnfErr != nil:
		out = append(out, fail(CheckConfigInclude, conf, wantInclude, describe(c.cnfErr)))
	case c.fipsSect != nil && c.fipsSect.File != conf && hasKey(c.fipsSect, "module-mac"):
		out = append(out, pass(CheckConfigInclude, conf, ".include "+c.fipsSect.File))
	default:
		got := "no .include directive"
		if fipsName == "" {
			got += " and no fips provider in the provider section"
		}
		for _, inc := range c.cnf.Includes {
			if inc.Err != nil {
				got = fmt.Sprintf(".include %s (line %d of %s): %s", inc.Path, inc.Line, inc.From, describe(inc.Err))
				break
			}
			got = ".include " + inc.Path + " defines no section with module-mac"
			if fipsName != "" {
				got = fmt.Sprintf(".include %s does not define [%s] with module-mac", inc.Path, fipsName)
			}
		}
		out = append(out, fail(CheckConfigInclude, conf, wantInclude, got))
	}

	// The module is present and its MAC matches.
	res, err := c.moduleMAC(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, res...)

	// Providers: fips and base activated, no other.
	const wantProviders = "providers fips and base activated, and no other"
	switch {
	case c.cnfErr != nil:
		out = append(out, fail(CheckConfigProviders, conf, wantProviders, describe(c.cnfErr)))
	case init == nil:
		out = append(out, fail(CheckConfigProviders, conf, wantProviders,
			"no openssl_conf = SECTION in the default section: libcrypto loads the default provider"))
	case provSect == nil:
		out = append(out, fail(CheckConfigProviders, conf, wantProviders,
			fmt.Sprintf("no providers = SECTION in [%s]: libcrypto loads the default provider", init.Name)))
	default:
		// fips and base must be switched on as libcrypto 3.2+ reads
		// "activate"; any other provider with an activate line counts as
		// active, since libcrypto 3.0 activates on the key whatever its value.
		var active []string
		for _, name := range provSect.Keys {
			s := c.cnf.section(provSect.Values[name].Value)
			v, ok := s.get("activate")
			if ok && (truthy(v) || (name != "fips" && name != "base")) {
				active = append(active, name)
			}
		}
		slices.Sort(active)
		got := "activated: " + strings.Join(active, ", ")
		if len(active) == 0 {
			got = "none activated"
		}
		if slices.Equal(active, []string{"base", "fips"}) {
			out = append(out, pass(CheckConfigProviders, conf, got))
		} else {
			out = append(out, fail(CheckConfigProviders, conf, wantProviders, got))
		}
	}

	// Default properties: fips=yes required.
	const wantProps = "default_properties = fips=yes in the alg_section"
	alg := c.cnf.section(valueOf(init, "alg_section"))
	props, hasProps := alg.get("default_properties")
	switch {
	case c.cnfErr != nil:
		out = append(out, fail(CheckConfigProperties, conf, wantProps, describe(c.cnfErr)))
	case alg == nil:
		out = append(out, fail(CheckConfigProperties, conf, wantProps, "no alg_section"))
	case !hasProps:
		out = append(out, fail(CheckConfigProperties, conf, wantProps, fmt.Sprintf("[%s] has no default_properties", alg.Name)))
	case !requiresFIPS(props):
		out = append(out, fail(CheckConfigProperties, conf, wantProps, "default_properties = "+props))
	default:
		out = append(out, pass(CheckConfigProperties, conf, "default_properties = "+props))
	}
	return out, nil
}

// moduleMAC checks the provider module's presence and MAC.
func (c *checker) moduleMAC(ctx context.Context) ([]Result, error) {
	candidates := c.o.modulePaths
	if m, ok := c.fipsSect.get("module"); ok {
		candidates = []string{m}
	}
	modPath := ""
	for _, p := range candidates {
		if path.IsAbs(p) && exists(c.fsys, p) {
			modPath = p
			break
		}
	}
	var out []Result
	const wantModule = "the OpenSSL FIPS provider module (fips.so)"
	if modPath == "" {
		out = append(out, fail(CheckProviderModule, candidates[0], wantModule, "not in the image"))
	} else {
		got := "present"
		for _, f := range c.found {
			if strings.HasPrefix(f.Module, "openssl-fips-provider") {
				got = fmt.Sprintf("present, from %s %s (%s)", f.Package, f.Version, f.Certificate)
			}
		}
		out = append(out, pass(CheckProviderModule, modPath, got))
	}

	const wantMAC = "module-mac equal to the HMAC-SHA256 of the module under the FIPS module key"
	if c.fipsSect == nil || !hasKey(c.fipsSect, "module-mac") {
		p := "/etc/ssl/fipsmodule.cnf"
		if c.fipsSect != nil {
			p = c.fipsSect.File
		}
		return append(out, fail(CheckProviderMAC, p, wantMAC, "no fipsmodule.cnf with module-mac included by "+c.o.opensslConf)), nil
	}
	cnfPath := c.fipsSect.File
	recorded, err := ParseMAC(c.fipsSect.Values["module-mac"].Value)
	if err != nil {
		return append(out, fail(CheckProviderMAC, cnfPath, wantMAC, err.Error())), nil
	}
	if modPath == "" {
		return append(out, fail(CheckProviderMAC, cnfPath, wantMAC, "module not in the image")), nil
	}
	f, _, err := open(c.fsys, modPath)
	if err != nil {
		return nil, fmt.Errorf("fips: open %s: %w", modPath, err)
	}
	defer f.Close()
	mac, err := ModuleMAC(ctx, f, c.o.moduleKey)
	if err != nil {
		return nil, fmt.Errorf("fips: read %s: %w", modPath, err)
	}
	if !equalMAC(mac, recorded) {
		return append(out, fail(CheckProviderMAC, cnfPath, wantMAC+" ("+FormatMAC(mac)+" for "+modPath+")",
			"module-mac = "+FormatMAC(recorded))), nil
	}
	// fipsinstall of OpenSSL 3.0 also records that the self-tests ran.
	if v, ok := c.fipsSect.get("install-mac"); ok {
		im, err := ParseMAC(v)
		want, _ := ModuleMAC(ctx, strings.NewReader(installStatus), c.o.moduleKey)
		status, _ := c.fipsSect.get("install-status")
		if err != nil || !equalMAC(im, want) || status != installStatus {
			return append(out, fail(CheckProviderMAC, cnfPath,
				"install-status = "+installStatus+" and install-mac its HMAC ("+FormatMAC(want)+")",
				"install-status = "+status+", install-mac = "+v)), nil
		}
	}
	return append(out, pass(CheckProviderMAC, cnfPath, "module-mac = "+FormatMAC(mac)+" for "+modPath)), nil
}

func equalMAC(a, b []byte) bool { return len(a) == len(b) && string(a) == string(b) }

// requiresFIPS reports whether a property query makes fips=yes mandatory:
// a clause "fips=yes" or "fips" (not "?fips=yes", which only prefers it).
func requiresFIPS(q string) bool {
	ok := false
	for _, clause := range strings.Split(q, ",") {
		clause = strings.ToLower(strings.Join(strings.Fields(clause), ""))
		switch clause {
		case "fips=yes", "fips", "fips=true":
			ok = true
		case "fips=no", "-fips", "fips!=yes", "?fips=yes", "?fips", "fips=false":
			return false
		}
	}
	return ok
}

// entropy checks that OpenSSL seeds from the jitter entropy source and that
// the source's code is in the image.
func (c *checker) entropy(context.Context) ([]Result, error) {
	conf := c.o.opensslConf
	const want = "seed = JITTER in the random section of openssl_init, and the jitterentropy library " +
		"(libjitterentropy.so.3, or libcrypto3 >= 3.4.0-r2 which links it in)"
	if c.cnfErr != nil {
		return []Result{fail(CheckEntropy, conf, want, describe(c.cnfErr))}, nil
	}
	init := c.cnf.section(c.value("default", "openssl_conf"))
	rnd := c.cnf.section(valueOf(init, "random"))
	seed, _ := rnd.get("seed")
	switch {
	case init == nil:
		return []Result{fail(CheckEntropy, conf, want, "no openssl_conf section")}, nil
	case rnd == nil:
		return []Result{fail(CheckEntropy, conf, want, fmt.Sprintf("no random = SECTION in [%s]: libcrypto seeds from the kernel", init.Name))}, nil
	case !strings.EqualFold(strings.TrimSpace(seed), "JITTER"):
		got := fmt.Sprintf("[%s] has no seed: libcrypto seeds from the kernel", rnd.Name)
		if seed != "" {
			got = fmt.Sprintf("[%s] seed = %s", rnd.Name, seed)
		}
		return []Result{fail(CheckEntropy, conf, want, got)}, nil
	}
	// The library: a shared jitterentropy, or a libcrypto that links it.
	for _, g := range []string{"/usr/lib/libjitterentropy.so*", "/lib/libjitterentropy.so*", "/usr/lib64/libjitterentropy.so*"} {
		if m := glob(c.fsys, g); len(m) > 0 {
			return []Result{pass(CheckEntropy, m[0], "seed = JITTER; "+m[0])}, nil
		}
	}
	if p, ok := c.installedPkg("libcrypto3"); ok {
		if _, mod := providerOf(p.Name, p.Version); mod && exists(c.fsys, "/usr/lib/libcrypto.so.3") {
			return []Result{pass(CheckEntropy, "/usr/lib/libcrypto.so.3", "seed = JITTER; libcrypto3 "+p.Version+" links jitterentropy")}, nil
		}
		return []Result{fail(CheckEntropy, "/usr/lib/libcrypto.so.3", want, "libcrypto3 "+p.Version+" without jitterentropy, and no libjitterentropy.so")}, nil
	}
	return []Result{fail(CheckEntropy, "/usr/lib/libjitterentropy.so.3", want, "seed = JITTER but no jitterentropy library in the image")}, nil
}

// java checks every java.security of the image.
func (c *checker) java(context.Context) ([]Result, error) {
	files := c.o.javaSecurity
	if files == nil {
		seen := map[string]bool{}
		for _, g := range javaSecurityGlobs {
			for _, p := range glob(c.fsys, g) {
				r, err := resolve(c.fsys, p)
				if err != nil || seen[r] {
					continue
				}
				seen[r] = true
				files = append(files, p)
			}
		}
	}
	hasJavaModule := slices.ContainsFunc(c.found, func(f Found) bool { return strings.HasPrefix(f.Module, "bouncycastle") })
	const want = "security.provider.1 = " + bcFIPSProvider + ", BouncyCastle FIPS providers before any other, " +
		approvedOnlyKey + "=true, and a bc-fips jar"
	if len(files) == 0 {
		if hasJavaModule {
			return []Result{fail(CheckJava, javaSecurityGlobs[0], want, "BouncyCastle FIPS installed but no java.security")}, nil
		}
		return []Result{{Check: CheckJava, Status: NotApplicable, Got: "no JDK (no java.security) in the image"}}, nil
	}
	for _, f := range files {
		data, err := readFile(c.fsys, f, c.o.maxFile)
		if err := ioErr(err); err != nil {
			return nil, err
		}
		if err != nil {
			return []Result{fail(CheckJava, f, want, describe(err))}, nil
		}
		props, err := ParseProperties(f, data)
		if err != nil {
			return []Result{fail(CheckJava, f, want, err.Error())}, nil
		}
		if problem := checkJavaSecurity(props); problem != "" {
			return []Result{fail(CheckJava, f, want, problem)}, nil
		}
	}
	jar := c.findJar()
	if jar == "" {
		return []Result{fail(CheckJava, files[0], want, "no bc-fips*.jar under "+strings.Join(bcFIPSJarDirs, " or "))}, nil
	}
	return []Result{pass(CheckJava, files[0], fmt.Sprintf("%d java.security file(s) put BCFIPS first, approved-only; %s", len(files), jar))}, nil
}

// findJar looks for the BouncyCastle FIPS jar.
func (c *checker) findJar() string {
	found := ""
	for _, dir := range bcFIPSJarDirs {
		r, err := resolve(c.fsys, dir)
		if err != nil {
			continue
		}
		_ = fs.WalkDir(c.fsys, fsPath(r), func(p string, d fs.DirEntry, err error) error {
			if err != nil || found != "" {
				return fs.SkipDir
			}
			if ok, _ := path.Match("bc-fips*.jar", d.Name()); ok && !d.IsDir() {
				found = "/" + p
				return fs.SkipAll
			}
			return nil
		})
		if found != "" {
			break
		}
	}
	if found != "" {
		if !slices.ContainsFunc(c.found, func(f Found) bool { return strings.HasPrefix(f.Module, "bouncycastle-fips") }) {
			c.found = append(c.found, Found{Module: "bouncycastle-fips", Path: found})
		}
	}
	return found
}

// denied checks the installed packages against the deny-list.
func (c *checker) denied(context.Context) ([]Result, error) {
	want := "no installed package matching " + strings.Join(c.o.deny, " ")
	if c.dbErr != nil {
		return []Result{fail(CheckDenyList, c.dbPath, want+" (from the APK installed database)", describe(c.dbErr))}, nil
	}
	var bad []string
	for _, p := range c.pkgs {
		if _, ok := match(c.o.deny, p.Name); ok {
			bad = append(bad, p.Name+"-"+p.Version)
		}
	}
	if len(bad) > 0 {
		return []Result{fail(CheckDenyList, c.dbPath, want, "installed: "+strings.Join(bad, ", "))}, nil
	}
	return []Result{pass(CheckDenyList, c.dbPath, fmt.Sprintf("%d packages, none denied", len(c.pkgs)))}, nil
}

func (c *checker) value(sect, key string) string {
	v, _ := c.cnf.section(sect).get(key)
	return v
}

func valueOf(s *cnfSection, key string) string {
	v, _ := s.get(key)
	return v
}

func hasKey(s *cnfSection, key string) bool {
	_, ok := s.get(key)
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
