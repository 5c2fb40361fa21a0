// Package hardvmtest is test support for programs built on hardvm, in the
// manner of net/http/httptest: what a test, an example or a demo needs to
// build images offline, with nothing beside the repository.
//
// [WriteDemoRepository] writes a signed demo APK repository: packages with
// the names Wolfi gives them and small stand-in contents (a baselayout with
// os-release, a libc, busybox, systemd with its units, OpenSSH, CA
// certificates, a stand-in OpenSSL FIPS provider with its real module
// configuration, and one package per variant: containerd, kubelet, nginx,
// jenkins, squid, a JRE, Python), so that every variant's world resolves.
// The repository is real: signed with RSA-SHA256 as abuild-sign signs,
// packages with control signatures and datahashes. Its contents are not:
// the kernel packages carry no kernel, so images built from it do not
// boot, and publishing one takes hardvm.PublishNotBootableUnsafe.
//
// It lives here, public and documented, because the quickstart (a shipped
// example) and the tests of several packages use it, and because it
// imports what a test-support package may (fips for the provider's module
// configuration, image/apk/apktest for the signing), which no package
// under internal/ does.
package hardvmtest
