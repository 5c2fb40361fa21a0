// Package firstboottest has fake cloud metadata services for tests of
// hardvm's first-boot agent: EC2's IMDSv2, the GCE metadata server, and
// Azure's IMDS and wire server. None of these services can be run outside
// its cloud, so each fake is built from the documented wire format and
// CHECKS every request it gets (methods, paths, required headers, the
// IMDSv2 token, the Health report's identifiers); anything off the
// protocol is answered with an error status and recorded, and tests
// assert that Violations is empty.
//
// Each fake is an http.Handler: serve it with httptest.NewServer in unit
// tests, or on a host port a QEMU guest reaches through
// guestfwd=tcp:169.254.169.254:80-cmd:... in boot tests.
package firstboottest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// log records requests and protocol violations.
type log struct {
	mu         sync.Mutex
	requests   []string
	violations []string
}

func (l *log) request(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r.Method+" "+r.URL.RequestURI())
}

func (l *log) violate(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.violations = append(l.violations, msg)
	l.mu.Unlock()
	http.Error(w, msg, status)
}

// Requests returns "METHOD URI" for every request received, in order.
func (l *log) Requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.requests...)
}

// Violations returns every way a request broke the protocol.
func (l *log) Violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.violations...)
}

// EC2 fakes the EC2 instance metadata service with IMDSv2 required
// (HttpTokens=required): PUT /latest/api/token with
// X-aws-ec2-metadata-token-ttl-seconds (1-21600) issues a token; every
// GET must carry it in X-aws-ec2-metadata-token, else 401 and a
// violation. Requests with X-Forwarded-For are refused, as IMDS does.
type EC2 struct {
	InstanceID    string
	LocalHostname string
	Keys          []string // public-keys/N/openssh-key, N = index
	UserData      []byte   // nil: /latest/user-data is 404
	log
	tokens map[string]bool
}

// ServeHTTP serves IMDSv2 at /latest/.
func (f *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.request(r)
	if r.Header.Get("X-Forwarded-For") != "" {
		f.violate(w, http.StatusForbidden, "ec2: request with X-Forwarded-For")
		return
	}
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			f.violate(w, http.StatusMethodNotAllowed, "ec2: %s /latest/api/token, want PUT", r.Method)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			f.violate(w, http.StatusBadRequest, "ec2: token TTL %q not in 1-21600", r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
			return
		}
		tok := make([]byte, 24)
		rand.Read(tok)
		t := base64.RawURLEncoding.EncodeToString(tok)
		f.mu.Lock()
		if f.tokens == nil {
			f.tokens = map[string]bool{}
		}
		f.tokens[t] = true
		f.mu.Unlock()
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
		io.WriteString(w, t)
		return
	}
	if r.Method != http.MethodGet {
		f.violate(w, http.StatusMethodNotAllowed, "ec2: %s %s, want GET", r.Method, r.URL.Path)
		return
	}
	f.mu.Lock()
	ok := f.tokens[r.Header.Get("X-aws-ec2-metadata-token")]
	f.mu.Unlock()
	if !ok {
		f.violate(w, http.StatusUnauthorized, "ec2: GET %s without a valid IMDSv2 token (IMDSv1 request)", r.URL.Path)
		return
	}
	var body string
	switch p := r.URL.Path; {
	case p == "/latest/meta-data/instance-id":
		body = f.InstanceID
	case p == "/latest/meta-data/local-hostname" && f.LocalHostname != "":
		body = f.LocalHostname
	case p == "/latest/meta-data/public-keys/" && len(f.Keys) > 0:
		var lines []string
		for i := range f.Keys {
			lines = append(lines, fmt.Sprintf("%d=key-%d", i, i))
		}
		body = strings.Join(lines, "\n")
	case strings.HasPrefix(p, "/latest/meta-data/public-keys/") && strings.HasSuffix(p, "/openssh-key"):
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/latest/meta-data/public-keys/"), "/openssh-key"))
		if err != nil || i < 0 || i >= len(f.Keys) {
			http.NotFound(w, r)
			return
		}
		body = f.Keys[i] + "\n"
	case p == "/latest/user-data" && f.UserData != nil:
		w.Write(f.UserData)
		return
	default:
		http.NotFound(w, r)
		return
	}
	io.WriteString(w, body)
}

// GCE fakes the Compute Engine metadata server under /computeMetadata/v1/:
// every request must be a GET carrying Metadata-Flavor: Google (else 403
// and a violation), and every answer carries it back.
type GCE struct {
	ID       string
	Hostname string            // FQDN, as instance/hostname gives it
	Instance map[string]string // instance/attributes/KEY (ssh-keys, user-data, block-project-ssh-keys)
	Project  map[string]string // project/attributes/KEY
	log
}

// ServeHTTP serves the metadata server at /computeMetadata/v1/.
func (f *GCE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.request(r)
	w.Header().Set("Metadata-Flavor", "Google")
	if r.Header.Get("Metadata-Flavor") != "Google" {
		f.violate(w, http.StatusForbidden, "gce: %s without Metadata-Flavor: Google", r.URL.Path)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		f.violate(w, http.StatusForbidden, "gce: request with X-Forwarded-For")
		return
	}
	if r.Method != http.MethodGet {
		f.violate(w, http.StatusMethodNotAllowed, "gce: %s %s, want GET", r.Method, r.URL.Path)
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/computeMetadata/v1/")
	if !ok {
		f.violate(w, http.StatusNotFound, "gce: path %s outside /computeMetadata/v1/", r.URL.Path)
		return
	}
	var v string
	switch {
	case p == "instance/id":
		v, ok = f.ID, true
	case p == "instance/hostname":
		v, ok = f.Hostname, f.Hostname != ""
	case strings.HasPrefix(p, "instance/attributes/"):
		v, ok = f.Instance[strings.TrimPrefix(p, "instance/attributes/")]
	case strings.HasPrefix(p, "project/attributes/"):
		v, ok = f.Project[strings.TrimPrefix(p, "project/attributes/")]
	default:
		ok = false
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	io.WriteString(w, v)
}

// Azure fakes Azure's instance metadata service (IMDS) and its wire
// server. IMDS requests must be GETs with Metadata: true and an
// api-version, without X-Forwarded-For. Wire server requests must carry
// x-ms-version: 2012-11-30; the Health report must be a POST of
// text/xml naming the goal state's incarnation, container id and role
// instance id with State Ready, which sets Ready.
type Azure struct {
	VMID, ComputerName string
	Keys               []string
	UserData           []byte
	Incarnation        string
	ContainerID        string
	RoleInstanceID     string
	log
	ready bool
}

// IsReady reports whether a valid Ready health report arrived.
func (f *Azure) IsReady() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

// IMDS returns the handler for http://169.254.169.254.
func (f *Azure) IMDS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.request(r)
		switch {
		case r.Header.Get("Metadata") != "true":
			f.violate(w, http.StatusBadRequest, "azure imds: %s without Metadata: true", r.URL.Path)
			return
		case r.Header.Get("X-Forwarded-For") != "":
			f.violate(w, http.StatusBadRequest, "azure imds: request with X-Forwarded-For")
			return
		case r.Method != http.MethodGet:
			f.violate(w, http.StatusMethodNotAllowed, "azure imds: %s, want GET", r.Method)
			return
		case r.URL.Query().Get("api-version") == "":
			f.violate(w, http.StatusBadRequest, "azure imds: %s without api-version", r.URL.Path)
			return
		case r.URL.Path != "/metadata/instance":
			http.NotFound(w, r)
			return
		}
		type key struct {
			KeyData string `json:"keyData"`
			Path    string `json:"path"`
		}
		var doc struct {
			Compute struct {
				VMID      string `json:"vmId"`
				Name      string `json:"name"`
				OSProfile struct {
					AdminUsername string `json:"adminUsername"`
					ComputerName  string `json:"computerName"`
				} `json:"osProfile"`
				PublicKeys []key  `json:"publicKeys"`
				UserData   string `json:"userData"`
			} `json:"compute"`
			Network struct{} `json:"network"`
		}
		doc.Compute.VMID, doc.Compute.Name = f.VMID, f.ComputerName
		doc.Compute.OSProfile.AdminUsername, doc.Compute.OSProfile.ComputerName = "azureuser", f.ComputerName
		for _, k := range f.Keys {
			doc.Compute.PublicKeys = append(doc.Compute.PublicKeys, key{KeyData: k + "\r\n", Path: "/home/azureuser/.ssh/authorized_keys"})
		}
		if f.UserData != nil {
			doc.Compute.UserData = base64.StdEncoding.EncodeToString(f.UserData)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(doc)
	})
}

// WireServer returns the handler for http://168.63.129.16.
func (f *Azure) WireServer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.request(r)
		if v := r.Header.Get("x-ms-version"); v != "2012-11-30" {
			f.violate(w, http.StatusBadRequest, "azure wire server: x-ms-version %q, want 2012-11-30", v)
			return
		}
		if r.URL.Path != "/machine/" && r.URL.Path != "/machine" {
			http.NotFound(w, r)
			return
		}
		switch comp := r.URL.Query().Get("comp"); {
		case comp == "goalstate" && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>%s</Incarnation>
  <Machine><ExpectedState>Started</ExpectedState><StopRolesDeadlineHint>300000</StopRolesDeadlineHint></Machine>
  <Container>
    <ContainerId>%s</ContainerId>
    <RoleInstanceList>
      <RoleInstance>
        <InstanceId>%s</InstanceId>
        <State>Started</State>
        <Configuration><HostingEnvironmentConfig>http://168.63.129.16:80/machine/x?comp=config</HostingEnvironmentConfig></Configuration>
      </RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>
`, f.Incarnation, f.ContainerID, f.RoleInstanceID)
		case comp == "health" && r.Method == http.MethodPost:
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ReplaceAll(ct, " ", ""), "text/xml") {
				f.violate(w, http.StatusBadRequest, "azure wire server: health report Content-Type %q, want text/xml", ct)
				return
			}
			var h struct {
				XMLName     xml.Name `xml:"Health"`
				Incarnation string   `xml:"GoalStateIncarnation"`
				ContainerID string   `xml:"Container>ContainerId"`
				Roles       []struct {
					InstanceID string `xml:"InstanceId"`
					State      string `xml:"Health>State"`
				} `xml:"Container>RoleInstanceList>Role"`
			}
			if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&h); err != nil {
				f.violate(w, http.StatusBadRequest, "azure wire server: health report: %v", err)
				return
			}
			if h.Incarnation != f.Incarnation || h.ContainerID != f.ContainerID || len(h.Roles) != 1 || h.Roles[0].InstanceID != f.RoleInstanceID || h.Roles[0].State != "Ready" {
				f.violate(w, http.StatusBadRequest, "azure wire server: health report %+v does not match the goal state", h)
				return
			}
			f.mu.Lock()
			f.ready = true
			f.mu.Unlock()
		default:
			f.violate(w, http.StatusBadRequest, "azure wire server: %s comp=%s", r.Method, comp)
		}
	})
}
