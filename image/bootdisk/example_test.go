package bootdisk_test

import (
	"fmt"

	"github.com/hardvm/hardvm/image/bootdisk"
)

func ExampleParseOSRelease() {
	m := bootdisk.ParseOSRelease("# os-release(5)\nID=wolfi\nPRETTY_NAME=\"Wolfi\"\nVERSION_ID='20230201'\n")
	fmt.Println(m["ID"], m["PRETTY_NAME"], m["VERSION_ID"])
	// Output: wolfi Wolfi 20230201
}
