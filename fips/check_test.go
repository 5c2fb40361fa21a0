package fips

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCheckPasses(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys func(t *testing.T) fstest.MapFS
	}{
		{"minimal", func(t *testing.T) fstest.MapFS { return fixture(t) }},
		{"with java", func(t *testing.T) fstest.MapFS { return withJava(fixture(t)) }},
		{"shared jitterentropy", func(t *testing.T) fstest.MapFS {
			m := fixture(t)
			edit(t, m, "usr/lib/apk/db/installed", "V:3.6.0-r4\nA:x86_64\nF:usr/lib", "V:3.3.2-r0\nA:x86_64\nF:usr/lib")
			m["usr/lib/libjitterentropy.so.3.6.3"] = &fstest.MapFile{Data: []byte("\x7fELF jent"), Mode: 0o755}
			m["usr/lib/libjitterentropy.so.3"] = &fstest.MapFile{Data: []byte("libjitterentropy.so.3.6.3"), Mode: 0o777 | 1<<27}
			return m
		}},
		{"config behind links", func(t *testing.T) fstest.MapFS {
			// openssl.cnf is an absolute link, resolved inside the image; the
			// include goes through a relative directory link.
			m := fixture(t)
			m["usr/share/ssl/openssl.cnf"] = m["etc/ssl/openssl.cnf"]
			m["etc/ssl/openssl.cnf"] = &fstest.MapFile{Data: []byte("/usr/share/ssl/openssl.cnf"), Mode: 0o777 | 1<<27}
			m["usr/share/fips/fipsmodule.cnf"] = m["etc/ssl/fipsmodule.cnf"]
			delete(m, "etc/ssl/fipsmodule.cnf")
			m["etc/fips"] = &fstest.MapFile{Data: []byte("../usr/share/fips"), Mode: 0o777 | 1<<27}
			edit(t, m, "usr/share/ssl/openssl.cnf", ".include /etc/ssl/fipsmodule.cnf", ".include /etc/fips/fipsmodule.cnf")
			return m
		}},
		{"include directory", func(t *testing.T) fstest.MapFS {
			m := fixture(t)
			m["etc/ssl/fips.d/fipsmodule.cnf"] = m["etc/ssl/fipsmodule.cnf"]
			m["etc/ssl/fips.d/README"] = &fstest.MapFile{Data: []byte("not a config [[["), Mode: 0o644}
			delete(m, "etc/ssl/fipsmodule.cnf")
			edit(t, m, "etc/ssl/openssl.cnf", ".include /etc/ssl/fipsmodule.cnf", ".include = fips.d")
			return m
		}},
		{"OpenSSL 3.0 fipsinstall with install-mac", func(t *testing.T) fstest.MapFS {
			m := fixture(t)
			mac, _ := ModuleMAC(context.Background(), strings.NewReader(installStatus), mustHex(DefaultModuleKey))
			m["etc/ssl/fipsmodule.cnf"].Data = append(m["etc/ssl/fipsmodule.cnf"].Data,
				[]byte("install-mac = "+FormatMAC(mac)+"\ninstall-status = "+installStatus+"\n")...)
			return m
		}},
		{"legacy provider declared, not activated", func(t *testing.T) fstest.MapFS {
			m := fixture(t)
			edit(t, m, "etc/ssl/openssl.cnf", "base = base_sect\n", "base = base_sect\nlegacy = legacy_sect\n\n[legacy_sect]\nidentity = legacy\n")
			return m
		}},
		{"fips=0 and loader entry without fips", func(t *testing.T) fstest.MapFS {
			m := fixture(t)
			m["etc/kernel/cmdline"].Data = []byte("ro fips=0\n")
			m["boot/loader/entries/hardvm.conf"] = &fstest.MapFile{Data: []byte("title hardvm\nlinux /vmlinuz\noptions root=/dev/vda2 ro\n")}
			return m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Check(context.Background(), tc.fsys(t))
			if err != nil {
				t.Fatalf("Check: %v\n%s", err, dump(r))
			}
			if !r.Passed() || r.Err() != nil {
				t.Fatalf("report did not pass:\n%s", r)
			}
			if len(r.Results) != len(checkOrder) {
				t.Fatalf("%d results, want one per check (%d):\n%s", len(r.Results), len(checkOrder), r)
			}
			for i, res := range r.Results {
				if res.Check != checkOrder[i] {
					t.Errorf("result %d is %s, want %s", i, res.Check, checkOrder[i])
				}
			}
			if !slices.ContainsFunc(r.Modules, func(f Found) bool { return f.Module == OpenSSLProvider312 && f.Certificate == "CMVP #4985" }) {
				t.Errorf("modules %+v lack the 3.1.2 provider", r.Modules)
			}
			if len(r.Scope.Excluded) == 0 || !strings.Contains(r.Scope.Excluded[0], "dm-verity") {
				t.Errorf("scope does not exclude kernel crypto: %+v", r.Scope)
			}
		})
	}
}

func mustHex(s string) []byte {
	b, err := ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Each broken image fails its own check, with its own sentinel, naming the
// file and what was expected.
func TestCheckFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(t *testing.T, m fstest.MapFS)
		fails []CheckName
		err   error
		path  string
		got   string
	}{
		{"tampered module byte", func(t *testing.T, m fstest.MapFS) {
			m["usr/lib/ossl-modules/fips.so"].Data[40000] ^= 0x01
		}, []CheckName{CheckProviderMAC}, ErrMAC, "/etc/ssl/fipsmodule.cnf", "module-mac = "},
		{"tampered module-mac", func(t *testing.T, m fstest.MapFS) {
			d := m["etc/ssl/fipsmodule.cnf"].Data
			i := strings.Index(string(d), "module-mac = ") + len("module-mac = ")
			if d[i] == 'A' {
				d[i] = 'B'
			} else {
				d[i] = 'A'
			}
		}, []CheckName{CheckProviderMAC}, ErrMAC, "/etc/ssl/fipsmodule.cnf", ""},
		{"wrong install-mac", func(t *testing.T, m fstest.MapFS) {
			m["etc/ssl/fipsmodule.cnf"].Data = append(m["etc/ssl/fipsmodule.cnf"].Data,
				[]byte("install-mac = 00:11\ninstall-status = "+installStatus+"\n")...)
		}, []CheckName{CheckProviderMAC}, ErrMAC, "/etc/ssl/fipsmodule.cnf", "install-mac = 00:11"},
		{"module missing", func(t *testing.T, m fstest.MapFS) {
			delete(m, "usr/lib/ossl-modules/fips.so")
		}, []CheckName{CheckProviderModule, CheckProviderMAC}, ErrNotFound, "/usr/lib/ossl-modules/fips.so", "not in the image"},
		{"missing include", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", ".include /etc/ssl/fipsmodule.cnf\n", "")
		}, []CheckName{CheckProviderMAC, CheckConfigInclude, CheckConfigProviders}, ErrConfig, "/etc/ssl/openssl.cnf", "no .include"},
		{"include of a missing file", func(t *testing.T, m fstest.MapFS) {
			delete(m, "etc/ssl/fipsmodule.cnf")
		}, []CheckName{CheckProviderMAC, CheckConfigInclude, CheckConfigProviders}, ErrConfig, "/etc/ssl/openssl.cnf", "not in the image"},
		{"second provider activated", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "base = base_sect\n", "base = base_sect\ndefault = default_sect\n\n[default_sect]\nactivate = 1\n")
		}, []CheckName{CheckConfigProviders}, ErrConfig, "/etc/ssl/openssl.cnf", "activated: base, default, fips"},
		{"legacy provider with activate = 0", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "base = base_sect\n", "base = base_sect\nlegacy = legacy_sect\n\n[legacy_sect]\nactivate = 0\n")
		}, []CheckName{CheckConfigProviders}, ErrConfig, "/etc/ssl/openssl.cnf", "activated: base, fips, legacy"},
		{"base not activated", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "[base_sect]\nactivate = 1", "[base_sect]\nactivate = 0")
		}, []CheckName{CheckConfigProviders}, ErrConfig, "/etc/ssl/openssl.cnf", "activated: fips"},
		{"fips preferred, not required", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "default_properties = fips=yes", "default_properties = ?fips=yes")
		}, []CheckName{CheckConfigProperties}, ErrConfig, "/etc/ssl/openssl.cnf", "?fips=yes"},
		{"no default properties", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "alg_section = algorithm_sect\n", "")
		}, []CheckName{CheckConfigProperties}, ErrConfig, "/etc/ssl/openssl.cnf", "no alg_section"},
		{"missing entropy source", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "random = random\n", "")
		}, []CheckName{CheckEntropy}, ErrEntropy, "/etc/ssl/openssl.cnf", "seeds from the kernel"},
		{"seed from the kernel", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "seed = JITTER", "seed = SEED-SRC")
		}, []CheckName{CheckEntropy}, ErrEntropy, "/etc/ssl/openssl.cnf", "seed = SEED-SRC"},
		{"libcrypto without jitter", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "usr/lib/apk/db/installed", "V:3.6.0-r4\nA:x86_64\nF:usr/lib", "V:3.4.0-r1\nA:x86_64\nF:usr/lib")
		}, []CheckName{CheckEntropy}, ErrEntropy, "/usr/lib/libcrypto.so.3", "without jitterentropy"},
		{"java providers in the wrong order", func(t *testing.T, m fstest.MapFS) {
			withJava(m)
			p := "usr/lib/jvm/java-21-openjdk/conf/security/java.security"
			edit(t, m, p, "security.provider.3=SUN", "security.provider.0=SUN")
			edit(t, m, p, "security.provider.1=", "security.provider.5=")
		}, []CheckName{CheckJava}, ErrConfig, "/usr/lib/jvm/java-21-openjdk/conf/security/java.security", "first provider is security.provider.2="},
		{"java provider after SUN", func(t *testing.T, m fstest.MapFS) {
			withJava(m)
			edit(t, m, "usr/lib/jvm/java-21-openjdk/conf/security/java.security", "security.provider.2=org.bouncycastle.jsse", "security.provider.9=org.bouncycastle.jsse")
		}, []CheckName{CheckJava}, ErrConfig, "/usr/lib/jvm/java-21-openjdk/conf/security/java.security", "BCJSSE after a non-FIPS provider"},
		{"java approved-only off", func(t *testing.T, m fstest.MapFS) {
			withJava(m)
			edit(t, m, "usr/lib/jvm/java-21-openjdk/conf/security/java.security", "approved_only=true", "approved_only=false")
		}, []CheckName{CheckJava}, ErrConfig, "/usr/lib/jvm/java-21-openjdk/conf/security/java.security", "approved_only=false"},
		{"java without the bc-fips jar", func(t *testing.T, m fstest.MapFS) {
			withJava(m)
			delete(m, "usr/share/java/bouncycastle-fips/bc-fips-2.1.0.jar")
		}, []CheckName{CheckJava}, ErrConfig, "/usr/lib/jvm/java-21-openjdk/conf/security/java.security", "no bc-fips*.jar"},
		{"fips=1 on the kernel command line", func(t *testing.T, m fstest.MapFS) {
			m["etc/kernel/cmdline"].Data = []byte("root=/dev/vda2 ro fips=1 quiet\n")
		}, []CheckName{CheckKernel}, ErrKernel, "/etc/kernel/cmdline", "fips=1"},
		{"fips=1 in a boot loader entry", func(t *testing.T, m fstest.MapFS) {
			m["boot/loader/entries/hardvm.conf"] = &fstest.MapFile{Data: []byte("title hardvm\noptions root=/dev/vda2 fips=1\n")}
		}, []CheckName{CheckKernel}, ErrKernel, "/boot/loader/entries/hardvm.conf", "fips=1"},
		{"denied package", func(t *testing.T, m fstest.MapFS) {
			m["usr/lib/apk/db/installed"].Data = append(m["usr/lib/apk/db/installed"].Data, []byte("\nP:gnutls\nV:3.8.11-r0\n")...)
		}, []CheckName{CheckDenyList}, ErrDenied, "/usr/lib/apk/db/installed", "gnutls-3.8.11-r0"},
		{"no package database", func(t *testing.T, m fstest.MapFS) {
			delete(m, "usr/lib/apk/db/installed")
			m["usr/lib/libjitterentropy.so.3"] = &fstest.MapFile{Data: []byte("\x7fELF")}
		}, []CheckName{CheckDenyList}, ErrDenied, "/usr/lib/apk/db/installed", "not in the image"},
		{"malformed openssl.cnf", func(t *testing.T, m fstest.MapFS) {
			edit(t, m, "etc/ssl/openssl.cnf", "[provider_sect]", "[provider_sect")
		}, []CheckName{CheckProviderMAC, CheckConfigInclude, CheckConfigProviders, CheckConfigProperties, CheckEntropy}, ErrConfig, "/etc/ssl/openssl.cnf", "openssl.cnf:14: section header without ]"},
		{"no openssl.cnf", func(t *testing.T, m fstest.MapFS) {
			delete(m, "etc/ssl/openssl.cnf")
		}, []CheckName{CheckProviderMAC, CheckConfigInclude, CheckConfigProviders, CheckConfigProperties, CheckEntropy}, ErrConfig, "/etc/ssl/openssl.cnf", "not in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fixture(t)
			tc.mod(t, m)
			r, err := Check(context.Background(), m)
			if r == nil {
				t.Fatalf("no report: %v", err)
			}
			if r.Passed() || err == nil {
				t.Fatalf("broken image passed (err %v):\n%s", err, r)
			}
			if got := failing(r); !slices.Equal(got, tc.fails) {
				t.Fatalf("failing checks %v, want %v:\n%s", got, tc.fails, r)
			}
			if !errors.Is(err, tc.err) || !errors.Is(err, ErrCheck) {
				t.Fatalf("error %v is not %v", err, tc.err)
			}
			// The result of the distinguishing check names file and want.
			var res Result
			for _, c := range r.Results {
				if c.Status == Fail && errors.Is(c.Err(), tc.err) && c.Path == tc.path && strings.Contains(c.Got, tc.got) {
					res = c
				}
			}
			if res.Check == "" {
				t.Fatalf("no failing result for %v on %s:\n%s", tc.err, tc.path, r)
			}
			if res.Want == "" || !strings.Contains(res.Got, tc.got) {
				t.Errorf("result %+v: want a Want and Got containing %q", res, tc.got)
			}
			var ce *CheckError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %s", err, tc.path)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Check(ctx, nil); !errors.Is(err, ErrOption) {
		t.Errorf("nil fs: %v", err)
	}
	for _, opt := range []Option{
		WithOpenSSLConfig("etc/ssl/openssl.cnf"), WithModuleKey("zz"), WithModuleKey("00"),
		WithDenyList("["), WithMaxFileSize(0), WithLogger(nil), WithModulePath(),
		WithKernelCmdline("cmdline"), WithJavaSecurity("java.security"),
	} {
		if _, err := Check(ctx, fixture(t), opt); !errors.Is(err, ErrOption) {
			t.Errorf("bad option: %v", err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Check(cancelled, fixture(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestCheckOptions(t *testing.T) {
	ctx := context.Background()
	m := fixture(t)
	// Another module key: the MAC no longer matches.
	r, err := Check(ctx, m, WithModuleKey(strings.Repeat("ab", 32)))
	if !errors.Is(err, ErrMAC) {
		t.Fatalf("other key: %v\n%s", err, dump(r))
	}
	// Config elsewhere, module named in the provider section.
	m["opt/ssl/openssl.cnf"] = m["etc/ssl/openssl.cnf"]
	delete(m, "etc/ssl/openssl.cnf")
	m["opt/fips/fips.so"] = m["usr/lib/ossl-modules/fips.so"]
	delete(m, "usr/lib/ossl-modules/fips.so")
	m["etc/ssl/fipsmodule.cnf"].Data = append(m["etc/ssl/fipsmodule.cnf"].Data, []byte("module = /opt/fips/fips.so\n")...)
	if r, err := Check(ctx, m, WithOpenSSLConfig("/opt/ssl/openssl.cnf")); err != nil {
		t.Fatalf("config elsewhere: %v\n%s", err, dump(r))
	}
	// A deny-list that names an installed package.
	if _, err := Check(ctx, m, WithOpenSSLConfig("/opt/ssl/openssl.cnf"), WithDenyList("glibc")); !errors.Is(err, ErrDenied) {
		t.Fatalf("deny glibc: %v", err)
	}
	// An extra command line file.
	m["run/cmdline"] = &fstest.MapFile{Data: []byte("fips=1")}
	if _, err := Check(ctx, m, WithOpenSSLConfig("/opt/ssl/openssl.cnf"), WithKernelCmdline("/run/cmdline")); !errors.Is(err, ErrKernel) {
		t.Fatalf("extra cmdline: %v", err)
	}
	// Files above the size bound are findings, not crashes.
	if _, err := Check(ctx, m, WithOpenSSLConfig("/opt/ssl/openssl.cnf"), WithMaxFileSize(64)); !errors.Is(err, ErrConfig) {
		t.Fatalf("tiny bound: %v", err)
	}
}

func TestSymlinkLoop(t *testing.T) {
	m := fixture(t)
	m["etc/ssl/openssl.cnf"] = &fstest.MapFile{Data: []byte("loop.cnf"), Mode: 0o777 | 1<<27}
	m["etc/ssl/loop.cnf"] = &fstest.MapFile{Data: []byte("openssl.cnf"), Mode: 0o777 | 1<<27}
	r, err := Check(context.Background(), m)
	if r == nil || !errors.Is(err, ErrConfig) {
		t.Fatalf("loop: %v", err)
	}
	res, _ := r.Result(CheckConfigInclude)
	if !strings.Contains(res.Got, "symbolic links") {
		t.Errorf("loop result %+v", res)
	}
}
