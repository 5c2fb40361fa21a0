package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
)

// scripted is an EC2 endpoint that answers each request with the next of
// its answers (the last one repeats), after checking, as the fake does,
// the request's SigV4 signature (recomputed with the test credentials),
// that it is a form POST with Action and Version=2016-11-15.
type scripted struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	answers []answer
	forms   []map[string]string // the requests' parameters
}

type answer struct {
	status int
	body   string
}

func newScripted(t *testing.T, answers ...answer) *scripted {
	s := &scripted{t: t, answers: answers}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sig, err := checkSigV4(r); err != nil || sig.service != "ec2" || sig.region != "eu-west-1" {
			t.Errorf("scripted EC2: signature: %+v %v", sig, err)
		}
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("Version") != EC2Version || r.PostForm.Get("Action") == "" {
			t.Errorf("scripted EC2: want a form POST with Action and Version, got %s %v (%v)", r.Method, r.PostForm, err)
		}
		form := map[string]string{}
		for k, v := range r.PostForm {
			form[k] = v[0]
		}
		s.mu.Lock()
		s.forms = append(s.forms, form)
		a := s.answers[min(len(s.forms), len(s.answers))-1]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-Requestid", "req-1")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) calls() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.forms) }

// client returns an EC2Client of s with at most attempts attempts and no
// backoff (the test must not wait).
func (s *scripted) client(attempts int) *EC2Client {
	return NewEC2Client(awsv2.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
		BaseEndpoint: awsv2.String(s.srv.URL),
		Retryer: func() awsv2.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	})
}

func ec2ErrorXML(code, msg string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`
}

// The documented error answer becomes an *APIError whose code maps to the
// package's sentinels; throttling and 5xx are retried, client errors not.
func TestEC2ErrorMapping(t *testing.T) {
	ok := answer{200, `<DeregisterImageResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></DeregisterImageResponse>`}
	for _, tc := range []struct {
		name     string
		first    answer
		sentinel error // nil: none of them
		retried  bool
	}{
		{"not found", answer{400, ec2ErrorXML("InvalidAMIID.NotFound", "The image id '[ami-1]' does not exist")}, ErrNotFound, false},
		{"deregistered", answer{400, ec2ErrorXML("InvalidAMIID.Unavailable", "gone")}, ErrNotFound, false},
		{"snapshot not found", answer{400, ec2ErrorXML("InvalidSnapshot.NotFound", "no")}, ErrNotFound, false},
		{"denied", answer{403, ec2ErrorXML("UnauthorizedOperation", "You are not authorized to perform this operation.")}, ErrDenied, false},
		{"auth", answer{401, ec2ErrorXML("AuthFailure", "AWS was not able to validate the provided access credentials")}, ErrDenied, false},
		{"throttled", answer{503, ec2ErrorXML("RequestLimitExceeded", "Request limit exceeded.")}, ErrThrottled, true},
		{"internal", answer{500, ec2ErrorXML("InternalError", "An internal error has occurred")}, nil, true},
		{"unavailable", answer{503, ec2ErrorXML("Unavailable", "The server is overloaded")}, nil, true},
		{"not an error document", answer{502, `<html><body>Bad Gateway</body></html>`}, nil, true},
		{"invalid parameter", answer{400, ec2ErrorXML("InvalidParameterValue", "Value (x) for parameter y is invalid")}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One attempt: the error as EC2 sent it.
			s := newScripted(t, tc.first, ok)
			err := s.client(1).Call(context.Background(), "DeregisterImage", nil, nil)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Action != "DeregisterImage" || ae.StatusCode != tc.first.status {
				t.Fatalf("Call = %v, want an *APIError of HTTP %d", err, tc.first.status)
			}
			for _, sentinel := range []error{ErrNotFound, ErrDenied, ErrThrottled} {
				if errors.Is(err, sentinel) != (sentinel == tc.sentinel) {
					t.Errorf("errors.Is(%v, %v) = %v", err, sentinel, !(sentinel == tc.sentinel))
				}
			}
			var sae smithy.APIError
			if !errors.As(err, &sae) || sae.ErrorCode() != ae.Code {
				t.Errorf("not a smithy.APIError with the code: %v", err)
			}
			if strings.HasPrefix(tc.first.body, "<?xml") && (ae.Code == "" || ae.RequestID != "ea966190-f9aa-478e-9ede-example" || !strings.Contains(err.Error(), ae.Message)) {
				t.Errorf("error document not read: %+v", ae)
			}
			// Three attempts: retried (and succeeding) or not.
			s = newScripted(t, tc.first, ok)
			err = s.client(3).Call(context.Background(), "DeregisterImage", nil, nil)
			if tc.retried && (err != nil || s.calls() != 2) {
				t.Errorf("retryable: Call = %v after %d attempts, want success on the second", err, s.calls())
			}
			if !tc.retried && (err == nil || s.calls() != 1) {
				t.Errorf("not retryable: Call = %v after %d attempts, want the error after one", err, s.calls())
			}
		})
	}
}

// Retries stop at the configured number of attempts and say so; each
// attempt is signed anew (the scripted endpoint checks every signature).
func TestEC2RetriesExhausted(t *testing.T) {
	s := newScripted(t, answer{503, ec2ErrorXML("RequestLimitExceeded", "Request limit exceeded.")})
	err := s.client(3).Call(context.Background(), "DescribeSnapshots", nil, nil)
	if !errors.Is(err, ErrThrottled) || s.calls() != 3 || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("Call = %v after %d attempts, want ErrThrottled after 3", err, s.calls())
	}
	// A cancelled context stops the retries.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s = newScripted(t, answer{503, ec2ErrorXML("RequestLimitExceeded", "slow down")})
	if err := s.client(3).Call(ctx, "DescribeSnapshots", nil, nil); err == nil || s.calls() > 1 {
		t.Fatalf("cancelled: %v after %d attempts", err, s.calls())
	}
	// An answer that never came is a connection error, which the SDK's
	// retryer retries.
	if !retry.NewStandard().IsErrorRetryable(&sendError{service: "EC2", action: "X", err: errors.New("connection reset by peer")}) {
		t.Error("a send error is not retryable")
	}
}

// Every answer is read through a bound: a longer one is an ErrResponse,
// not a long read; an answer of another action, or not XML, is refused.
func TestEC2AnswerBounds(t *testing.T) {
	huge := `<DescribeImagesResponse><imagesSet>` + strings.Repeat("<item><imageId>ami-1</imageId></item>", maxEC2Answer/36) + `</imagesSet></DescribeImagesResponse>`
	for _, tc := range []struct {
		name string
		a    answer
		want error
	}{
		{"too long", answer{200, huge}, ErrResponse},
		{"other action", answer{200, `<RegisterImageResponse><imageId>ami-1</imageId></RegisterImageResponse>`}, ErrResponse},
		{"not xml", answer{200, `{"Images": []}`}, ErrResponse},
		{"truncated", answer{200, `<DescribeImagesResponse><imagesSet><item>`}, ErrResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScripted(t, tc.a)
			var out ec2Images
			err := s.client(1).Call(context.Background(), "DescribeImages", nil, &out)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Call = %v, want %v", err, tc.want)
			}
		})
	}
	// An error answer longer than its bound is still an *APIError of its
	// status (and retried as such), without the unread document's code.
	s := newScripted(t, answer{500, ec2ErrorXML("InternalError", strings.Repeat("x", maxAPIError))})
	err := s.client(1).Call(context.Background(), "DescribeImages", nil, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Code != "" || !strings.Contains(ae.Message, "longer than") {
		t.Fatalf("Call = %#v", err)
	}
}

// A configuration the client cannot use fails every call with ErrConfig,
// before anything is sent.
func TestEC2ClientConfigErrors(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	for name, cfg := range map[string]awsv2.Config{
		"no region":      {Credentials: creds},
		"bad region":     {Region: "eu-west-1.evil.example/", Credentials: creds},
		"bad endpoint":   {Region: "eu-west-1", Credentials: creds, BaseEndpoint: awsv2.String("ftp://x")},
		"no credentials": {Region: "eu-west-1"},
	} {
		if err := NewEC2Client(cfg).Call(context.Background(), "DescribeImages", nil, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Call = %v, want ErrConfig", name, err)
		}
	}
}

// The endpoint is the SDK's: the EC2-specific one configured, else the
// base endpoint, else the region's in its partition, FIPS and dual-stack
// as configured.
func TestEC2Endpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_EC2", "")
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  awsv2.Config
		want string
	}{
		{awsv2.Config{Region: "eu-west-1"}, "https://ec2.eu-west-1.amazonaws.com/"},
		{awsv2.Config{Region: "cn-north-1"}, "https://ec2.cn-north-1.amazonaws.com.cn/"},
		{awsv2.Config{Region: "us-gov-west-1"}, "https://ec2.us-gov-west-1.amazonaws.com/"},
		{awsv2.Config{Region: "us-east-1", ConfigSources: []any{config.EnvConfig{UseFIPSEndpoint: awsv2.FIPSEndpointStateEnabled}}}, "https://ec2-fips.us-east-1.amazonaws.com/"},
		{awsv2.Config{Region: "us-east-1", ConfigSources: []any{config.EnvConfig{UseDualStackEndpoint: awsv2.DualStackEndpointStateEnabled}}}, "https://ec2.us-east-1.api.aws/"},
		{awsv2.Config{Region: "eu-west-1", BaseEndpoint: awsv2.String("http://127.0.0.1:4566")}, "http://127.0.0.1:4566/"},
	} {
		if got, err := serviceEndpoint(ctx, tc.cfg, "EC2", ec2Host); err != nil || got != tc.want {
			t.Errorf("%s %v: endpoint %q, %v; want %q", tc.cfg.Region, tc.cfg.ConfigSources, got, err, tc.want)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:9999")
	cfg := awsv2.Config{Region: "eu-west-1", BaseEndpoint: awsv2.String("http://127.0.0.1:4566"), ConfigSources: []any{config.EnvConfig{}}}
	if got, err := serviceEndpoint(ctx, cfg, "EC2", ec2Host); err != nil || got != "http://127.0.0.1:9999/" {
		t.Errorf("AWS_ENDPOINT_URL_EC2: endpoint %q, %v", got, err)
	}
}

// New takes its credentials, region and endpoint from the SDK's
// configuration chain: here a shared credentials file with a session
// token and AWS_ENDPOINT_URL_EC2 pointing at the fake, which recomputes
// the signature (the token is a signed header).
func TestNewUsesTheSDKConfigChain(t *testing.T) {
	fake := newFakeAWS(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[hardvm]\naws_access_key_id = "+testAccessKey+"\naws_secret_access_key = "+testSecretKey+"\naws_session_token = session-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_PROFILE": "hardvm",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_EC2": fake.srv.URL, "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := findImage(context.Background(), r.ec2, "hardvm-none"); err != nil || id != "" {
		t.Fatalf("findImage = %q, %v", id, err)
	}
	if fake.calls["DescribeImages"] != 1 {
		t.Fatalf("calls %v", fake.calls)
	}
}

// findImage follows DescribeImages' nextToken through pages, some empty,
// until the image turns up or the pages end; deregister's DescribeImages
// by id is not paginated by MaxResults (the documented combination EC2
// refuses).
func TestDescribeImagesPages(t *testing.T) {
	fake := newFakeAWS(t)
	fake.pageSize = 2
	for i := range 5 {
		id := fmt.Sprintf("ami-%017d", i+1)
		fake.images[id] = &fakeImage{id: id, name: fmt.Sprintf("hardvm-%d", i), region: "eu-west-1", snapshot: "snap-1"}
	}
	_, c := clients(fake, "eu-west-1")
	ctx := context.Background()
	if id, err := findImage(ctx, c, "hardvm-4"); err != nil || id != "ami-00000000000000005" || fake.pages != 3 {
		t.Fatalf("findImage of the last = %q, %v after %d pages, want 3", id, err, fake.pages)
	}
	fake.pages = 0
	if id, err := findImage(ctx, c, "hardvm-0"); err != nil || id != "ami-00000000000000001" || fake.pages != 1 {
		t.Fatalf("findImage of the first = %q, %v after %d pages: it stops once found", id, err, fake.pages)
	}
	fake.pages = 0
	if id, err := findImage(ctx, c, "hardvm-9"); err != nil || id != "" || fake.pages != 3 {
		t.Fatalf("findImage of none = %q, %v after %d pages", id, err, fake.pages)
	}
	snaps, found, err := imageSnapshots(ctx, c, "ami-00000000000000004")
	if err != nil || !found || len(snaps) != 1 || snaps[0] != "snap-1" {
		t.Fatalf("imageSnapshots = %v %v %v", snaps, found, err)
	}
	// A token the fake did not issue is refused as EC2 documents.
	err = c.Call(ctx, "DescribeImages", map[string][]string{"MaxResults": {"5"}, "NextToken": {"forged"}}, nil)
	if ae, ok := err.(*APIError); !ok || ae.Code != "InvalidPaginationToken" {
		t.Fatalf("forged token: %v", err)
	}
	// A nextToken that repeats is an answer error, not an endless loop.
	page := `<DescribeImagesResponse><imagesSet/><nextToken>again</nextToken></DescribeImagesResponse>`
	s := newScripted(t, answer{200, page})
	if _, err := findImage(ctx, s.client(1), "x"); !errors.Is(err, ErrResponse) || s.calls() != 2 {
		t.Fatalf("repeated nextToken: %v after %d calls", err, s.calls())
	}
}

// Tag specifications go out in the documented TagSpecification.N form,
// keys sorted, and the list parameters as Name.N.
func TestEC2ParameterForms(t *testing.T) {
	s := newScripted(t, answer{200, `<ImportSnapshotResponse><importTaskId>import-snap-1</importTaskId></ImportSnapshotResponse>`},
		answer{200, `<DescribeImportSnapshotTasksResponse><importSnapshotTaskSet><item><importTaskId>import-snap-1</importTaskId><snapshotTaskDetail><status>completed</status><snapshotId>snap-9</snapshotId></snapshotTaskDetail></item></importSnapshotTaskSet></DescribeImportSnapshotTasksResponse>`})
	snap, err := importSnapshot(context.Background(), s.client(1), "b", "k", "VMDK", "d", "tok", map[string]string{"z": "1", "a": "2"}, time.Millisecond)
	if err != nil || snap != "snap-9" {
		t.Fatalf("importSnapshot = %q, %v", snap, err)
	}
	want := map[string]string{
		"Action": "ImportSnapshot", "Version": EC2Version, "ClientToken": "tok", "Description": "d",
		"DiskContainer.Format": "VMDK", "DiskContainer.Description": "d",
		"DiskContainer.UserBucket.S3Bucket": "b", "DiskContainer.UserBucket.S3Key": "k",
		"TagSpecification.1.ResourceType": "import-snapshot-task",
		"TagSpecification.1.Tag.1.Key":    "a", "TagSpecification.1.Tag.1.Value": "2",
		"TagSpecification.1.Tag.2.Key": "z", "TagSpecification.1.Tag.2.Value": "1",
	}
	if got := s.forms[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ImportSnapshot form\n got %v\nwant %v", got, want)
	}
	if got := s.forms[1]; got["ImportTaskId.1"] != "import-snap-1" || len(got) != 3 {
		t.Errorf("DescribeImportSnapshotTasks form %v", got)
	}
}

// The shared config's services section names the EC2 endpoint unless
// AWS_ENDPOINT_URL says otherwise (the documented precedence).
func TestEC2EndpointSharedConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	if err := os.WriteFile(conf, []byte("[profile hardvm]\nregion = eu-west-1\nservices = local\n\n[services local]\nec2 =\n  endpoint_url = http://127.0.0.1:1111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_CONFIG_FILE": conf, "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"), "AWS_PROFILE": "hardvm", "AWS_REGION": ""} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)  // unset, not empty: the precedence looks at presence
	}
	ctx := context.Background()
	for _, tc := range []struct{ global, want string }{
		{"", "http://127.0.0.1:1111/"},
		{"http://127.0.0.1:2222", "http://127.0.0.1:2222/"},
	} {
		if tc.global != "" {
			t.Setenv("AWS_ENDPOINT_URL", tc.global)
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := serviceEndpoint(ctx, cfg, "EC2", ec2Host); err != nil || got != tc.want {
			t.Errorf("AWS_ENDPOINT_URL=%q: endpoint %q, %v; want %q", tc.global, got, err, tc.want)
		}
	}
}
