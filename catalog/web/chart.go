package web

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
)

// A chart is drawn on the server as inline SVG: no script, no external
// image, and every text in it escaped.

type series struct {
	Name   string
	Values []float64 // one per point; NaN-free
	Has    []bool    // whether the point has a value
}

// maxPoints bounds the points of a chart: longer histories are sampled
// evenly, keeping the newest.
const maxPoints = 200

// sample returns the indices of n points to draw.
func sample(n int) []int {
	if n <= maxPoints {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := make([]int, 0, maxPoints)
	for i := range maxPoints - 1 {
		idx = append(idx, i*(n-1)/(maxPoints-1))
	}
	return append(idx, n-1)
}

// lineChart draws series over labels (the x axis, oldest first). unit
// formats a value.
func lineChart(title, caption string, labels []string, ss []series, unit func(float64) string) template.HTML {
	const (
		w, hgt       = 720.0, 220.0
		left, right  = 86.0, 12.0
		top, bottom  = 28.0, 34.0
		plotW, plotH = w - left - right, hgt - top - bottom
	)
	esc := template.HTMLEscapeString
	lo, hi, have := 0.0, 0.0, false
	for _, s := range ss {
		for i, v := range s.Values {
			if !s.Has[i] {
				continue
			}
			if !have || v < lo {
				lo = v
			}
			if !have || v > hi {
				hi = v
			}
			have = true
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><svg viewBox="0 0 %g %g" width="100%%" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, hgt, esc(title))
	fmt.Fprintf(&b, `<title>%s</title><text class="title" x="%g" y="18">%s</text>`, esc(title), left, esc(title))
	if !have {
		fmt.Fprintf(&b, `<text x="%g" y="%g">no data</text></svg></figure>`, left, top+plotH/2)
		return template.HTML(b.String())
	}
	if hi == lo {
		lo, hi = lo*0.9, hi*1.1+1
	}
	n := len(labels)
	x := func(i int) float64 {
		if n == 1 {
			return left + plotW/2
		}
		return left + plotW*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return top + plotH*(1-(v-lo)/(hi-lo)) }
	// Axes and three value ticks.
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, left, top, left, top+plotH)
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, left, top+plotH, left+plotW, top+plotH)
	for _, v := range []float64{lo, (lo + hi) / 2, hi} {
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`, left, y(v), left+plotW, y(v))
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%.1f" text-anchor="end">%s</text>`, left-6, y(v)+4, esc(unit(v)))
	}
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g">%s</text>`, left, hgt-10, esc(labels[0]))
	if n > 1 {
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g" text-anchor="end">%s</text>`, left+plotW, hgt-10, esc(labels[n-1]))
	}
	for si, s := range ss {
		var pts []string
		for i, v := range s.Values {
			if s.Has[i] {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
		}
		fmt.Fprintf(&b, `<polyline class="line s%d" fill="none" points="%s"/>`, si%6, strings.Join(pts, " "))
		for i, v := range s.Values {
			if s.Has[i] {
				fmt.Fprintf(&b, `<circle class="dot s%d" cx="%.1f" cy="%.1f" r="3"><title>%s %s: %s</title></circle>`, si%6, x(i), y(v), esc(s.Name), esc(labels[i]), esc(unit(v)))
			}
		}
	}
	b.WriteString(`</svg><figcaption>`)
	for si, s := range ss {
		if len(ss) > 1 {
			fmt.Fprintf(&b, `<span class="key s%d">%s</span> `, si%6, esc(s.Name))
		}
	}
	b.WriteString(esc(caption))
	b.WriteString(`</figcaption></figure>`)
	return template.HTML(b.String())
}

// streamCharts draws a stream's disk sizes and package counts over its
// versions.
func streamCharts(s *snapshot, st *stream) []template.HTML {
	idx := sample(len(st.versions))
	labels := make([]string, len(idx))
	for j, i := range idx {
		labels[j] = st.versions[i].e.Ref.Version.String()
	}
	caption := strconv.Itoa(len(st.versions)) + " versions, oldest to newest"
	if len(idx) < len(st.versions) {
		caption += fmt.Sprintf(" (%d sampled evenly)", len(idx))
	}
	var sizes []series
	for _, f := range formatsOf(st) {
		sr := series{Name: string(f), Values: make([]float64, len(idx)), Has: make([]bool, len(idx))}
		for j, i := range idx {
			if n, ok := sizeOf(&st.versions[i].e, f); ok {
				sr.Values[j], sr.Has[j] = float64(n), true
			}
		}
		sizes = append(sizes, sr)
	}
	pk := series{Name: "packages", Values: make([]float64, len(idx)), Has: make([]bool, len(idx))}
	inst := series{Name: "installed", Values: make([]float64, len(idx)), Has: make([]bool, len(idx))}
	for j, i := range idx {
		pk.Values[j], pk.Has[j] = float64(len(st.versions[i].pkgs)), true
		inst.Values[j], inst.Has[j] = float64(st.versions[i].e.InstalledSize), st.versions[i].e.InstalledSize > 0
	}
	bytesOf := func(v float64) string { return humanBytes(int64(v)) }
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	return []template.HTML{
		lineChart("Disk size by format", caption, labels, sizes, bytesOf),
		lineChart("Installed size of the packages", caption, labels, []series{inst}, bytesOf),
		lineChart("Package count", caption, labels, []series{pk}, count),
	}
}
