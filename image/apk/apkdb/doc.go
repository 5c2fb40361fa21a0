// Package apkdb reads the package records of APK's text databases: the
// APKINDEX of a repository and the installed database of a root
// (/usr/lib/apk/db/installed). Both are stanzas of one-letter "K:value"
// lines separated by blank lines, one stanza per package, with its name on
// a P: line and its version on a V: line.
//
// A [Scanner] is the one reader of that format in hardvm: package apk
// builds its index and installed-database types on it, and fips reads the
// installed packages of an image with it. Like apkversion it imports
// nothing of hardvm, so a verifier can read an image's package list
// without compiling the APK resolver and fetcher.
package apkdb
