package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// The JSON API serves what the pages show, for scripts:
//
//	GET /api/streams[?family=&variant=&platform=&arch=&track=&fips=yes|no&package=&version=]
//	GET /api/streams/{variant}/{platform}/{arch}/{track}[?page=N]
//	GET /api/versions/{variant}/{platform}/{arch}/{track}/{version}
//
// Field names are stable; catalog types keep their own JSON forms.

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "internal error encoding JSON", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// StreamJSON is one stream of the directory.
type StreamJSON struct {
	Stream       string               `json:"stream"`
	Family       vm.Family            `json:"family"`
	Versions     int                  `json:"versions"`
	Latest       vm.Ref               `json:"latest"`
	Published    time.Time            `json:"published"`
	Kernel       string               `json:"kernel,omitempty"`
	Packages     int                  `json:"packages"`
	Installed    int64                `json:"installed_size"`
	Deprecation  *catalog.Deprecation `json:"deprecation,omitempty"`
	Verification State                `json:"verification"`
	Checked      *time.Time           `json:"checked,omitempty"`
	// Matches are the versions containing the searched package, newest
	// first (only with ?package=).
	Matches []vm.Ref `json:"matches,omitempty"`
}

// VersionJSON is one version of a stream page.
type VersionJSON struct {
	Ref          vm.Ref               `json:"ref"`
	Published    time.Time            `json:"published"`
	Kernel       string               `json:"kernel,omitempty"`
	Packages     int                  `json:"packages"`
	Installed    int64                `json:"installed_size"`
	Artifacts    []catalog.Artifact   `json:"artifacts"`
	Deprecation  *catalog.Deprecation `json:"deprecation,omitempty"`
	Delta        *catalog.Delta       `json:"delta,omitempty"`
	Verification State                `json:"verification"`
}

func (h *Handler) apiStreams(w http.ResponseWriter, r *http.Request) {
	p, err := h.dirPage(r)
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	out := []StreamJSON{}
	for _, row := range p.Rows {
		j := StreamJSON{Stream: row.Stream, Family: row.Family, Versions: row.Versions, Latest: row.Ref, Published: row.Published,
			Kernel: row.Kernel, Packages: row.Packages, Installed: row.Installed, Deprecation: row.Deprecated, Verification: row.Badge.State}
		if !row.Badge.Checked.IsZero() {
			t := row.Badge.Checked
			j.Checked = &t
		}
		for _, v := range row.matches {
			j.Matches = append(j.Matches, v.e.Ref)
		}
		out = append(out, j)
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) apiStream(w http.ResponseWriter, r *http.Request) {
	p, err := h.streamPage(r)
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	out := struct {
		Stream   string        `json:"stream"`
		Versions int           `json:"versions"`
		Page     int           `json:"page"`
		Pages    int           `json:"pages"`
		Items    []VersionJSON `json:"items"` // newest first
	}{p.Stream, p.Versions, p.PageN, p.Pages, []VersionJSON{}}
	s, _ := h.snapshot(r.Context())
	for _, row := range p.Rows {
		v, _ := s.version(row.Ref)
		out.Items = append(out.Items, VersionJSON{Ref: row.Ref, Published: row.Published, Kernel: row.Kernel, Packages: row.Packages,
			Installed: row.Installed, Artifacts: v.e.Artifacts, Deprecation: row.Deprecation, Delta: row.Delta, Verification: row.Badge.State})
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) apiVersion(w http.ResponseWriter, r *http.Request) {
	p, err := h.versionPage(r)
	if err != nil {
		h.fail(w, r, statusOf(err), err)
		return
	}
	if p.Verification == nil && p.Verifying {
		h.fail(w, r, http.StatusServiceUnavailable, fmt.Errorf("web: verification of %s did not finish", p.Entry.Ref))
		return
	}
	writeJSON(w, r, http.StatusOK, struct {
		Entry        catalog.Entry  `json:"entry"`
		Delta        *catalog.Delta `json:"delta,omitempty"`
		Verification *Verification  `json:"verification,omitempty"`
	}{p.Entry, p.Row.Delta, p.Verification})
}
