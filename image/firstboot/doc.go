// Package firstboot puts hardvm's first-boot agent into images and writes
// the NoCloud seeds that configure machines started from them.
//
// An image's configuration step installs what [Files] returns (the agent
// at [ProgramPath], its unit [UnitName], and for VMware a modules-load.d
// file) and enables [UnitName]. At every boot, after the writable /var is
// mounted and before sshd, the agent reads the platform's metadata (the
// sources of vm.Platform.Metadata, in order: NoCloud, ConfigDrive, EC2
// IMDSv2, GCE, Azure IMDS with the wire server's ready report, VMware
// guestinfo) and applies:
//
//   - the host name: the kernel's (sethostname), never /etc, which stays
//     read-only and verified;
//   - the login user's SSH keys, exactly those in the metadata, to
//     [AuthorizedKeysDir]/USER/authorized_keys (root-owned), so sshd_config
//     must say "AuthorizedKeysFile /var/lib/hardvm/ssh/%u/authorized_keys"
//     ([AuthorizedKeysFile]);
//   - the user data, to [UserDataFile] for the variant's services, with a
//     summary in [InstanceFile].
//
// A container host ([WithContainerHost]: the host, ecs and eks variants)
// also gets its container runtime configured from the user data, under
// /var/lib/hardvm: containerd's registry mirrors and credentials and
// Docker's insecure registries from a #hardvm-config document, the ECS
// agent's ecs.config from ECS_CLUSTER=… lines, the kubelet's
// configuration from an EKS NodeConfig (see [ParseContainerUserData]).
// User data that does not parse or names an unknown key is refused
// whole, logged, and fails the unit after the host name and keys were
// applied.
//
// A machine with no metadata boots: the agent logs it and exits 0, and
// nobody can log in with SSH. A source that is present but malformed
// fails the unit (the machine still boots; systemctl shows it).
//
// The agent is a static Go program (image/firstboot/internal/agentprog)
// built reproducibly by `go generate ./image/firstboot` for amd64 and
// arm64 and embedded here; a test rebuilds it and compares the bytes.
//
// [WriteNoCloudSeed] writes the volume `hardvm run --ssh-key` attaches: a
// FAT file system labelled CIDATA with meta-data and user-data, as
// cloud-init and the agent read it.
package firstboot
