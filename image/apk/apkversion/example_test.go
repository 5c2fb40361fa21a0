package apkversion_test

import (
	"fmt"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

func ExampleCompare() {
	fmt.Println(apkversion.Compare("1.2.10-r0", "1.2.9-r3"))
	fmt.Println(apkversion.Compare("1.0_rc1", "1.0"))
	fmt.Println(apkversion.Valid("2.41-r55"), apkversion.Valid("1.0-beta"))
	// Output:
	// 1
	// -1
	// true false
}
