package firstboot_test

import (
	"errors"
	"fmt"

	"github.com/hardvm/hardvm/image/firstboot"
)

// An ECS host's user data as ECS users write it is accepted; a typo in a
// key is refused with the key named.
func ExampleParseContainerUserData() {
	_, err := firstboot.ParseContainerUserData("ecs", []byte("ECS_CLUSTER=prod\nECS_ENABLE_TASK_IAM_ROLE=true\n"))
	fmt.Println(err)
	_, err = firstboot.ParseContainerUserData("ecs", []byte("ECS_CLUSTER=prod\nECS_CLUSTRE=typo\n"))
	fmt.Println(errors.Is(err, firstboot.ErrUserData))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// firstboot: user data refused: ecs.config line 2: ECS_CLUSTRE is not an ecs.config key the ECS agent documents
}
