package secdb

import "errors"

// ErrFormat reports a security database that is not the JSON the Alpine
// and Wolfi databases are, or that exceeds a bound.
var ErrFormat = errors.New("secdb: malformed security database")
