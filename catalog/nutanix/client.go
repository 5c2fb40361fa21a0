package nutanix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hardvm/hardvm/catalog"
)

// client speaks Prism Central's v3 REST API.
type client struct {
	base     string // https://pc:9440
	user     string
	password string
	http     *http.Client
	retries  int
	backoff  time.Duration
}

// retryable reports the statuses the v3 API documents as transient: too
// many requests and the gateway/service unavailable answers.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do sends a request made by mk (called again for each attempt, so bodies
// are fresh) and decodes a JSON answer into out. idempotent requests are
// retried on network errors too.
func (c *client) do(ctx context.Context, method, path string, idempotent bool, mk func() (io.Reader, int64, http.Header), out any) error {
	var last error
	for attempt := 0; attempt <= c.retries; attempt++ {
		if attempt > 0 {
			d := c.backoff << (attempt - 1)
			select {
			case <-ctx.Done():
				return errors.Join(ctx.Err(), last)
			case <-time.After(d):
			}
		}
		body, n, hdr := mk()
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
		if err != nil {
			return fmt.Errorf("nutanix: %w", err)
		}
		if body != nil {
			req.ContentLength = n
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if req.Header.Get("Content-Type") == "" && body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth(c.user, c.password)
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = fmt.Errorf("nutanix: %s %s: %w", method, path, err)
			// A body refused as it was read (its digest is wrong) would
			// be refused again.
			if idempotent && !errors.Is(err, catalog.ErrRejected) {
				continue
			}
			return last
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			last = fmt.Errorf("nutanix: %s %s: %w", method, path, err)
			continue
		}
		if resp.StatusCode >= 300 {
			last = &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: message(b)}
			if retryable(resp.StatusCode) {
				continue
			}
			return last
		}
		if out != nil && len(b) > 0 {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("nutanix: %s %s: answer: %w", method, path, err)
			}
		}
		return nil
	}
	return last
}

// message extracts message_list[].message of a v3 error answer.
func message(b []byte) string {
	var e struct {
		MessageList []struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
		} `json:"message_list"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.MessageList) > 0 {
		var ms []string
		for _, m := range e.MessageList {
			ms = append(ms, strings.TrimSpace(m.Reason+" "+m.Message))
		}
		return strings.Join(ms, "; ")
	}
	return strings.TrimSpace(string(b[:min(len(b), 512)]))
}

func jsonBody(v any) func() (io.Reader, int64, http.Header) {
	b, _ := json.Marshal(v)
	return func() (io.Reader, int64, http.Header) { return bytes.NewReader(b), int64(len(b)), nil }
}

// task is a v3 task's state.
type task struct {
	Status             string `json:"status"` // QUEUED, RUNNING, SUCCEEDED, FAILED, ABORTED
	PercentageComplete int    `json:"percentage_complete"`
	ErrorDetail        string `json:"error_detail"`
	ProgressMessage    string `json:"progress_message"`
}

// wait polls the task until it ends.
func (c *client) wait(ctx context.Context, uuid string, every time.Duration) error {
	for {
		var t task
		if err := c.do(ctx, http.MethodGet, "/api/nutanix/v3/tasks/"+uuid, true, noBody, &t); err != nil {
			return err
		}
		switch t.Status {
		case "SUCCEEDED":
			return nil
		case "FAILED", "ABORTED":
			return fmt.Errorf("%w: task %s %s: %s", ErrTask, uuid, t.Status, t.ErrorDetail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

func noBody() (io.Reader, int64, http.Header) { return nil, 0, nil }
