package boot

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// moduleName normalises a module name or file name: "dm-verity.ko.xz" and
// "dm_verity" are the same module.
func moduleName(s string) string {
	s = path.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// moduleTree indexes the modules of one kernel in a rootfs.
type moduleTree struct {
	root    fs.FS
	dir     string            // lib/modules/<version>
	files   map[string]string // module name -> path relative to dir
	builtin map[string]bool
	deps    map[string][]string // from modules.dep when present: name -> dependency names
}

func loadModuleTree(root fs.FS, dir string) (*moduleTree, error) {
	t := &moduleTree{root: root, dir: dir, files: map[string]string{}, builtin: map[string]bool{}}
	err := fs.WalkDir(root, path.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			t.files[moduleName(d.Name())] = strings.TrimPrefix(p, dir+"/")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: listing %s: %w", ErrModule, dir, err)
	}
	if b, err := fs.ReadFile(root, path.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				t.builtin[moduleName(l)] = true
			}
		}
	}
	if b, err := fs.ReadFile(root, path.Join(dir, "modules.dep")); err == nil {
		t.deps = map[string][]string{}
		for _, l := range strings.Split(string(b), "\n") {
			mod, deps, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			var names []string
			for _, d := range strings.Fields(deps) {
				names = append(names, moduleName(d))
			}
			t.deps[moduleName(mod)] = names
		}
	}
	return t, nil
}

// dependencies returns the modules name needs loaded before it: its hard
// dependencies (modules.dep, else the depends= of its .modinfo) and its
// soft ones (softdep= pre: and post:, loaded before it too). A soft
// dependency may name a crypto algorithm ("crc32c"); it resolves to the
// module of that name or its "_generic" implementation, and is left out
// when neither exists.
func (t *moduleTree) dependencies(name string) ([]string, error) {
	p := path.Join(t.dir, t.files[name])
	info, err := t.modinfo(p)
	var hard []string
	if d, ok := t.deps[name]; ok && t.deps != nil {
		hard = d
	} else if err != nil {
		return nil, &ModuleError{Module: name, Path: p, Err: err}
	} else {
		for _, d := range strings.Split(info["depends"], ",") {
			if d = strings.TrimSpace(d); d != "" {
				hard = append(hard, moduleName(d))
			}
		}
	}
	for _, f := range strings.Fields(info["softdep"]) {
		if f == "pre:" || f == "post:" {
			continue
		}
		n := moduleName(f)
		for _, cand := range []string{n, n + "_generic"} {
			if _, ok := t.files[cand]; ok || t.builtin[cand] {
				hard = append(hard, cand)
				break
			}
		}
	}
	return hard, nil
}

// modinfo reads the .modinfo section of a module file (key=value strings).
func (t *moduleTree) modinfo(p string) (map[string]string, error) {
	f, err := t.root.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(p, ".ko"):
	case strings.HasSuffix(p, ".ko.gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = zr
	case strings.HasSuffix(p, ".ko.zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("cannot read dependencies of a %s module without modules.dep", path.Ext(p))
	}
	b, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, err
	}
	return parseModinfo(b)
}

// parseModinfo reads the NUL-separated key=value strings of the .modinfo
// section of an ELF kernel module.
func parseModinfo(b []byte) (map[string]string, error) {
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not an ELF module: %w", err)
	}
	s := ef.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf(".modinfo: %w", err)
	}
	info := map[string]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			if _, seen := info[k]; !seen {
				info[k] = v
			}
		}
	}
	return info, nil
}

// resolve returns the module files (paths relative to the rootfs) to load
// for names, dependencies first; built-in modules are left out.
func (t *moduleTree) resolve(names []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, from string) error
	visit = func(n, from string) error {
		switch state[n] {
		case 1:
			return &ModuleError{Module: n, Err: fmt.Errorf("dependency cycle through %s", from)}
		case 2:
			return nil
		}
		if t.builtin[n] {
			state[n] = 2
			return nil
		}
		if _, ok := t.files[n]; !ok {
			err := fmt.Errorf("not in %s and not built in", t.dir)
			if from != "" {
				err = fmt.Errorf("needed by %s: %w", from, err)
			}
			return &ModuleError{Module: n, Err: err}
		}
		state[n] = 1
		deps, err := t.dependencies(n)
		if err != nil {
			return err
		}
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, n); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, path.Join(t.dir, t.files[n]))
		return nil
	}
	for _, n := range names {
		if err := visit(moduleName(n), ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}
