package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The agent speaks HTTP/1.1 itself, to link-local metadata servers only:
// one request per connection, no redirects, no proxies, every byte read
// bounded. (net/http would triple the size of the binary every image
// carries, and its proxy and redirect handling are things a metadata
// client must not do.)

// errUnreachable: the server did not answer (connection refused, no
// route, timeout); sources retry until their deadline.
var errUnreachable = errors.New("firstboot: metadata server unreachable")

const maxHeader = 32 << 10

// HTTPClient makes requests to metadata servers.
type HTTPClient struct {
	// Dial opens connections; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds one request (default 5s).
	Timeout time.Duration
}

// httpResponse is a whole response, its body bounded.
type httpResponse struct {
	Status int
	Header textproto.MIMEHeader
	Body   []byte
}

// do sends one request and reads the response, at most max body bytes.
func (c HTTPClient) do(ctx context.Context, method, rawURL string, header [][2]string, body []byte, max int64) (*httpResponse, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%w: metadata URL %q: want http://HOST[:PORT]/PATH", ErrProtocol, rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := c.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", errUnreachable, method, u.Redacted(), err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hardvm-firstboot\r\nConnection: close\r\n", method, u.RequestURI(), u.Host)
	for _, h := range header {
		if strings.ContainsAny(h[0]+h[1], "\r\n") {
			return nil, fmt.Errorf("%w: header %q holds a line break", ErrProtocol, h[0])
		}
		fmt.Fprintf(&req, "%s: %s\r\n", h[0], h[1])
	}
	if body != nil || method == "POST" || method == "PUT" {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", errUnreachable, method, u.Redacted(), err)
	}
	resp, err := readResponse(bufio.NewReader(io.LimitReader(conn, maxHeader+max+64<<10)), method, max)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: %s %s: %v", errUnreachable, method, u.Redacted(), err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	return resp, nil
}

// readResponse parses an HTTP/1.x response with a body of at most max
// bytes (Content-Length, chunked, or up to the end of the connection).
func readResponse(br *bufio.Reader, method string, max int64) (*httpResponse, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, netOr(err, "status line")
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	if proto != "HTTP/1.1" && proto != "HTTP/1.0" || len(code) != 3 {
		return nil, fmt.Errorf("%w: status line %q", ErrProtocol, clip(line))
	}
	status, err := strconv.Atoi(code)
	if err != nil || status < 100 || status > 599 {
		return nil, fmt.Errorf("%w: status %q", ErrProtocol, clip(code))
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, netOr(err, "header")
	}
	resp := &httpResponse{Status: status, Header: hdr}
	if method == "HEAD" || status == 204 || status == 304 || status < 200 {
		return resp, nil
	}
	switch te := strings.ToLower(hdr.Get("Transfer-Encoding")); {
	case te == "chunked":
		resp.Body, err = readChunked(br, max)
	case te != "":
		return nil, fmt.Errorf("%w: transfer encoding %q", ErrProtocol, clip(te))
	case hdr.Get("Content-Length") != "":
		n, perr := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64)
		if perr != nil || n < 0 || len(hdr.Values("Content-Length")) > 1 {
			return nil, fmt.Errorf("%w: Content-Length %q", ErrProtocol, clip(hdr.Get("Content-Length")))
		}
		if n > max {
			return nil, fmt.Errorf("%w: body of %d bytes, at most %d", ErrTooLarge, n, max)
		}
		resp.Body = make([]byte, n)
		if _, err = io.ReadFull(br, resp.Body); err != nil {
			err = netOr(err, "body")
		}
	default:
		resp.Body, err = io.ReadAll(io.LimitReader(br, max+1))
		if err == nil && int64(len(resp.Body)) > max {
			err = fmt.Errorf("%w: body over %d bytes", ErrTooLarge, max)
		}
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func readChunked(br *bufio.Reader, max int64) ([]byte, error) {
	tp := textproto.NewReader(br)
	var out []byte
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return nil, netOr(err, "chunk size")
		}
		sz, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(sz), 16, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: chunk size %q", ErrProtocol, clip(line))
		}
		if n == 0 {
			// Trailers, up to the empty line.
			if _, err := tp.ReadMIMEHeader(); err != nil {
				return nil, netOr(err, "trailer")
			}
			return out, nil
		}
		if int64(len(out))+n > max {
			return nil, fmt.Errorf("%w: chunked body over %d bytes", ErrTooLarge, max)
		}
		start := len(out)
		out = append(out, make([]byte, n)...)
		if _, err := io.ReadFull(br, out[start:]); err != nil {
			return nil, netOr(err, "chunk")
		}
		if crlf, err := tp.ReadLine(); err != nil || crlf != "" {
			return nil, fmt.Errorf("%w: chunk not followed by CRLF", ErrProtocol)
		}
	}
}

// netOr keeps network timeouts recognizable and calls anything else a
// protocol error.
func netOr(err error, what string) error {
	var ne net.Error
	if errors.As(err, &ne) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrProtocol, what, err)
}

// retry calls f until it succeeds, fails with anything but
// errUnreachable, or the deadline passes (then the error wraps
// ErrNoMetadata: no server answered).
func retry(ctx context.Context, deadline time.Duration, f func() error) error {
	end := time.Now().Add(deadline)
	wait := 250 * time.Millisecond
	for {
		err := f()
		if err == nil || !errors.Is(err, errUnreachable) {
			return err
		}
		if !time.Now().Add(wait).Before(end) {
			return fmt.Errorf("%w: %v", ErrNoMetadata, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrNoMetadata, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
