// Package secdb reads the security databases Alpine and Wolfi publish
// beside their repositories (Alpine's secdb.alpinelinux.org/<release>/
// <repo>.json, Wolfi's packages.wolfi.dev/os/security.json): for each
// package, the versions that fixed security issues and the ids of those
// issues (CVE, GHSA, ...), from the packages[].pkg.secfixes maps that
// abuild and melange write.
//
// A database answers one question, [DB.Fixed]: which issues does
// upgrading a package from one version to another fix? Reading is bounded
// ([MaxSize], [MaxPackages], [MaxIDs]) and refuses malformed input with an
// error wrapping [ErrFormat]. The databases are unsigned: what they say
// orders and explains updates, it never decides what is installed.
package secdb
