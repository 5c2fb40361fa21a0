// Package apk reads APK repositories as Alpine, Wolfi and Chainguard OS
// publish them, exactly and without trusting them: signed APKINDEX files
// (RSA/SHA-1 and RSA/SHA-256 signatures, one or several signers, checked
// against a caller's [Keyring]), packages (the signature over the control
// stream, the C:Q1 checksum of the index, the datahash of .PKGINFO over the
// data stream), versions compared as apk-tools compares them (package
// apkversion), dependency resolution with provides, conflicts and pinning,
// and the installed database that scanners read (read, like the index,
// with package apkdb).
//
// The package never writes outside what a caller gives it: extraction hands
// each entry of a package to a callback; the caller decides where it goes
// (see image.Build, which installs into an in-memory tree).
package apk
