package progress

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestCounterReportsAll(t *testing.T) {
	var last int64
	calls := 0
	c := NewCounter(Func(func(stage string, done, total int64) { last = done; calls++ }), "copy", 10<<20)
	n, err := io.Copy(io.Discard, Reader(bytes.NewReader(make([]byte, 10<<20)), c))
	if err != nil || n != 10<<20 {
		t.Fatal(n, err)
	}
	c.Done()
	if last != 10<<20 || calls < 3 || calls > 200 {
		t.Errorf("last %d after %d calls", last, calls)
	}
}

func ExampleWriter() {
	c := NewCounter(Func(func(stage string, done, total int64) { fmt.Println(stage, done, total) }), "write", 5)
	io.Copy(Writer(io.Discard, c), strings.NewReader("hello"))
	c.Done()
	// Output:
	// write 0 5
	// write 5 5
}
