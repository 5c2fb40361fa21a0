package hardvmtest_test

import (
	"fmt"
	"os"

	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/vm"
)

func ExampleWriteDemoRepository() {
	dir, _ := os.MkdirTemp("", "hardvmtest")
	defer os.RemoveAll(dir)
	repo, err := hardvmtest.WriteDemoRepository(dir, vm.X86_64, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(repo.Family, len(repo.Keys))
	// Output: wolfi 1
}
