// Package fips makes kernel-independent FIPS a checked property of an image.
//
// Kernel-independent FIPS means applications use a validated user-space
// cryptographic module (the OpenSSL 3 FIPS provider, BouncyCastle FIPS for
// Java, Go's FIPS 140-3 module) seeded by a validated user-space entropy source
// (jitterentropy), so the VM needs neither a fips=1 kernel command line nor a
// FIPS-pinned kernel.
//
// [Modules] describes those modules as data, [Providers] says which packages
// carry them, and [Substitutions] (applied by [Select]) says which packages a
// spec with fips: true installs instead of the default ones.
// [Check] proves the property from an image's own files (an [io/fs.FS] of its
// root) and returns a [Report], one [Result] per check. A report is attested
// as an in-toto statement with predicate type [PredicateType].
//
// Scope: the checks cover the user-space module boundary. Kernel crypto (disk
// encryption, IPsec, dm-verity and dm-integrity hashing) is outside it and a
// passing report says nothing about it; [Report.Scope] states this.
//
// Builders of test repositories make a provider's fipsmodule.cnf with
// [ModuleConfig] and a matching openssl.cnf with [OpenSSLConfig]; the CLI
// runs the check as `hardvm fips check ROOTFS.tar`.
//
// Of hardvm, fips imports only the import-free leaves image/apk/apkdb (the
// one reader of the APK installed database) and image/apk/apkversion (the
// one version comparison): every other hardvm package may import it, and
// importing it compiles no builder.
package fips
