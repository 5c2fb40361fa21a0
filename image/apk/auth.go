package apk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Credentials find the user name and password for a repository host. They
// are asked for each request, so a callback can hand out tokens that
// expire. host is the request's host name, lower case, without the port.
type Credentials interface {
	Credentials(ctx context.Context, host string) (user, password string, ok bool, err error)
}

// CredentialsFunc adapts a function to [Credentials].
type CredentialsFunc func(ctx context.Context, host string) (user, password string, ok bool, err error)

// Credentials calls f.
func (f CredentialsFunc) Credentials(ctx context.Context, host string) (string, string, bool, error) {
	return f(ctx, host)
}

type hostCredentials map[string][2]string

func (h hostCredentials) Credentials(_ context.Context, host string) (string, string, bool, error) {
	c, ok := h[strings.ToLower(host)]
	return c[0], c[1], ok, nil
}

// ParseHTTPAuth parses credentials written as apko reads its HTTP_AUTH
// environment variable: "basic:HOST:USER:PASSWORD", several separated by
// commas. The password may contain colons; HOST is a host name without a
// port. Errors name the entry by position and never repeat its text.
func ParseHTTPAuth(s string) (Credentials, error) {
	h := hostCredentials{}
	for i, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		parts := strings.SplitN(e, ":", 4)
		if len(parts) != 4 || parts[0] != "basic" || parts[1] == "" || parts[2] == "" || strings.ContainsAny(parts[1], "/@") {
			return nil, fmt.Errorf("%w: HTTP_AUTH entry %d: want basic:HOST:USER:PASSWORD", ErrCredentials, i+1)
		}
		h[strings.ToLower(parts[1])] = [2]string{parts[2], parts[3]}
	}
	return h, nil
}

// ParseNetrc reads a netrc file (machine, login, password and default
// entries; macdef bodies are skipped) as curl and apk-tools' libfetch read
// it.
func ParseNetrc(r io.Reader) (Credentials, error) {
	h := hostCredentials{}
	var def *[2]string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var toks []string
	inMacro := false
	for sc.Scan() {
		line := sc.Text()
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		f := strings.Fields(line)
		for i := 0; i < len(f); i++ {
			if strings.HasPrefix(f[i], "#") {
				break
			}
			if f[i] == "macdef" {
				inMacro = true
				break
			}
			toks = append(toks, f[i])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: netrc: %v", ErrCredentials, err)
	}
	var host string
	var cur [2]string
	isDefault := false
	flush := func() {
		if isDefault {
			c := cur
			def = &c
		} else if host != "" {
			h[strings.ToLower(host)] = cur
		}
		host, cur, isDefault = "", [2]string{}, false
	}
	for i := 0; i < len(toks); i++ {
		switch toks[i] {
		case "machine":
			flush()
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("%w: netrc: machine without a name", ErrCredentials)
			}
			i++
			host = toks[i]
		case "default":
			flush()
			isDefault = true
		case "login", "password", "account":
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("%w: netrc: %s without a value", ErrCredentials, toks[i])
			}
			switch toks[i] {
			case "login":
				cur[0] = toks[i+1]
			case "password":
				cur[1] = toks[i+1]
			}
			i++
		}
	}
	flush()
	if def == nil {
		return h, nil
	}
	d := *def
	return CredentialsFunc(func(ctx context.Context, host string) (string, string, bool, error) {
		if u, p, ok, _ := h.Credentials(ctx, host); ok {
			return u, p, true, nil
		}
		return d[0], d[1], true, nil
	}), nil
}

// ChainCredentials asks each of cs in turn and returns the first answer.
func ChainCredentials(cs ...Credentials) Credentials {
	return CredentialsFunc(func(ctx context.Context, host string) (string, string, bool, error) {
		for _, c := range cs {
			if c == nil {
				continue
			}
			u, p, ok, err := c.Credentials(ctx, host)
			if err != nil || ok {
				return u, p, ok, err
			}
		}
		return "", "", false, nil
	})
}

// EnvCredentials returns the credentials the environment gives, as apko
// and apk-tools users give them: the HTTP_AUTH variable first, then the
// netrc file named by NETRC or ~/.netrc when it exists. Without either it
// returns credentials that have none.
func EnvCredentials() (Credentials, error) {
	var cs []Credentials
	if v := os.Getenv("HTTP_AUTH"); v != "" {
		c, err := ParseHTTPAuth(v)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	path := os.Getenv("NETRC")
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".netrc")
		}
	}
	if path != "" {
		f, err := os.Open(path)
		switch {
		case err == nil:
			c, err := ParseNetrc(io.LimitReader(f, 1<<20))
			f.Close()
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%w: netrc: %v", ErrCredentials, err)
		}
	}
	return ChainCredentials(cs...), nil
}

// authTransport adds basic authentication to requests for the hosts the
// credentials name, and to no other: a redirect to another host gets that
// host's credentials or none, and a redirect from https to plain http
// gets none.
type authTransport struct {
	base  http.RoundTripper
	creds Credentials
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return t.base.RoundTrip(req)
	}
	if req.URL.Scheme == "http" && req.Response != nil && req.Response.Request != nil && req.Response.Request.URL.Scheme == "https" {
		return t.base.RoundTrip(req) // downgraded by a redirect: no secrets in the clear
	}
	u, p, ok, err := t.creds.Credentials(req.Context(), strings.ToLower(req.URL.Hostname()))
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: credentials for %s: %v", ErrCredentials, req.URL.Hostname(), err)
	}
	if !ok {
		return t.base.RoundTrip(req)
	}
	r2 := req.Clone(req.Context())
	r2.SetBasicAuth(u, p)
	return t.base.RoundTrip(r2)
}

// WithCredentials sends credentials to the repository hosts they name
// (see [ParseHTTPAuth], [ParseNetrc], [EnvCredentials]), whatever HTTP
// client is used.
func WithCredentials(c Credentials) FetcherOption {
	return func(f *Fetcher) error {
		if c == nil {
			return fmt.Errorf("%w: nil credentials", ErrCredentials)
		}
		f.creds = c
		return nil
	}
}

// checkURL refuses a URL carrying user information, with an error that
// says how to pass credentials and does not repeat them.
func checkURL(u *url.URL) error {
	if u.User == nil {
		return nil
	}
	return fmt.Errorf("%w: %s carries user information; remove it and pass credentials with HTTP_AUTH=basic:%s:USER:PASSWORD, a netrc file, or apk.WithCredentials", ErrCredentialsInURL, Redact(u.String()), u.Hostname())
}

// Redact returns loc without user information, for logs and errors.
func Redact(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		if i := strings.Index(loc, "://"); i >= 0 {
			if at := strings.LastIndex(loc, "@"); at > i {
				return loc[:i+3] + loc[at+1:]
			}
		}
		return loc
	}
	if u.User == nil {
		return loc
	}
	u.User = nil
	return u.String()
}
