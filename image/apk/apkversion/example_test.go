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

func ExampleParseConstraint() {
	c, err := apkversion.ParseConstraint("~3.13")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c, c.Match("3.13.1-r0"), c.Match("3.14.0-r0"))
	_, err = apkversion.ParseConstraint("!=3.13")
	fmt.Println(err)
	// Output:
	// ~3.13 true false
	// apkversion: invalid constraint: "!=3.13" does not start with an operator (<, <=, =, >=, >, ~)
}
