// Package agent is the library behind hardvm's first-boot agent
// (../agentprog): it reads a machine's configuration from its platform's
// metadata source and applies it.
//
// Sources (see [NewSource]):
//
//   - nocloud: cloud-init's NoCloud, a volume labelled CIDATA (vfat or
//     iso9660, read by this package's own bounded parsers, no mount) with
//     meta-data (instance-id, local-hostname, public-keys) and user-data
//     (#cloud-config: ssh_authorized_keys, users[].ssh_authorized_keys,
//     hostname).
//   - configdrive: the OpenStack config drive, a volume labelled config-2
//     with openstack/latest/meta_data.json and user_data.
//   - ec2: IMDSv2 only: PUT /latest/api/token, then every GET with the token.
//   - gce: the Compute Engine metadata server (Metadata-Flavor: Google).
//   - azure: IMDS (Metadata: true) for the name and keys, then the wire
//     server's Health report (Ready), which completes provisioning.
//   - guestinfo: VMware guestinfo.metadata/userdata. Read from QEMU's
//     fw_cfg (opt/org.hardvm/guestinfo.*) or, on VMware, through the
//     vmware-rpctool program of open-vm-tools when the image carries it:
//     this package does not speak the VMware backdoor itself.
//
// [Apply] writes what a source found: the kernel hostname (sethostname;
// /etc is never written), the login user's authorized_keys under
// [AuthorizedKeysDir] (root-owned, so only metadata decides who logs in),
// and the user data and a summary under [RunDir] for the variant's
// services.
//
// Every read is bounded, nothing secret (tokens, user data, keys) is
// logged, and errors wrap the sentinels in errors.go.
package agent
