// Command agentprog is hardvm's first-boot agent, installed in images as
// /usr/lib/hardvm/firstboot and run once per boot by
// hardvm-firstboot.service before sshd. It reads the machine's metadata
// from the platform's sources and applies the host name, the login
// user's SSH keys and the user data (see package ../agent).
//
// Usage:
//
//	firstboot --source nocloud[,configdrive...] [--user ops]
//	          [--endpoint http://169.254.169.254] [--wireserver http://168.63.129.16]
//	          [--deadline 60s] [--wait 3s] [--root /] [--devices FILE,...]
//	          [--containers host|ecs|eks]
//
// With --containers the machine is a container host: the user data also
// configures containerd (registries), the ECS agent (ecs.config) or the
// kubelet (an EKS NodeConfig), under /var/lib/hardvm (see
// agent.ApplyContainers). User data that is refused leaves that
// configuration alone, is logged, and makes the exit status 1 after the
// host name and keys were applied.
//
// Exit status: 0 when metadata was applied or no source had any (the
// machine boots without SSH access), 1 when a source was present but
// broken or applying failed, 2 on a usage error.
//
// It is built reproducibly by `go generate ./image/firstboot` and embedded
// in package firstboot; see ../../generate.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hardvm/hardvm/image/firstboot/internal/agent"
	"golang.org/x/sys/unix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, func(name string) error { return unix.Sethostname([]byte(name)) })
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer, sethostname func(string) error) int {
	fs := flag.NewFlagSet("firstboot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sources []string
	fs.Func("source", "metadata source, in order (repeatable or comma-separated): "+strings.Join(agent.SourceNames(), ", "), func(s string) error {
		for _, n := range strings.Split(s, ",") {
			if n = strings.TrimSpace(n); n != "" {
				sources = append(sources, n)
			}
		}
		return nil
	})
	var c agent.SourceConfig
	fs.StringVar(&c.User, "user", "", "login user whose authorized_keys the metadata sets (none: keys are not installed)")
	fs.StringVar(&c.Endpoint, "endpoint", agent.DefaultEndpoint, "metadata server base URL")
	fs.StringVar(&c.WireServer, "wireserver", agent.DefaultWireServer, "Azure wire server base URL")
	fs.DurationVar(&c.Deadline, "deadline", 60*time.Second, "how long a metadata server may take to answer")
	fs.DurationVar(&c.Wait, "wait", 3*time.Second, "how long to wait for a metadata volume to appear")
	root := fs.String("root", "/", "apply to this root (not / only in tests: the host name is then left alone)")
	containers := fs.String("containers", "", "the container host kind whose configuration the user data sets: host, ecs or eks")
	devices := fs.String("devices", "", "comma-separated block devices or image files to search for metadata volumes instead of /sys/class/block")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || len(sources) == 0 {
		fmt.Fprintln(stderr, "firstboot: want at least one --source and no arguments")
		return 2
	}
	if *containers != "" && !agent.ValidHostKind(agent.HostKind(*containers)) {
		fmt.Fprintf(stderr, "firstboot: --containers %q: want host, ecs or eks\n", *containers)
		return 2
	}
	if c.User != "" && !agent.ValidUser(c.User) {
		fmt.Fprintf(stderr, "firstboot: --user %q is not a valid user name\n", c.User)
		return 2
	}
	// The journal stamps the time; keep the lines short.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	c.Log = log
	if *devices != "" {
		c.Devices = agent.FileDevices(strings.Split(*devices, ",")...)
	}
	cfg := agent.Config{Target: agent.Target{Root: *root, User: c.User}, Log: log}
	if *root == "/" {
		cfg.Target.SetHostname = sethostname
	}
	for _, n := range sources {
		s, err := agent.NewSource(n, c)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		cfg.Sources = append(cfg.Sources, s)
	}
	md, err := agent.Run(ctx, cfg)
	switch {
	case errors.Is(err, agent.ErrNoMetadata):
		log.Warn("no metadata: the machine boots without SSH keys from metadata", "reason", err.Error())
		if *containers != "" {
			if err := agent.EnsureContainerDefaults(*root, agent.HostKind(*containers)); err != nil {
				log.Error("container host defaults", "err", err.Error())
				return 1
			}
		}
		return 0
	case err != nil:
		log.Error("first boot configuration failed", "err", err.Error())
		return 1
	}
	log.Info("first boot configuration applied", "source", md.Source)
	if *containers != "" {
		if err := agent.ApplyContainers(*root, agent.HostKind(*containers), md.UserData, log); err != nil {
			log.Error("container host configuration from user data refused; containerd and Docker start with an earlier boot's configuration or the defaults", "err", err.Error())
			return 1
		}
	}
	return 0
}
