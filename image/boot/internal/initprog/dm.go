package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// superblock is the veritysetup (format 1) superblock at the start of the
// hash partition.
type superblock struct {
	algorithm     string
	dataBlockSize uint32
	hashBlockSize uint32
	dataBlocks    uint64
	salt          []byte
}

func readSuperblock(dev string) (superblock, error) {
	f, err := os.Open(dev)
	if err != nil {
		return superblock{}, err
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := io.ReadFull(f, b); err != nil {
		return superblock{}, fmt.Errorf("reading the verity superblock of %s: %w", dev, err)
	}
	return parseSuperblock(b)
}

func parseSuperblock(b []byte) (superblock, error) {
	le := binary.LittleEndian
	if len(b) < 512 || string(b[:8]) != "verity\x00\x00" {
		return superblock{}, fmt.Errorf("no verity superblock")
	}
	if v, t := le.Uint32(b[8:]), le.Uint32(b[12:]); v != 1 || t != 1 {
		return superblock{}, fmt.Errorf("verity superblock version %d hash type %d, want 1 and 1", v, t)
	}
	sb := superblock{
		algorithm:     strings.TrimRight(string(b[32:64]), "\x00"),
		dataBlockSize: le.Uint32(b[64:]),
		hashBlockSize: le.Uint32(b[68:]),
		dataBlocks:    le.Uint64(b[72:]),
	}
	saltSize := int(le.Uint16(b[80:]))
	if saltSize > 256 {
		return superblock{}, fmt.Errorf("verity superblock: salt of %d bytes", saltSize)
	}
	sb.salt = append([]byte(nil), b[88:88+saltSize]...)
	for _, bs := range []uint32{sb.dataBlockSize, sb.hashBlockSize} {
		if bs < 512 || bs > 1<<20 || bs&(bs-1) != 0 {
			return superblock{}, fmt.Errorf("verity superblock: block size %d", bs)
		}
	}
	switch sb.algorithm {
	case "sha256", "sha512":
	default:
		return superblock{}, fmt.Errorf("verity superblock: algorithm %q", sb.algorithm)
	}
	if sb.dataBlocks == 0 || sb.dataBlocks > 1<<40 {
		return superblock{}, fmt.Errorf("verity superblock: %d data blocks", sb.dataBlocks)
	}
	return sb, nil
}

// verityTable is the dm-verity target line: the hash tree starts one hash
// block into the hash device, after the superblock.
func verityTable(data, hash string, sb superblock, rootHash string) string {
	salt := "-"
	if len(sb.salt) > 0 {
		salt = hex.EncodeToString(sb.salt)
	}
	return fmt.Sprintf("1 %s %s %d %d %d 1 %s %s %s",
		data, hash, sb.dataBlockSize, sb.hashBlockSize, sb.dataBlocks, sb.algorithm, rootHash, salt)
}

// Device-mapper ioctl interface (linux/dm-ioctl.h).
const (
	dmIoctlSize     = 312 // sizeof(struct dm_ioctl)
	dmTargetSize    = 40  // sizeof(struct dm_target_spec)
	dmReadonlyFlag  = 1 << 0
	dmDevCreate     = 3
	dmDevSuspend    = 6
	dmTableLoad     = 9
	dmNameLen       = 128
	dmUUIDLen       = 129
	dmIoctlBase     = 0xC0000000 | dmIoctlSize<<16 | 0xfd<<8 // _IOWR(0xfd, nr, struct dm_ioctl)
	dmControlDevice = "/dev/mapper/control"
)

// dmIoctl builds a struct dm_ioctl for name, followed by payload.
func dmIoctl(name, uuid string, flags, targets uint32, payload []byte) []byte {
	size := (dmIoctlSize + len(payload) + 7) &^ 7
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 4) // version 4.0.0
	le.PutUint32(b[12:], uint32(size))
	le.PutUint32(b[16:], dmIoctlSize) // data_start
	le.PutUint32(b[20:], targets)
	le.PutUint32(b[28:], flags)
	copy(b[48:48+dmNameLen-1], name)
	copy(b[48+dmNameLen:48+dmNameLen+dmUUIDLen-1], uuid)
	copy(b[dmIoctlSize:], payload)
	return b
}

// dmTarget builds a struct dm_target_spec with its parameter string.
func dmTarget(start, length uint64, typ, params string) []byte {
	n := (dmTargetSize + len(params) + 1 + 7) &^ 7
	b := make([]byte, n)
	le := binary.LittleEndian
	le.PutUint64(b[0:], start)
	le.PutUint64(b[8:], length)
	le.PutUint32(b[20:], uint32(n)) // next
	copy(b[24:24+15], typ)
	copy(b[dmTargetSize:], params)
	return b
}

func dmCall(fd int, nr uintptr, buf []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), dmIoctlBase|nr, uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

// createVerity creates the read-only dm-verity device name over data and
// hash and returns the path of its device node.
func createVerity(name, data, hash string, sb superblock, rootHash string) (string, error) {
	if len(rootHash) != 2*digestSize(sb.algorithm) {
		return "", fmt.Errorf("roothash has %d hex digits, %s needs %d", len(rootHash), sb.algorithm, 2*digestSize(sb.algorithm))
	}
	if err := ensureControl(); err != nil {
		return "", err
	}
	fd, err := unix.Open(dmControlDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", dmControlDevice, err)
	}
	defer unix.Close(fd)
	uuid := "HARDVM-VERITY-" + name
	if err := dmCall(fd, dmDevCreate, dmIoctl(name, uuid, 0, 0, nil)); err != nil {
		return "", fmt.Errorf("device-mapper: creating %s: %w", name, err)
	}
	sectors := sb.dataBlocks * uint64(sb.dataBlockSize) / 512
	table := verityTable(data, hash, sb, rootHash)
	if err := dmCall(fd, dmTableLoad, dmIoctl(name, "", dmReadonlyFlag, 1, dmTarget(0, sectors, "verity", table))); err != nil {
		return "", fmt.Errorf("device-mapper: loading verity table %q: %w", table, err)
	}
	resume := dmIoctl(name, "", 0, 0, nil)
	if err := dmCall(fd, dmDevSuspend, resume); err != nil {
		return "", fmt.Errorf("device-mapper: activating %s: %w", name, err)
	}
	dev := binary.LittleEndian.Uint64(resume[40:])
	path := "/dev/mapper/" + name
	if err := unix.Mknod(path, unix.S_IFBLK|0o400, int(unix.Mkdev(unix.Major(dev), unix.Minor(dev)))); err != nil && err != unix.EEXIST {
		return "", fmt.Errorf("creating %s: %w", path, err)
	}
	return path, nil
}

func digestSize(algo string) int {
	if algo == "sha512" {
		return 64
	}
	return 32
}

// ensureControl creates /dev/mapper/control if devtmpfs has not.
func ensureControl() error {
	if _, err := os.Stat(dmControlDevice); err == nil {
		return nil
	}
	if err := os.MkdirAll("/dev/mapper", 0o755); err != nil {
		return err
	}
	b, err := os.ReadFile("/sys/class/misc/device-mapper/dev")
	if err != nil {
		return fmt.Errorf("device-mapper not available (is dm-mod loaded?): %w", err)
	}
	var maj, min uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &maj, &min); err != nil {
		return fmt.Errorf("device-mapper dev %q: %w", b, err)
	}
	if err := unix.Mknod(dmControlDevice, unix.S_IFCHR|0o600, int(unix.Mkdev(maj, min))); err != nil && err != unix.EEXIST {
		return fmt.Errorf("creating %s: %w", dmControlDevice, err)
	}
	return nil
}

// readAll reads the whole device once, so that dm-verity checks every
// block before anything is mounted.
func readAll(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("reading %s at byte %d: %w", dev, n, err)
		}
	}
}
