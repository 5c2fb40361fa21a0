// Package apktest writes real, signed APK repositories for tests and for
// programs that must run offline (examples/quickstart): packages made of
// three gzip streams (signature, control, data) with RSA-SHA256 signatures
// as abuild-sign makes them, and an APKINDEX.tar.gz signed the same way.
// Keys derive from a seed, so the same inputs write the same bytes.
//
//	repo := apktest.NewRepository(dir, "x86_64", apktest.NewKey("test", 1))
//	repo.Add(apktest.Package{Name: "hello", Version: "1.0-r0", Files: []apktest.File{
//		{Name: "usr/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
//	}})
//	err := repo.Write() // dir/x86_64/{APKINDEX.tar.gz,hello-1.0-r0.apk}, dir/test.rsa.pub
package apktest
