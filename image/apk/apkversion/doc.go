// Package apkversion compares APK package versions and matches them
// against version constraints exactly as apk-tools 3 does (src/version.c):
// the one comparison hardvm uses wherever versions meet — the resolver,
// dependency constraints, FIPS module checks, provenance policies and
// catalog deltas. It imports nothing of hardvm, so the catalog can order
// versions without compiling the APK resolver.
//
// Versions follow the grammar apk-tools accepts:
//
//	digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}
//
// A [Constraint] is an operator and a version, as written after a name in
// a dependency: <, <=, =, >=, >, and ~ (the version starts with the given
// one, token by token: 3.6.9 ~ 3.6), also <~ and >~, and apk-tools'
// checksum operator ><.
package apkversion
