package agent

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/firstboot/firstboottest"
)

func noViolations(t *testing.T, v []string) {
	t.Helper()
	for _, s := range v {
		t.Errorf("protocol violation: %s", s)
	}
}

// IMDSv2: the first request is the token PUT, every GET carries the token
// (the fake answers 401 and records a violation otherwise), and what the
// service says is what comes back.
func TestEC2(t *testing.T) {
	f := &firstboottest.EC2{InstanceID: "i-0123456789abcdef0", LocalHostname: "ip-10-0-0-7.eu-west-1.compute.internal",
		Keys: []string{keyEd25519, keyRSA}, UserData: []byte("ECS_CLUSTER=prod\n")}
	md, err := EC2{Network{Endpoint: serve(t, f)}}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	noViolations(t, f.Violations())
	if md.InstanceID != "i-0123456789abcdef0" || md.Hostname != "ip-10-0-0-7" || !slices.Equal(md.Keys, []string{keyEd25519, keyRSA}) || string(md.UserData) != "ECS_CLUSTER=prod\n" {
		t.Errorf("got %+v", md)
	}
	reqs := f.Requests()
	if len(reqs) == 0 || reqs[0] != "PUT /latest/api/token" || slices.Contains(reqs[1:], "PUT /latest/api/token") {
		t.Errorf("requests %v: want one token PUT, first", reqs)
	}
}

// Without keys or user data the instance still has metadata; the fake
// answers 404 for both.
func TestEC2Minimal(t *testing.T) {
	f := &firstboottest.EC2{InstanceID: "i-1"}
	md, err := EC2{Network{Endpoint: serve(t, f)}}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	noViolations(t, f.Violations())
	if md.InstanceID != "i-1" || md.Hostname != "" || len(md.Keys) != 0 || md.UserData != nil {
		t.Errorf("got %+v", md)
	}
}

// The fake is not a pushover: a tokenless GET is a recorded violation
// (this is what the agent's tests rely on).
func TestEC2FakeCatchesIMDSv1(t *testing.T) {
	f := &firstboottest.EC2{InstanceID: "i-1"}
	r, err := HTTPClient{}.do(context.Background(), "GET", serve(t, f)+"/latest/meta-data/instance-id", nil, nil, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 401 || len(f.Violations()) != 1 {
		t.Errorf("status %d, violations %v", r.Status, f.Violations())
	}
}

// A server that refuses the token (IMDS disabled, or not IMDS) is a
// protocol error, not "no metadata".
func TestEC2TokenRefused(t *testing.T) {
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }))
	_, err := EC2{Network{Endpoint: url}}.Fetch(context.Background())
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("%v, want ErrProtocol", err)
	}
}

// Nothing listening: retried until the deadline, then ErrNoMetadata.
func TestUnreachableIsNoMetadata(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	for _, s := range []Source{
		EC2{Network{Endpoint: url, Deadline: 600 * time.Millisecond}},
		GCE{Network: Network{Endpoint: url, Deadline: 600 * time.Millisecond}, User: "ops"},
		Azure{Network: Network{Endpoint: url, Deadline: 600 * time.Millisecond}},
	} {
		if _, err := s.Fetch(context.Background()); !errors.Is(err, ErrNoMetadata) {
			t.Errorf("%s: %v, want ErrNoMetadata", s.Name(), err)
		}
	}
}

// GCE: Metadata-Flavor on every request; keys for the login user from the
// instance and the project; expired and other users' keys skipped; the
// short host name.
func TestGCE(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &firstboottest.GCE{ID: "4520031799277581759", Hostname: "web-1.c.project.internal",
		Instance: map[string]string{
			"ssh-keys": "ops:" + keyEd25519 + "\nalice:" + keyRSA + "\n" +
				`ops:` + keyECDSA + ` google-ssh {"userName":"ops","expireOn":"2025-12-31T23:59:59+0000"}` + "\n",
			"user-data": "#cloud-config\n",
		},
		Project: map[string]string{"ssh-keys": "ops:" + keyRSA + ` google-ssh {"userName":"ops","expireOn":"2026-06-01T00:00:00Z"}`},
	}
	md, err := GCE{Network: Network{Endpoint: serve(t, f)}, User: "ops", Now: func() time.Time { return now }}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	noViolations(t, f.Violations())
	want := []string{keyEd25519, keyRSA + ` google-ssh {"userName":"ops","expireOn":"2026-06-01T00:00:00Z"}`}
	if md.InstanceID != "4520031799277581759" || md.Hostname != "web-1" || !slices.Equal(md.Keys, want) || string(md.UserData) != "#cloud-config\n" {
		t.Errorf("got %+v\nwant keys %q", md, want)
	}
	// block-project-ssh-keys: the project's keys are not even asked for.
	f.Instance["block-project-ssh-keys"] = "TRUE"
	before := len(f.Requests())
	md, err = GCE{Network: Network{Endpoint: serve(t, f)}, User: "ops", Now: func() time.Time { return now }}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(md.Keys, []string{keyEd25519}) || slices.Contains(f.Requests()[before:], "GET /computeMetadata/v1/project/attributes/ssh-keys") {
		t.Errorf("with block-project-ssh-keys: keys %q, requests %v", md.Keys, f.Requests())
	}
}

// A server that does not say Metadata-Flavor: Google is not the metadata
// server.
func TestGCEWrongServer(t *testing.T) {
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("1")) }))
	if _, err := (GCE{Network: Network{Endpoint: url}, User: "ops"}).Fetch(context.Background()); !errors.Is(err, ErrProtocol) {
		t.Errorf("%v, want ErrProtocol", err)
	}
}

// Azure: IMDS for name, keys and user data; the ready report reaches the
// wire server with the goal state's identifiers.
func TestAzure(t *testing.T) {
	f := &firstboottest.Azure{VMID: "02aab8a4-74ef-476e-8182-f6d2ba4166a6", ComputerName: "examplevmname",
		Keys: []string{keyRSA}, UserData: []byte("ECS_CLUSTER=x"), Incarnation: "3",
		ContainerID: "b7d1a0c2-0a3f-4bd1-9f8e-000000000001", RoleInstanceID: "896a2f52-5b8b-4a47-b9f3-000000000002._examplevmname"}
	a := Azure{Network: Network{Endpoint: serve(t, f.IMDS())}, WireServer: serve(t, f.WireServer())}
	root := t.TempDir()
	md, err := Run(context.Background(), Config{Sources: []Source{a}, Target: Target{Root: root, User: "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	noViolations(t, f.Violations())
	if md.Hostname != "examplevmname" || !slices.Equal(md.Keys, []string{keyRSA}) || string(md.UserData) != "ECS_CLUSTER=x" || md.InstanceID != f.VMID {
		t.Errorf("got %+v", md)
	}
	if !f.IsReady() {
		t.Error("the wire server got no Ready report")
	}
}

// Names with XML metacharacters are escaped in the Health report.
func TestHealthReadyEscapes(t *testing.T) {
	gs, err := ParseGoalState([]byte(`<GoalState><Incarnation>1</Incarnation><Container><ContainerId>c&amp;d</ContainerId>
<RoleInstanceList><RoleInstance><InstanceId>&lt;i&gt;</InstanceId></RoleInstance></RoleInstanceList></Container></GoalState>`))
	if err != nil {
		t.Fatal(err)
	}
	h := string(HealthReady(gs))
	if !strings.Contains(h, "<ContainerId>c&amp;d</ContainerId>") || !strings.Contains(h, "<InstanceId>&lt;i&gt;</InstanceId>") {
		t.Errorf("health report:\n%s", h)
	}
	for _, bad := range []string{"", "<GoalState/>", "<GoalState><Incarnation>1</Incarnation></GoalState>", "<x"} {
		if _, err := ParseGoalState([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A wire server that rejects the report fails the run (Azure would wait
// for it until provisioning times out).
func TestAzureReadyRejected(t *testing.T) {
	f := &firstboottest.Azure{VMID: "v", ComputerName: "n", Incarnation: "1", ContainerID: "c", RoleInstanceID: "r"}
	wire := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			http.Error(w, "no", 500)
			return
		}
		f.WireServer().ServeHTTP(w, r)
	}))
	a := Azure{Network: Network{Endpoint: serve(t, f.IMDS())}, WireServer: wire}
	_, err := Run(context.Background(), Config{Sources: []Source{a}, Target: Target{Root: t.TempDir()}})
	if !errors.Is(err, ErrProtocol) || errors.Is(err, ErrNoMetadata) {
		t.Errorf("%v, want ErrProtocol", err)
	}
}
