package nutanix

import (
	"errors"
	"fmt"
)

var (
	// ErrOption reports an invalid option or configuration.
	ErrOption = errors.New("nutanix: invalid option")
	// ErrTask reports a Prism task that failed or was aborted.
	ErrTask = errors.New("nutanix: task failed")
	// ErrLocation reports a catalog location this package did not make.
	ErrLocation = errors.New("nutanix: not a nutanix location")
)

// APIError is an answer of Prism Central other than success.
type APIError struct {
	Method, Path string
	Status       int
	Message      string // the message_list of the answer, or its body
}

func (e *APIError) Error() string {
	return fmt.Sprintf("nutanix: %s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}
