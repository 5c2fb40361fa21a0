package epoch

import (
	"fmt"
	"time"
)

func ExampleClamp() {
	e := int64(1763856000)
	fmt.Println(Clamp(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), e))
	fmt.Println(Clamp(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), e))
	fmt.Println(Clamp(time.Time{}, e).Equal(Time(e)))
	// Output:
	// 2025-11-23 00:00:00 +0000 UTC
	// 2020-01-01 00:00:00 +0000 UTC
	// true
}
