// Package osconfig configures the operating system of an image at build
// time, in place of the package install scripts hardvm never runs (as apko
// never runs them): it is the step between installing packages and making
// the read-only root.
//
// [Apply] works on a [Tree] (image.Rootfs satisfies it through an adapter
// in package image) and is driven by package vm's tables — the variant, its
// family's hardening baseline, the system accounts with their fixed IDs:
//
//   - users and groups for the variant's services and the spec's login
//     users, in /etc/passwd, /etc/group and /etc/shadow, with fixed IDs
//     (reproducible builds) and no usable password; groups and allowed
//     accounts that packages declare in sysusers.d are created too;
//   - the variant's units enabled as `systemctl enable` would (aliases
//     resolved: Debian's ssh.service is sshd.service), prompts that would
//     block a headless boot masked;
//   - systemd-networkd with DHCP on the first Ethernet interface;
//   - the writable state: /var is its own ext4 partition (fstab, grown to
//     the disk by systemd-repart and systemd-growfs), /home lives on it,
//     /tmp is a tmpfs; what packages ship under /var is kept in
//     /usr/share/factory/var and copied by systemd-tmpfiles, with the
//     directories install scripts would have made;
//   - /etc/machine-id left empty so that systemd makes it per machine at
//     boot, and SSH host keys made at first boot under /var/lib/ssh by
//     hardvm-ssh-keygen@.service, sshd ordered after them and after the
//     first-boot agent (package image/firstboot, installed and enabled for
//     the spec's platform), which sets the hostname and the spec's first
//     user's SSH keys from the platform's metadata;
//   - the hardening baseline: sysctls, mount options, the SSH server's
//     settings (keys only, no root login).
//
// /etc stays part of the verified root: nothing here expects to write it at
// boot. Apply returns what it applied as a vm.Configuration, which the
// build records in the lock and the provenance.
package osconfig
