package firstboottest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(t *testing.T, h http.Handler, method, url string, hdr map[string]string, body string) int {
	t.Helper()
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

// Each fake refuses and records what its service would refuse; the
// agent's tests are only as strict as these checks.
func TestFakesRecordViolations(t *testing.T) {
	ec2 := &EC2{InstanceID: "i-1"}
	for _, c := range []struct {
		method, url string
		hdr         map[string]string
		status      int
	}{
		{"GET", "/latest/meta-data/instance-id", nil, 401},
		{"GET", "/latest/api/token", nil, 405},
		{"PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "99999"}, 400},
		{"PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"}, 403},
		{"GET", "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": "guessed"}, 401},
	} {
		if got := do(t, ec2, c.method, c.url, c.hdr, ""); got != c.status {
			t.Errorf("ec2 %s %s: %d, want %d", c.method, c.url, got, c.status)
		}
	}
	if n := len(ec2.Violations()); n != 5 {
		t.Errorf("ec2: %d violations recorded, want 5", n)
	}

	gce := &GCE{ID: "1"}
	if do(t, gce, "GET", "/computeMetadata/v1/instance/id", nil, "") != 403 || do(t, gce, "POST", "/computeMetadata/v1/instance/id", map[string]string{"Metadata-Flavor": "Google"}, "") != 405 ||
		do(t, gce, "GET", "/computeMetadata/v1/instance/id", map[string]string{"Metadata-Flavor": "Google"}, "") != 200 || len(gce.Violations()) != 2 {
		t.Errorf("gce violations %v", gce.Violations())
	}

	az := &Azure{Incarnation: "1", ContainerID: "c", RoleInstanceID: "r"}
	imds, wire := az.IMDS(), az.WireServer()
	md := map[string]string{"Metadata": "true"}
	ms := map[string]string{"x-ms-version": "2012-11-30", "Content-Type": "text/xml"}
	ok := func(c string) string {
		return `<Health><GoalStateIncarnation>1</GoalStateIncarnation><Container><ContainerId>` + c +
			`</ContainerId><RoleInstanceList><Role><InstanceId>r</InstanceId><Health><State>Ready</State></Health></Role></RoleInstanceList></Container></Health>`
	}
	if do(t, imds, "GET", "/metadata/instance?api-version=2021-02-01", nil, "") != 400 ||
		do(t, imds, "GET", "/metadata/instance", md, "") != 400 ||
		do(t, wire, "GET", "/machine/?comp=goalstate", nil, "") != 400 ||
		do(t, wire, "POST", "/machine/?comp=health", ms, ok("wrong")) != 400 || az.IsReady() {
		t.Errorf("azure accepted a bad request: %v", az.Violations())
	}
	if do(t, wire, "POST", "/machine/?comp=health", ms, ok("c")) != 200 || !az.IsReady() || len(az.Violations()) != 4 {
		t.Errorf("azure: ready %v, violations %v", az.IsReady(), az.Violations())
	}
}
