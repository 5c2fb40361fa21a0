package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is the link-local address every cloud serves its
// instance metadata on (used literally: the guest's DNS may not resolve
// metadata.google.internal).
const DefaultEndpoint = "http://169.254.169.254"

// DefaultWireServer is Azure's wire server (the fabric address).
const DefaultWireServer = "http://168.63.129.16"

// Network holds what every metadata-server source needs.
type Network struct {
	Endpoint string        // base URL; default DefaultEndpoint
	Client   HTTPClient    // default: plain TCP, 5 s per request
	Deadline time.Duration // how long to wait for the server to answer at all
}

func (n Network) url(path string) string {
	base := n.Endpoint
	if base == "" {
		base = DefaultEndpoint
	}
	return strings.TrimSuffix(base, "/") + path
}

// EC2 reads the EC2 instance metadata service with IMDSv2 only: a session
// token from PUT /latest/api/token, then every GET carries it. No request
// is ever made without a token (an IMDSv1 fallback would defeat
// ImdsSupport=v2.0).
type EC2 struct{ Network }

// Name implements Source.
func (EC2) Name() string { return "ec2" }

// The EC2 token's lifetime: the agent finishes well within it.
const ec2TokenTTL = "300"

// Fetch implements Source.
func (e EC2) Fetch(ctx context.Context) (*Metadata, error) {
	var token string
	err := retry(ctx, e.Deadline, func() error {
		r, err := e.Client.do(ctx, "PUT", e.url("/latest/api/token"), [][2]string{{"X-aws-ec2-metadata-token-ttl-seconds", ec2TokenTTL}}, nil, 4096)
		if err != nil {
			return err
		}
		if r.Status != 200 {
			return fmt.Errorf("%w: IMDSv2 token: status %d", ErrProtocol, r.Status)
		}
		token = strings.TrimSpace(string(r.Body))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if token == "" || strings.ContainsAny(token, "\r\n") {
		return nil, fmt.Errorf("%w: IMDSv2 token empty or not one line", ErrProtocol)
	}
	get := func(path string, max int64) ([]byte, bool, error) {
		r, err := e.Client.do(ctx, "GET", e.url(path), [][2]string{{"X-aws-ec2-metadata-token", token}}, nil, max)
		if err != nil {
			return nil, false, err
		}
		switch r.Status {
		case 200:
			return r.Body, true, nil
		case 404:
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%w: GET %s: status %d", ErrProtocol, path, r.Status)
	}
	md := &Metadata{}
	id, ok, err := get("/latest/meta-data/instance-id", 256)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no instance-id", ErrProtocol)
	}
	if err := md.setInstanceID(string(id)); err != nil {
		return nil, err
	}
	host, _, err := get("/latest/meta-data/local-hostname", 256)
	if err != nil {
		return nil, err
	}
	if err := md.setHostname(string(host)); err != nil {
		return nil, err
	}
	idx, ok, err := get("/latest/meta-data/public-keys/", MaxDocument)
	if err != nil {
		return nil, err
	}
	if ok {
		for _, l := range strings.Split(strings.TrimSpace(string(idx)), "\n") {
			n, _, _ := strings.Cut(strings.TrimSpace(l), "=")
			if n == "" {
				continue
			}
			if i, err := strconv.Atoi(n); err != nil || i < 0 || i >= MaxKeys {
				return nil, fmt.Errorf("%w: public-keys index %q", ErrProtocol, clip(n))
			}
			k, ok, err := get("/latest/meta-data/public-keys/"+n+"/openssh-key", maxKeyLine)
			if err != nil {
				return nil, err
			}
			if ok {
				if err := md.addKeys(strings.Split(string(k), "\n")...); err != nil {
					return nil, err
				}
			}
		}
	}
	ud, ok, err := get("/latest/user-data", MaxUserData)
	if err != nil {
		return nil, err
	}
	if ok {
		md.UserData = ud
	}
	return md, nil
}

// GCE reads the Compute Engine metadata server: every request carries
// Metadata-Flavor: Google and every answer must too (a server without it
// is not the metadata server). Keys are the ssh-keys attribute lines
// "USER:KEY" for the login user, from the instance and, unless
// block-project-ssh-keys is true, the project; keys whose "google-ssh"
// comment has an expireOn in the past are skipped.
type GCE struct {
	Network
	User string           // login user
	Now  func() time.Time // default time.Now
}

// Name implements Source.
func (GCE) Name() string { return "gce" }

// Fetch implements Source.
func (g GCE) Fetch(ctx context.Context) (*Metadata, error) {
	get := func(path string, max int64) ([]byte, bool, error) {
		r, err := g.Client.do(ctx, "GET", g.url("/computeMetadata/v1/"+path), [][2]string{{"Metadata-Flavor", "Google"}}, nil, max)
		if err != nil {
			return nil, false, err
		}
		if r.Header.Get("Metadata-Flavor") != "Google" {
			return nil, false, fmt.Errorf("%w: GET %s: answer without Metadata-Flavor: Google", ErrProtocol, path)
		}
		switch r.Status {
		case 200:
			return r.Body, true, nil
		case 404:
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%w: GET %s: status %d", ErrProtocol, path, r.Status)
	}
	md := &Metadata{}
	var id []byte
	err := retry(ctx, g.Deadline, func() error {
		var ok bool
		var err error
		id, ok, err = get("instance/id", 256)
		if err == nil && !ok {
			err = fmt.Errorf("%w: no instance/id", ErrProtocol)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := md.setInstanceID(string(id)); err != nil {
		return nil, err
	}
	host, _, err := get("instance/hostname", 256)
	if err != nil {
		return nil, err
	}
	if err := md.setHostname(string(host)); err != nil {
		return nil, err
	}
	keys, _, err := get("instance/attributes/ssh-keys", MaxDocument)
	if err != nil {
		return nil, err
	}
	block, _, err := get("instance/attributes/block-project-ssh-keys", 64)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(strings.TrimSpace(string(block)), "true") {
		pk, _, err := get("project/attributes/ssh-keys", MaxDocument)
		if err != nil {
			return nil, err
		}
		keys = append(append(keys, '\n'), pk...)
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	for _, l := range strings.Split(string(keys), "\n") {
		user, key, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || g.User == "" || user != g.User || gceExpired(key, now()) {
			continue
		}
		if err := md.addKeys(key); err != nil {
			return nil, err
		}
	}
	ud, ok, err := get("instance/attributes/user-data", MaxUserData)
	if err != nil {
		return nil, err
	}
	if ok {
		md.UserData = ud
	}
	return md, nil
}

// gceExpired reports whether a key's comment is `google-ssh {"expireOn":
// T}` with T in the past (or unreadable: an expiring key whose expiry
// cannot be read is not trusted).
func gceExpired(key string, now time.Time) bool {
	_, js, ok := strings.Cut(key, " google-ssh ")
	if !ok {
		return false
	}
	var c struct {
		ExpireOn string `json:"expireOn"`
	}
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		return true
	}
	if c.ExpireOn == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339, c.ExpireOn)
	return err != nil || !now.Before(t)
}

// Azure reads Azure's IMDS (GET /metadata/instance with Metadata: true)
// for the computer name, the public keys and the user data, and after
// Apply reports Ready to the wire server: GET /machine/?comp=goalstate,
// then POST /machine/?comp=health with the goal state's incarnation,
// container id and role instance id. Until that report arrives Azure
// considers a Generalized VM still provisioning.
type Azure struct {
	Network
	WireServer string // default DefaultWireServer
}

// Name implements Source.
func (Azure) Name() string { return "azure" }

// The IMDS and wire server protocol versions used.
const (
	azureIMDSVersion = "2021-02-01"
	azureWireVersion = "2012-11-30"
	azureAgentName   = "hardvm-firstboot"
)

// Fetch implements Source.
func (a Azure) Fetch(ctx context.Context) (*Metadata, error) {
	var doc []byte
	err := retry(ctx, a.Deadline, func() error {
		r, err := a.Client.do(ctx, "GET", a.url("/metadata/instance?api-version="+azureIMDSVersion), [][2]string{{"Metadata", "true"}}, nil, MaxUserData*2)
		if err != nil {
			return err
		}
		if r.Status != 200 {
			return fmt.Errorf("%w: IMDS instance: status %d", ErrProtocol, r.Status)
		}
		doc = r.Body
		return nil
	})
	if err != nil {
		return nil, err
	}
	var m struct {
		Compute struct {
			VMID      string `json:"vmId"`
			Name      string `json:"name"`
			OSProfile struct {
				ComputerName string `json:"computerName"`
			} `json:"osProfile"`
			PublicKeys []struct {
				KeyData string `json:"keyData"`
			} `json:"publicKeys"`
			UserData string `json:"userData"`
		} `json:"compute"`
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("%w: IMDS instance: %v", ErrMalformed, err)
	}
	md := &Metadata{}
	if err := md.setInstanceID(m.Compute.VMID); err != nil {
		return nil, err
	}
	host := m.Compute.OSProfile.ComputerName
	if host == "" {
		host = m.Compute.Name
	}
	if err := md.setHostname(host); err != nil {
		return nil, err
	}
	for _, k := range m.Compute.PublicKeys {
		if err := md.addKeys(k.KeyData); err != nil {
			return nil, err
		}
	}
	if m.Compute.UserData != "" {
		ud, err := base64.StdEncoding.DecodeString(m.Compute.UserData)
		if err != nil {
			return nil, fmt.Errorf("%w: IMDS userData: %v", ErrMalformed, err)
		}
		md.UserData = ud
	}
	return md, nil
}

// GoalState is the part of the wire server's goal state a ready report
// names.
type GoalState struct {
	Incarnation string `xml:"Incarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Instances   []struct {
			InstanceID string `xml:"InstanceId"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

// ParseGoalState decodes a wire server goal state document.
func ParseGoalState(b []byte) (GoalState, error) {
	var gs GoalState
	if err := xml.Unmarshal(b, &gs); err != nil {
		return gs, fmt.Errorf("%w: goal state: %v", ErrMalformed, err)
	}
	if gs.Incarnation == "" || gs.Container.ContainerID == "" || len(gs.Container.Instances) == 0 || gs.Container.Instances[0].InstanceID == "" {
		return gs, fmt.Errorf("%w: goal state without incarnation, container or role instance", ErrMalformed)
	}
	return gs, nil
}

// HealthReady returns the wire server Health document that reports the
// role instance of gs Ready.
func HealthReady(gs GoalState) []byte {
	esc := func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	return []byte(`<?xml version="1.0" encoding="utf-8"?>
<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <GoalStateIncarnation>` + esc(gs.Incarnation) + `</GoalStateIncarnation>
  <Container>
    <ContainerId>` + esc(gs.Container.ContainerID) + `</ContainerId>
    <RoleInstanceList>
      <Role>
        <InstanceId>` + esc(gs.Container.Instances[0].InstanceID) + `</InstanceId>
        <Health>
          <State>Ready</State>
        </Health>
      </Role>
    </RoleInstanceList>
  </Container>
</Health>
`)
}

// Ready implements Reporter: the wire server's Health report.
func (a Azure) Ready(ctx context.Context) error {
	base := a.WireServer
	if base == "" {
		base = DefaultWireServer
	}
	base = strings.TrimSuffix(base, "/")
	hdr := [][2]string{{"x-ms-version", azureWireVersion}, {"x-ms-agent-name", azureAgentName}}
	err := retry(ctx, max(a.Deadline, 30*time.Second), func() error {
		r, err := a.Client.do(ctx, "GET", base+"/machine/?comp=goalstate", hdr, nil, MaxDocument)
		if err != nil {
			return err
		}
		if r.Status != 200 {
			return fmt.Errorf("%w: goal state: status %d", ErrProtocol, r.Status)
		}
		gs, err := ParseGoalState(r.Body)
		if err != nil {
			return err
		}
		r, err = a.Client.do(ctx, "POST", base+"/machine/?comp=health",
			append(hdr, [2]string{"Content-Type", "text/xml;charset=utf-8"}), HealthReady(gs), MaxDocument)
		if err != nil {
			return err
		}
		if r.Status != 200 {
			return fmt.Errorf("%w: health report: status %d", ErrProtocol, r.Status)
		}
		return nil
	})
	if errors.Is(err, ErrNoMetadata) {
		// Not "no metadata": the platform waits for this report.
		return fmt.Errorf("%w: the wire server did not answer: %v", ErrProtocol, err)
	}
	return err
}
