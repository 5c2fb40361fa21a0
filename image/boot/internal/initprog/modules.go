package main

import (
	"bufio"
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// moduleInitCompressedFile asks finit_module to decompress the module.
const moduleInitCompressedFile = 4

// loadModules loads the modules listed in path, one absolute path per line,
// in order (dependencies first). A module already loaded is fine; a failure
// is reported and the boot goes on (a missing driver shows up as a missing
// disk, with a clear message, later).
func loadModules(path string) {
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			logf("modules: %v", err)
		}
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		m := strings.TrimSpace(s.Text())
		if m == "" || strings.HasPrefix(m, "#") {
			continue
		}
		if err := loadModule(m); err != nil {
			logf("module %s: %v", m, err)
		}
	}
}

func loadModule(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		flags = moduleInitCompressedFile
	}
	if err := unix.FinitModule(fd, "", flags); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}
