package webtest_test

import (
	"fmt"
	"image"
	"image/color"

	"github.com/hardvm/hardvm/catalog/web/webtest"
)

// A white page is blank; a page with text on it is not.
func ExampleBlank() {
	page := image.NewRGBA(image.Rect(0, 0, 100, 100))
	for y := range 100 {
		for x := range 100 {
			page.Set(x, y, color.White)
		}
	}
	blank, why := webtest.Blank(page)
	fmt.Println(blank, why)
	for y := 10; y < 30; y++ { // "text": strokes in a few greys
		for x := 10; x < 90; x += 2 {
			page.Set(x, y, color.Gray{Y: uint8(x * 2)})
		}
	}
	blank, why = webtest.Blank(page)
	fmt.Println(blank, why)
	// Output:
	// true 1 colours, 0 of 10000 pixels not background
	// false 41 colours, 800 of 10000 pixels not background
}
