package agent

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func parse(s string, max int64) (*httpResponse, error) {
	return readResponse(bufio.NewReader(strings.NewReader(s)), "GET", max)
}

func TestReadResponse(t *testing.T) {
	ok := map[string]string{
		"length":     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"chunked":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: x\r\n\r\n",
		"until EOF":  "HTTP/1.0 200 OK\r\n\r\nhello",
		"bare LF":    "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
		"no reason":  "HTTP/1.1 200\r\nContent-Length: 5\r\n\r\nhello",
		"extra data": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
	}
	for name, s := range ok {
		r, err := parse(s, 100)
		if err != nil || r.Status != 200 || string(r.Body) != "hello" {
			t.Errorf("%s: %+v %v", name, r, err)
		}
	}
	if r, err := parse("HTTP/1.1 204 No Content\r\n\r\n", 10); err != nil || r.Status != 204 || len(r.Body) != 0 {
		t.Errorf("204: %+v %v", r, err)
	}
	bad := map[string]error{
		"not http":                 ErrProtocol,
		"HTTP/2 200\r\n\r\n":       ErrProtocol,
		"HTTP/1.1 2000 OK\r\n\r\n": ErrProtocol,
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n":                       ErrProtocol,
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab": ErrProtocol,
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort":                  ErrProtocol,
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n":                     ErrTooLarge,
		"HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 101):                  ErrTooLarge,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n":                  ErrProtocol,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n":         ErrProtocol,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n":         ErrTooLarge,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc":       ErrProtocol,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab":        ErrProtocol,
		"HTTP/1.1 200 OK\r\nX: y":                                             ErrProtocol,
	}
	for s, want := range bad {
		if _, err := parse(s, 100); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", s, err, want)
		}
	}
}

// Against Go's own server: what the agent sends is a request net/http
// parses (method, path, query, headers, body), and Go's chunked answers
// come back whole.
func TestClientAgainstNetHTTP(t *testing.T) {
	big := strings.Repeat("0123456789", 10000)
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/a/b" || r.URL.Query().Get("comp") != "health" || r.Header.Get("X-Test") != "1" || r.Host == "" {
			http.Error(w, "bad request line or headers", 400)
			return
		}
		body := make([]byte, 10)
		n, _ := r.Body.Read(body)
		if string(body[:n]) != "ping" {
			http.Error(w, "bad body", 400)
			return
		}
		w.Write([]byte(big)) // no Content-Length: net/http chunks it
		w.(http.Flusher).Flush()
	}))
	r, err := HTTPClient{}.do(context.Background(), "POST", url+"/a/b?comp=health", [][2]string{{"X-Test", "1"}}, []byte("ping"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || string(r.Body) != big {
		t.Errorf("status %d, %d bytes", r.Status, len(r.Body))
	}
	if _, err := (HTTPClient{}).do(context.Background(), "GET", url+"/a/b", [][2]string{{"X", "a\r\nInjected: 1"}}, nil, 10); !errors.Is(err, ErrProtocol) {
		t.Errorf("header injection: %v", err)
	}
	for _, u := range []string{"https://169.254.169.254/", "http://user:pw@h/", "ftp://h/", "::"} {
		if _, err := (HTTPClient{}).do(context.Background(), "GET", u, nil, nil, 10); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// A server that accepts and never answers is unreachable after the
// per-request timeout, and retry turns that into no metadata.
func TestClientTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c := HTTPClient{Timeout: 200 * time.Millisecond}
	err = retry(context.Background(), 300*time.Millisecond, func() error {
		_, err := c.do(context.Background(), "GET", "http://"+l.Addr().String()+"/", nil, nil, 10)
		return err
	})
	if !errors.Is(err, ErrNoMetadata) {
		t.Errorf("%v, want ErrNoMetadata", err)
	}
}
