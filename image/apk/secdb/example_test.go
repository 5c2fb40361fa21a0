package secdb_test

import (
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/image/apk/secdb"
)

func ExampleDB_Fixed() {
	db, err := secdb.Read(strings.NewReader(`{"reponame":"os","packages":[
	  {"pkg":{"name":"busybox","secfixes":{"1.36.1-r2":["CVE-2023-42363"],"1.36.1-r7":["CVE-2023-42365 CVE-2023-42366"]}}}]}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(db.Fixed("busybox", "1.36.1-r1", "1.36.1-r7"))
	fmt.Println(db.Fixed("busybox", "1.36.1-r2", "1.36.1-r6"))
	// Output:
	// [CVE-2023-42363 CVE-2023-42365 CVE-2023-42366]
	// []
}
