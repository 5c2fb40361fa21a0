package catalog

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hardvm/hardvm/image/apk/apkversion"
	"github.com/hardvm/hardvm/vm"
)

// Delta is what changed from one image to another: packages added,
// removed, upgraded and downgraded (in apk version order), the kernel, and
// the sizes. Continuous builds make deltas small; showing them is the point.
type Delta struct {
	From       vm.Ref          `json:"from"`
	To         vm.Ref          `json:"to"`
	Added      []PackageChange `json:"added,omitempty"`
	Removed    []PackageChange `json:"removed,omitempty"`
	Upgraded   []PackageChange `json:"upgraded,omitempty"`
	Downgraded []PackageChange `json:"downgraded,omitempty"`
	// Rebuilt lists packages whose version string changed without
	// changing order (e.g. 1.0 to 1.0.0).
	Rebuilt   []PackageChange `json:"rebuilt,omitempty"`
	Unchanged int             `json:"unchanged"`
	// Kernel is set when the kernel version changed.
	Kernel *Change `json:"kernel,omitempty"`
	// Fixes are the security issues (CVE ids) the upgrades fix, sorted;
	// set by [Delta.AddFixes] from a security database.
	Fixes []string `json:"fixes,omitempty"`
	// InstalledSize is the change of the packages' installed size.
	InstalledSize SizeChange `json:"installed_size"`
	// Disks are the size changes of the artifacts both images have.
	Disks []DiskChange `json:"disks,omitempty"`
}

// PackageChange is one package in a delta; From is empty for an added
// package and To for a removed one.
type PackageChange struct {
	Name string `json:"name"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Change is a change of a version string.
type Change struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// SizeChange is a size before and after, in bytes.
type SizeChange struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Delta returns To minus From.
func (s SizeChange) Delta() int64 { return s.To - s.From }

// DiskChange is the change of one artifact format's file size.
type DiskChange struct {
	Format vm.DiskFormat `json:"format"`
	Size   SizeChange    `json:"size"`
}

// Diff compares two entries, typically two builds of one stream.
func Diff(from, to Entry) Delta {
	d := Delta{From: from.Ref, To: to.Ref, InstalledSize: SizeChange{from.InstalledSize, to.InstalledSize}}
	a, b := from.Packages, to.Packages
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].Name < b[j].Name):
			d.Removed = append(d.Removed, PackageChange{Name: a[i].Name, From: a[i].Version})
			i++
		case i == len(a) || b[j].Name < a[i].Name:
			d.Added = append(d.Added, PackageChange{Name: b[j].Name, To: b[j].Version})
			j++
		default:
			c := PackageChange{Name: a[i].Name, From: a[i].Version, To: b[j].Version}
			switch {
			case c.From == c.To:
				d.Unchanged++
			default:
				switch apkversion.Compare(c.From, c.To) {
				case -1:
					d.Upgraded = append(d.Upgraded, c)
				case 1:
					d.Downgraded = append(d.Downgraded, c)
				default:
					d.Rebuilt = append(d.Rebuilt, c)
				}
			}
			i++
			j++
		}
	}
	if from.Kernel != to.Kernel {
		d.Kernel = &Change{From: from.Kernel, To: to.Kernel}
	}
	for _, fa := range from.Artifacts {
		if ta, ok := to.Artifact(fa.Format); ok {
			d.Disks = append(d.Disks, DiskChange{Format: fa.Format, Size: SizeChange{fa.Size, ta.Size}})
		}
	}
	return d
}

// AddFixes sets d.Fixes to the issues fi says d's upgrades fix. A nil fi
// leaves d unchanged.
func (d *Delta) AddFixes(fi FixIndex) {
	if fi == nil {
		return
	}
	var ids []string
	for _, c := range d.Upgraded {
		ids = append(ids, fi.Fixed(c.Name, c.From, c.To)...)
	}
	slices.Sort(ids)
	d.Fixes = slices.Compact(ids)
}

// Changed returns the number of packages added, removed or changed.
func (d *Delta) Changed() int {
	return len(d.Added) + len(d.Removed) + len(d.Upgraded) + len(d.Downgraded) + len(d.Rebuilt)
}

// Empty reports whether nothing changed in the packages or kernel.
func (d *Delta) Empty() bool { return d.Changed() == 0 && d.Kernel == nil }

// Summary says in one line what changed, e.g. "kernel 6.12.1-r0 → 6.12.2-r0,
// 3 upgraded, 1 added, installed size +12.0 KiB".
func (d *Delta) Summary() string {
	var parts []string
	if d.Kernel != nil {
		parts = append(parts, fmt.Sprintf("kernel %s → %s", orNone(d.Kernel.From), orNone(d.Kernel.To)))
	}
	for _, c := range []struct {
		n    int
		what string
	}{{len(d.Upgraded), "upgraded"}, {len(d.Downgraded), "downgraded"}, {len(d.Added), "added"}, {len(d.Removed), "removed"}, {len(d.Rebuilt), "rebuilt"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no package changes")
	}
	if n := len(d.Fixes); n > 0 {
		parts = append(parts, fmt.Sprintf("%d fixed: %s", n, strings.Join(d.Fixes, " ")))
	}
	parts = append(parts, "installed size "+signedSize(d.InstalledSize.Delta()))
	return strings.Join(parts, ", ")
}

// WriteTable prints the delta as an aligned table: a header line, then one
// line per changed package, then the kernel and size changes.
func (d *Delta) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s → %s: %s\n", d.From, d.To, d.Summary())
	if d.Changed() > 0 {
		fmt.Fprintln(tw, "CHANGE\tPACKAGE\tFROM\tTO")
		for _, g := range []struct {
			what string
			cs   []PackageChange
		}{{"upgraded", d.Upgraded}, {"downgraded", d.Downgraded}, {"added", d.Added}, {"removed", d.Removed}, {"rebuilt", d.Rebuilt}} {
			for _, c := range g.cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.what, c.Name, orDash(c.From), orDash(c.To))
			}
		}
	}
	for _, id := range d.Fixes {
		fmt.Fprintf(tw, "fixes\t%s\t\t\n", id)
	}
	if d.Kernel != nil {
		fmt.Fprintf(tw, "kernel\t\t%s\t%s\n", orDash(d.Kernel.From), orDash(d.Kernel.To))
	}
	fmt.Fprintf(tw, "size\tinstalled\t%d\t%d\t(%s)\n", d.InstalledSize.From, d.InstalledSize.To, signedSize(d.InstalledSize.Delta()))
	for _, dc := range d.Disks {
		fmt.Fprintf(tw, "size\t%s\t%d\t%d\t(%s)\n", dc.Format, dc.Size.From, dc.Size.To, signedSize(dc.Size.Delta()))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// signedSize formats a byte count with a sign and a binary unit.
func signedSize(n int64) string {
	sign := "+"
	if n < 0 {
		sign, n = "-", -n
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%s%d B", sign, n)
	}
	f, u := float64(n)/unit, "KiB"
	for _, next := range []string{"MiB", "GiB", "TiB"} {
		if f < unit {
			break
		}
		f, u = f/unit, next
	}
	return fmt.Sprintf("%s%.1f %s", sign, f, u)
}
