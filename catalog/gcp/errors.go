package gcp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

var (
	// ErrConfig reports an invalid registrar option. An artifact the
	// registrar refuses is a *catalog.ArtifactError (catalog.ErrRejected).
	ErrConfig = errors.New("gcp: invalid configuration")
	// ErrOperation reports a Compute Engine operation (an image insert,
	// delete or deprecation) that ended with an error.
	ErrOperation = errors.New("gcp: operation failed")
	// ErrUpload reports a Cloud Storage upload the server answered in a way
	// the protocol does not allow (a session on another host, a committed
	// offset that goes backwards or past what was sent), or whose stored
	// object does not have the size and checksums of the bytes sent (the
	// object is then deleted).
	ErrUpload = errors.New("gcp: upload failed")
	// ErrResponse reports a response that is not what the API documents
	// (not JSON, too large, a required field missing).
	ErrResponse = errors.New("gcp: malformed response")
)

// APIError is an error answered by a Google Cloud API: the HTTP status and
// the documented JSON error body ({"error": {"code", "message", "status",
// "errors": [{"reason", "message"}]}}), its message shortened and stripped
// of control characters.
type APIError struct {
	// StatusCode is the HTTP status code (404, 409, 429, 503, ...).
	StatusCode int
	// Status is the canonical status name ("NOT_FOUND"), if given.
	Status string
	// Reason is the first error's reason ("notFound", "conflict"), if given.
	Reason string
	// Message is the server's message.
	Message string
}

// Error returns the status, the reason and the message.
func (e *APIError) Error() string {
	s := fmt.Sprintf("gcp: HTTP %d", e.StatusCode)
	if e.Reason != "" {
		s += " " + e.Reason
	} else if e.Status != "" {
		s += " " + e.Status
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// maxMessage bounds an error message taken from a response.
const maxMessage = 512

// cleanMessage returns s without control characters, at most maxMessage
// bytes long (cut at a rune boundary).
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(s)
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}
