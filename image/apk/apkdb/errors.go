package apkdb

import (
	"errors"
	"fmt"
)

// ErrFormat reports input that does not follow the stanza format: a line
// that is not "K:value", a line longer than [MaxLine], or a stanza without
// exactly one name or without a usable version. Errors of a [Scanner] are
// a [*FormatError] wrapping it, or the reader's own.
var ErrFormat = errors.New("apkdb: malformed input")

// FormatError locates malformed input.
type FormatError struct {
	Line int // 1-based line
	Msg  string
}

func (e *FormatError) Error() string { return fmt.Sprintf("apkdb: line %d: %s", e.Line, e.Msg) }

// Unwrap returns [ErrFormat].
func (e *FormatError) Unwrap() error { return ErrFormat }
