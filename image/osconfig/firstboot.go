package osconfig

import (
	"io/fs"

	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/vm"
)

// firstbootAgent installs the first-boot agent (package image/firstboot)
// for the spec's platform and architecture and enables its unit: at every
// boot it reads the platform's metadata and sets the hostname and the
// spec's first user's SSH keys. A spec without a platform (a tree
// configured on its own, in tests) gets no agent.
func (s *state) firstbootAgent(spec vm.Spec, cfg *vm.Configuration) error {
	if spec.Platform == "" {
		return nil
	}
	p, err := vm.LookupPlatform(spec.Platform)
	if err != nil {
		return wrap(err)
	}
	var opts []firstboot.Option
	if len(spec.Users) > 0 {
		opts = append(opts, firstboot.WithUser(spec.Users[0].Name))
	}
	// A container host's containerd, ECS agent and kubelet are configured
	// from user data by the agent (drop-ins and /etc/ecs/ecs.config point
	// at /var/lib/hardvm).
	if v, err := vm.LookupVariant(spec.Variant); err == nil && v.Family == vm.ContainerHost {
		opts = append(opts, firstboot.WithContainerHost(v.Name))
	}
	files, err := firstboot.Files(spec.Arch, p, opts...)
	if err != nil {
		return wrap(err)
	}
	for _, f := range files {
		if f.Mode&fs.ModeSymlink != 0 {
			if err := s.symlink(string(f.Data), f.Path); err != nil {
				return err
			}
			continue
		}
		if err := s.write(f.Path, f.Data, f.Mode); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, u := range cfg.Units {
		seen[u] = true
	}
	if err := s.enable(firstboot.UnitName, seen, &cfg.Units); err != nil {
		return err
	}
	cfg.Firstboot = &vm.FirstbootAgent{Unit: firstboot.UnitName, Program: "/" + firstboot.ProgramPath, Sources: p.Metadata}
	if len(spec.Users) > 0 {
		cfg.Firstboot.User = spec.Users[0].Name
	}
	return nil
}
