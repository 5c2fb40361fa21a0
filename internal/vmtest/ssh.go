package vmtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Key is an SSH key pair for a test login.
type Key struct {
	Signer ssh.Signer
	// Authorized is the public key as an authorized_keys line.
	Authorized string
}

// NewKey makes an Ed25519 key pair.
func NewKey(comment string) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return &Key{Signer: s, Authorized: line}, nil
}

// Session is an SSH connection to a machine.
type Session struct {
	client *ssh.Client
	// HostKey is the key the server proved it holds.
	HostKey ssh.PublicKey
}

// ErrAuth reports a server that refused the login.
var ErrAuth = errors.New("vmtest: SSH login refused")

// Dial logs in to addr as user with auth until it works or ctx is done. A
// refused login while the server answers is returned at once (wrapping
// ErrAuth) when refusalFinal is set; otherwise it is retried until the
// deadline, as a server still starting refuses too.
func Dial(ctx context.Context, addr, user string, refusalFinal bool, auth ...ssh.AuthMethod) (*Session, error) {
	var last error
	for {
		s := &Session{}
		cfg := &ssh.ClientConfig{
			User: user,
			Auth: auth,
			HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
				s.HostKey = key
				return nil
			},
			// The Ed25519 host key, which every hardvm image makes.
			HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
			Timeout:           10 * time.Second,
		}
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			c, chans, reqs, herr := ssh.NewClientConn(conn, addr, cfg)
			if herr == nil {
				_ = conn.SetDeadline(time.Time{})
				s.client = ssh.NewClient(c, chans, reqs)
				return s, nil
			}
			conn.Close()
			err = herr
			if strings.Contains(herr.Error(), "unable to authenticate") {
				err = fmt.Errorf("%w: %v", ErrAuth, herr)
				if refusalFinal {
					return nil, err
				}
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w logging in to %s as %s (last: %v)", ErrTimeout, addr, user, last)
		case <-time.After(time.Second):
		}
	}
}

// Run runs cmd and returns its standard output; an error carries the exit
// status and standard error.
func (s *Session) Run(ctx context.Context, cmd string) (string, error) {
	sess, err := s.client.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("vmtest: %q: %w: %s", cmd, err, strings.TrimSpace(errb.String()))
		}
		return out.String(), nil
	case <-ctx.Done():
		return out.String(), fmt.Errorf("%w running %q", ErrTimeout, cmd)
	}
}

// Close closes the connection.
func (s *Session) Close() error { return s.client.Close() }
