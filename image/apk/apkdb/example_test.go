package apkdb_test

import (
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkdb"
)

func Example() {
	db := "P:busybox\nV:1.37.0-r30\nA:x86_64\nF:bin\nR:busybox\n\nP:openssl-provider-fips-3.1.2\nV:3.1.2-r3\n"
	sc := apkdb.NewScanner(strings.NewReader(db))
	for sc.Scan() {
		r := sc.Record()
		fmt.Println(r.Name, r.Version, len(r.Fields), "fields from line", r.Line)
	}
	if err := sc.Err(); err != nil {
		fmt.Println(err)
	}
	sc = apkdb.NewScanner(strings.NewReader("P:busybox\nV:1.37.0-r30\nP:gnutls\nV:3.8.11-r0\n"))
	for sc.Scan() {
	}
	fmt.Println(sc.Err())
	// Output:
	// busybox 1.37.0-r30 5 fields from line 1
	// openssl-provider-fips-3.1.2 3.1.2-r3 2 fields from line 7
	// apkdb: line 3: second P: line in package "busybox" (missing blank line?)
}
