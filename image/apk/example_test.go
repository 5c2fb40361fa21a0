package apk_test

import (
	"fmt"

	"github.com/hardvm/hardvm/image/apk"
)

func ExampleCompareVersions() {
	fmt.Println(apk.CompareVersions("1.2.10-r0", "1.2.9-r3"))
	fmt.Println(apk.CompareVersions("1.0_rc1", "1.0"))
	fmt.Println(apk.ValidVersion("2.41-r55"), apk.ValidVersion("1.0-beta"))
	// Output:
	// 1
	// -1
	// true false
}
