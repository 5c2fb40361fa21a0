package factory

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// StartServer starts a NATS server with JetStream in this process,
// storing in dir. With listen "" it opens no port (connect with [Connect]);
// otherwise it listens on listen ("127.0.0.1:4222", or port 0 for any),
// so that workers in other processes can connect to its ClientURL. Stop it
// with Shutdown and WaitForShutdown.
func StartServer(dir, listen string) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "hardvm-factory", JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true, MaxPayload: 2 * MaxJobSize,
	}
	if listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("%w: listen %q: %v", ErrServer, listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("%w: listen %q: port", ErrServer, listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrServer, err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("%w: not ready after 30s", ErrServer)
	}
	return s, nil
}

// Connect connects to s in-process (it works with or without a port).
func Connect(s *server.Server, name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(s), nats.Name(name))
	if err != nil {
		return nil, fmt.Errorf("%w: connect: %w", ErrServer, err)
	}
	return nc, nil
}
