package gcp

// The Cloud Storage JSON API and the Compute Engine v1 REST API, spoken
// directly over net/http: the few calls the registrar makes do not need
// the generated SDKs, which link gRPC, OpenTelemetry and dozens of
// megabytes of code into every program that imports this package.

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultStorageEndpoint is the Cloud Storage JSON API's base URL.
	DefaultStorageEndpoint = "https://storage.googleapis.com"
	// DefaultComputeEndpoint is the Compute Engine v1 API's base URL.
	DefaultComputeEndpoint = "https://compute.googleapis.com/compute/v1"
	// Scope is the OAuth 2.0 scope the registrar's HTTP client needs
	// (Compute Engine images and Cloud Storage objects).
	Scope = "https://www.googleapis.com/auth/cloud-platform"
)

// maxResponse bounds every JSON response read (an image, an operation, an
// IAM policy, an object's metadata, an error).
const maxResponse = 4 << 20

// client calls the two APIs with an HTTP client that carries the
// credentials (an oauth2 transport).
type client struct {
	hc      *http.Client
	storage *url.URL // base: scheme://host[/prefix]
	compute string   // base, without a trailing slash
	retry   retryPolicy
}

// retryPolicy is Google's documented retry strategy: truncated exponential
// backoff with jitter, for 408, 429 and 5xx answers and transport errors,
// of requests that are idempotent.
type retryPolicy struct {
	initial, max time.Duration
	attempts     int
}

var defaultRetry = retryPolicy{initial: time.Second, max: 32 * time.Second, attempts: 8}

func newClient(hc *http.Client, storage, compute string, rp retryPolicy) (*client, error) {
	su, err := url.Parse(strings.TrimSuffix(storage, "/"))
	if err != nil || (su.Scheme != "https" && su.Scheme != "http") || su.Host == "" {
		return nil, fmt.Errorf("%w: storage endpoint %q is not an http(s) URL", ErrConfig, storage)
	}
	cu, err := url.Parse(compute)
	if err != nil || (cu.Scheme != "https" && cu.Scheme != "http") || cu.Host == "" {
		return nil, fmt.Errorf("%w: compute endpoint %q is not an http(s) URL", ErrConfig, compute)
	}
	return &client{hc: hc, storage: su, compute: strings.TrimSuffix(compute, "/"), retry: rp}, nil
}

// retryable reports whether an answer with this status may succeed when
// sent again.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// transient reports whether a transport error (no answer) may be retried:
// not when the caller's context ended.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ue *url.Error // every client error is one: look inside
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error // connection refused or reset, timeouts; not TLS or credential errors
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// sleep waits for the attempt-th backoff (attempt ≥ 1), full jitter, or
// until ctx ends.
func (p retryPolicy) sleep(ctx context.Context, attempt int) error {
	d := p.initial << min(attempt-1, 20)
	if d > p.max || d <= 0 {
		d = p.max
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// call is one JSON request: method, URL, a body to encode (nil: none) and
// where to decode the answer (nil: discard it).
type call struct {
	method, url string
	in, out     any
	// idempotent calls are retried (GETs, DELETEs, and mutations that
	// carry a requestId the server deduplicates).
	idempotent bool
}

// do sends c and decodes the answer; an error answer is an *APIError.
func (cl *client) do(ctx context.Context, c call) error {
	var body []byte
	if c.in != nil {
		var err error
		if body, err = json.Marshal(c.in); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, c.method, c.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if c.in != nil {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		resp, err := cl.hc.Do(req)
		if err != nil {
			if c.idempotent && attempt+1 < cl.retry.attempts && transient(ctx, err) {
				if serr := cl.retry.sleep(ctx, attempt+1); serr != nil {
					return serr
				}
				continue
			}
			return err
		}
		err = decodeResponse(resp, c.out)
		var ae *APIError
		if c.idempotent && attempt+1 < cl.retry.attempts && errors.As(err, &ae) && retryable(ae.StatusCode) {
			if serr := cl.retry.sleep(ctx, attempt+1); serr != nil {
				return serr
			}
			continue
		}
		return err
	}
}

// decodeResponse reads at most maxResponse bytes of resp's body, closes it,
// and decodes a 2xx answer into out or an error answer into an *APIError.
func decodeResponse(resp *http.Response, out any) error {
	defer resp.Body.Close()
	b, err := readBounded(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseAPIError(resp.StatusCode, b)
	}
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 && resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: HTTP %d: %v", ErrResponse, resp.StatusCode, err)
	}
	return nil
}

// readBounded reads r whole if it has at most maxResponse bytes.
func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxResponse+1))
	if err != nil {
		return b, fmt.Errorf("gcp: reading the response: %w", err)
	}
	if len(b) > maxResponse {
		return b[:maxResponse], fmt.Errorf("%w: longer than %d bytes", ErrResponse, maxResponse)
	}
	return b, nil
}

// parseAPIError maps an error answer to an *APIError: Google's JSON error
// body when there is one, the HTTP status text otherwise.
func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	var doc struct {
		Error json.RawMessage `json:"error"`
	}
	var ge struct {
		Message string `json:"message"`
		Status  string `json:"status"`
		Errors  []struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && json.Unmarshal(doc.Error, &ge) == nil {
		e.Message, e.Status = ge.Message, ge.Status
		if len(ge.Errors) > 0 {
			e.Reason = ge.Errors[0].Reason
			if e.Message == "" {
				e.Message = ge.Errors[0].Message
			}
		}
	} else if json.Unmarshal(doc.Error, &e.Message) != nil { // OAuth: {"error": "invalid_grant"}
		e.Message = ""
	}
	e.Message = cleanMessage(e.Message)
	e.Status = cleanMessage(e.Status)
	e.Reason = cleanMessage(e.Reason)
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// requestID returns a random UUID (version 4) for Compute Engine's
// requestId parameter: the server runs a mutation carrying one at most
// once, so it can be retried.
func requestID() string {
	var b [16]byte
	crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// withQuery appends query parameters to u.
func withQuery(u string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return u + "?" + q.Encode()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
