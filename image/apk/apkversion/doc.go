// Package apkversion compares APK package versions exactly as apk-tools 3
// does (src/version.c): the one comparison hardvm uses wherever versions
// meet — the resolver, dependency constraints, FIPS module checks,
// provenance policies and catalog deltas. It imports nothing, so the
// catalog can order versions without compiling the APK resolver.
//
// Versions follow the grammar apk-tools accepts:
//
//	digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}
package apkversion
