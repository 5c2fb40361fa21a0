package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

//go:embed templates/*.html static/style.css
var assets embed.FS

// Handler serves a catalog as a web directory: every stream with its latest
// image, each stream's history with charts and deltas, each version with
// its SBOM, provenance, FIPS report, files and a verification computed by
// the server; the same data as JSON under /api/. It is read-only (GET and
// HEAD), renders on the server with html/template (every catalog string is
// escaped), needs no JavaScript, and sends a Content-Security-Policy that
// allows no script at all. URLs name streams, versions and the files an
// entry records, never paths: files are read through [Files] by digest.
//
// Pages are rendered from an in-memory copy of the catalog, loaded on the
// first request and by [Handler.Refresh] (which [Handler.Run] calls
// periodically), so that a page costs no store access.
type Handler struct {
	store catalog.Store
	o     options
	files Files
	mux   *http.ServeMux
	tmpl  *template.Template
	css   []byte

	snap   atomic.Pointer[snapshot]
	loadMu sync.Mutex

	vmu      sync.Mutex
	results  map[string]*Verification // by Ref.String()
	inflight map[string]chan struct{}
	sem      chan struct{}
}

// New returns a handler serving store.
func New(store catalog.Store, opts ...Option) (*Handler, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrOption)
	}
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	h := &Handler{store: store, o: o, files: o.files, results: map[string]*Verification{}, inflight: map[string]chan struct{}{}, sem: make(chan struct{}, o.jobs)}
	if h.files == nil {
		if f, ok := store.(Files); ok {
			h.files = f
		}
	}
	if h.tmpl, err = template.New("").Funcs(funcs).ParseFS(assets, "templates/*.html"); err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	if h.css, err = assets.ReadFile("static/style.css"); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", h.directory)
	m.HandleFunc("GET /static/style.css", h.style)
	m.HandleFunc("GET /s/{variant}/{platform}/{arch}/{track}", h.stream)
	m.HandleFunc("GET /v/{variant}/{platform}/{arch}/{track}/{version}", h.version)
	m.HandleFunc("GET /v/{variant}/{platform}/{arch}/{track}/{version}/files/{name}", h.download)
	m.HandleFunc("GET /api/streams", h.apiStreams)
	m.HandleFunc("GET /api/streams/{variant}/{platform}/{arch}/{track}", h.apiStream)
	m.HandleFunc("GET /api/versions/{variant}/{platform}/{arch}/{track}/{version}", h.apiVersion)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("%w: no page %s", catalog.ErrNotFound, r.URL.Path))
	})
	h.mux = m
	return h, nil
}

// contentSecurityPolicy allows the page's own stylesheet and nothing else:
// no script, no inline style, no frames, forms only to this server.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// ServeHTTP serves a page, a file or JSON. Only GET and HEAD are allowed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// snapshot returns the loaded catalog, loading it on first use.
func (h *Handler) snapshot(ctx context.Context) (*snapshot, error) {
	if s := h.snap.Load(); s != nil {
		return s, nil
	}
	h.loadMu.Lock()
	defer h.loadMu.Unlock()
	if s := h.snap.Load(); s != nil {
		return s, nil
	}
	s, err := load(ctx, h.store, h.o.now())
	if err != nil {
		return nil, err
	}
	h.snap.Store(s)
	return s, nil
}

// Refresh reloads the catalog from the store; pages show the new copy once
// it is loaded.
func (h *Handler) Refresh(ctx context.Context) error {
	h.loadMu.Lock()
	defer h.loadMu.Unlock()
	s, err := load(ctx, h.store, h.o.now())
	if err != nil {
		return err
	}
	h.snap.Store(s)
	h.o.log.Info("web: catalog loaded", "entries", s.entries, "streams", len(s.streams), "invalid", len(s.invalid))
	return nil
}

// Run reloads the catalog every refresh interval ([WithRefresh]) and, with
// a verifier, verifies the latest version of each stream whose result is
// missing or older than the recheck interval, so that the directory shows
// verification states. It returns when ctx is done, with nil.
func (h *Handler) Run(ctx context.Context) error {
	t := time.NewTicker(h.o.refresh)
	defer t.Stop()
	for {
		if err := h.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.o.log.Warn("web: loading the catalog", "err", err)
		} else if h.o.verifier != nil {
			h.verifyLatest(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// verifyLatest verifies the latest version of every stream, one at a time.
func (h *Handler) verifyLatest(ctx context.Context) {
	s := h.snap.Load()
	if s == nil {
		return
	}
	now := h.o.now()
	for _, st := range s.streams {
		if ctx.Err() != nil {
			return
		}
		v := st.latest(now)
		if _, err := h.verification(ctx, s.entry(v)); err != nil {
			return
		}
	}
}

// cached returns the verification of e if one was done.
func (h *Handler) cached(e *catalog.Entry) *Verification {
	h.vmu.Lock()
	defer h.vmu.Unlock()
	return h.results[e.Ref.String()]
}

// verification returns the verification of e, verifying it unless a result
// younger than the recheck interval exists (see reuse). Concurrent requests for one
// entry share one verification; [WithJobs] bounds how many run at once.
// The verification is not cancelled with ctx (its result is kept for
// others), only the wait for it.
func (h *Handler) verification(ctx context.Context, e catalog.Entry) (*Verification, error) {
	if h.o.verifier == nil {
		return nil, nil
	}
	key := e.Ref.String()
	h.vmu.Lock()
	if r := h.results[key]; r != nil && h.o.now().Sub(r.Checked) < h.reuse(r) {
		h.vmu.Unlock()
		return r, nil
	}
	if ch, ok := h.inflight[key]; ok {
		h.vmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		h.vmu.Lock()
		defer h.vmu.Unlock()
		return h.results[key], nil
	}
	ch := make(chan struct{})
	h.inflight[key] = ch
	h.vmu.Unlock()

	var res *Verification
	defer func() {
		h.vmu.Lock()
		if res != nil {
			h.results[key] = res
		}
		delete(h.inflight, key)
		close(ch)
		h.vmu.Unlock()
	}()
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()
	res = h.o.verifier.Verify(context.WithoutCancel(ctx), e, h.files, h.o.now())
	h.o.log.Info("web: verified", "ref", key, "state", res.State)
	return res, nil
}

// reuse returns how long a result is shown before the entry is verified
// again: the recheck interval, or for an incomplete result (files not
// found, which may appear) at most the refresh interval.
func (h *Handler) reuse(r *Verification) time.Duration {
	if r.State == Incomplete {
		return min(h.o.recheck, h.o.refresh)
	}
	return h.o.recheck
}

// refOf returns the Ref a URL's path names (version "" for a stream).
func refOf(r *http.Request, withVersion bool) (vm.Ref, error) {
	v := "19700101.000000.0"
	if withVersion {
		v = r.PathValue("version")
	}
	s := r.PathValue("variant") + "/" + r.PathValue("platform") + "/" + r.PathValue("arch") + "/" + r.PathValue("track") + ":" + v
	ref, err := vm.ParseRef(s)
	if err != nil {
		return vm.Ref{}, fmt.Errorf("%w: %v", catalog.ErrNotFound, err)
	}
	if !withVersion {
		ref.Version = vm.Version{}
	}
	return ref, nil
}

// render executes a template into a buffer, then writes it: a template
// error never leaves half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		h.o.log.Error("web: render", "template", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// fail renders an error page (or JSON under /api/).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		h.o.log.Error("web: request failed", "path", r.URL.Path, "err", err)
	}
	if isAPI(r) {
		writeJSON(w, r, status, map[string]string{"error": err.Error()})
		return
	}
	h.render(w, r, status, "error.html", errorPage{page: page{Title: http.StatusText(status)}, Status: status, Message: err.Error()})
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, ErrUnavailable):
		return http.StatusNotFound
	case errors.Is(err, ErrOption), errors.Is(err, catalog.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (h *Handler) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	if r.Method != http.MethodHead {
		w.Write(h.css)
	}
}
