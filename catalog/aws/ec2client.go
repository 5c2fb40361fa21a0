package aws

// This file speaks the EC2 Query API directly, for the ten actions the
// registrar calls, instead of linking the SDK's EC2 client (service/ec2,
// about 19 MB of code for the whole EC2 API surface). The wire format is
// AWS's documented one ("Making requests to the Amazon EC2 API", "Query
// requests for Amazon EC2", "Error codes for the Amazon EC2 API"):
//
//   - a form-encoded POST to https://ec2.REGION.amazonaws.com/ with
//     Action=NAME&Version=2016-11-15 and the action's parameters, lists
//     flattened as Name.N (and Name.N.Member.M), signed with SigV4 for the
//     service "ec2";
//   - an XML answer whose root element is NAMEResponse (ec2 namespace),
//     with nextToken where the action pages;
//   - an error as <Response><Errors><Error><Code/><Message/></Error>
//     </Errors><RequestID/></Response> with a 4xx or 5xx status.
//
// Credentials, retries and the HTTP client still come from the SDK's
// aws.Config (config.LoadDefaultConfig), so the credential chain and the
// retry settings (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE) are the SDK's; the
// signature is the SDK's SigV4 signer's.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// EC2Version is the EC2 Query API version the client sends.
const EC2Version = "2016-11-15"

// Bounds of what the client reads of an answer: EC2 answers to the
// actions the registrar calls are a few KiB (a DescribeImages page of
// 1000 images a few MiB).
const (
	maxEC2Answer = 16 << 20
	maxEC2Error  = 64 << 10
)

// EC2API sends EC2 Query API requests; *EC2Client implements it.
type EC2API interface {
	// Call sends action with params (the client adds Action and Version)
	// and decodes the XML answer, whose root element must be
	// <actionResponse>, into out (a pointer to a struct with xml tags, or
	// nil). An error answer is an *APIError.
	Call(ctx context.Context, action string, params url.Values, out any) error
}

// EC2Client is a client of the EC2 Query API: it signs each request with
// SigV4 using the credentials of an aws.Config, retries what the config's
// retryer says is retryable (throttling, 5xx, connection errors), with its
// backoff, and reads every answer through a bound.
type EC2Client struct {
	region   string
	endpoint string
	creds    awsv2.CredentialsProvider
	client   awsv2.HTTPClient
	retryer  awsv2.Retryer
	signer   *v4.Signer
	err      error // a configuration the client cannot use
}

var regionRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)

// NewEC2Client returns an EC2 client for cfg's region with cfg's
// credentials, HTTP client and retry settings. The endpoint is, in order,
// the EC2 one configured for the SDK (AWS_ENDPOINT_URL_EC2, the shared
// config's services section), cfg.BaseEndpoint (AWS_ENDPOINT_URL), or the
// region's, FIPS and dual-stack as configured (AWS_USE_FIPS_ENDPOINT,
// AWS_USE_DUALSTACK_ENDPOINT). It never fails: a configuration the client
// cannot use (no region, a malformed endpoint, no credentials) is reported
// by every Call as an ErrConfig.
func NewEC2Client(cfg awsv2.Config) *EC2Client {
	ctx := context.Background()
	c := &EC2Client{region: cfg.Region, client: cfg.HTTPClient, signer: v4.NewSigner()}
	if c.client == nil {
		c.client = awshttp.NewBuildableClient()
	}
	c.retryer = ec2Retryer(cfg)
	switch p := cfg.Credentials.(type) {
	case nil:
	case *awsv2.CredentialsCache:
		c.creds = p
	default:
		c.creds = awsv2.NewCredentialsCache(p)
	}
	if !regionRe.MatchString(cfg.Region) {
		c.err = fmt.Errorf("%w: EC2: region %q", ErrConfig, cfg.Region)
		return c
	}
	c.endpoint, c.err = ec2Endpoint(ctx, cfg)
	return c
}

// ec2Retryer is the retryer the SDK's EC2 client would use for cfg.
func ec2Retryer(cfg awsv2.Config) awsv2.Retryer {
	var r awsv2.Retryer
	switch {
	case cfg.Retryer != nil:
		r = cfg.Retryer()
	case cfg.RetryMode == awsv2.RetryModeAdaptive:
		r = retry.NewAdaptiveMode()
	default:
		r = retry.NewStandard()
	}
	if cfg.RetryMaxAttempts != 0 {
		r = retry.AddWithMaxAttempts(r, cfg.RetryMaxAttempts)
	}
	return r
}

// ec2Endpoint resolves the EC2 endpoint of cfg as the SDK's EC2 client
// does for the standard partitions.
func ec2Endpoint(ctx context.Context, cfg awsv2.Config) (string, error) {
	base := ""
	if cfg.BaseEndpoint != nil {
		base = *cfg.BaseEndpoint
	}
	for _, src := range cfg.ConfigSources {
		if s, ok := src.(interface {
			GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
		}); ok {
			if v, found, err := s.GetServiceBaseEndpoint(ctx, "EC2"); err == nil && found && v != "" {
				base = v
				break
			}
		}
	}
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("%w: EC2 endpoint %q is not an http(s) URL", ErrConfig, base)
		}
		return strings.TrimSuffix(u.String(), "/") + "/", nil
	}
	var fips, dual bool
	for _, src := range cfg.ConfigSources {
		if s, ok := src.(interface {
			GetUseFIPSEndpoint(context.Context) (awsv2.FIPSEndpointState, bool, error)
		}); ok && !fips {
			v, found, err := s.GetUseFIPSEndpoint(ctx)
			fips = err == nil && found && v == awsv2.FIPSEndpointStateEnabled
		}
		if s, ok := src.(interface {
			GetUseDualStackEndpoint(context.Context) (awsv2.DualStackEndpointState, bool, error)
		}); ok && !dual {
			v, found, err := s.GetUseDualStackEndpoint(ctx)
			dual = err == nil && found && v == awsv2.DualStackEndpointStateEnabled
		}
	}
	return "https://" + ec2Host(cfg.Region, fips, dual) + "/", nil
}

// ec2Host is the EC2 host name of region in its partition (AWS's
// partitions.json: dnsSuffix and dualStackDnsSuffix).
func ec2Host(region string, fips, dual bool) string {
	suffix, dualSuffix := "amazonaws.com", "api.aws"
	switch {
	case strings.HasPrefix(region, "cn-"):
		suffix, dualSuffix = "amazonaws.com.cn", "api.amazonwebservices.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		suffix, dualSuffix = "sc2s.sgov.gov", "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-iso-"):
		suffix, dualSuffix = "c2s.ic.gov", "c2s.ic.gov"
	}
	name := "ec2"
	if fips {
		name = "ec2-fips"
	}
	if dual {
		return name + "." + region + "." + dualSuffix
	}
	return name + "." + region + "." + suffix
}

// Call implements EC2API.
func (c *EC2Client) Call(ctx context.Context, action string, params url.Values, out any) error {
	if c.err != nil {
		return c.err
	}
	if c.creds == nil {
		return fmt.Errorf("%w: EC2 %s: no credentials in the AWS configuration", ErrConfig, action)
	}
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("Action", action)
	form.Set("Version", EC2Version)
	body := []byte(form.Encode())

	release := nopRelease
	for attempt := 1; ; attempt++ {
		var relAttempt func(error) error
		if r2, ok := c.retryer.(awsv2.RetryerV2); ok {
			var err error
			if relAttempt, err = r2.GetAttemptToken(ctx); err != nil {
				return fmt.Errorf("aws: EC2 %s: %w", action, err)
			}
		} else {
			relAttempt = c.retryer.GetInitialToken()
		}
		err := c.send(ctx, action, body, out)
		release(err)
		if attempt == 1 {
			relAttempt(err)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !c.retryer.IsErrorRetryable(err) {
			return err
		}
		if max := c.retryer.MaxAttempts(); max > 0 && attempt >= max {
			if attempt > 1 {
				return fmt.Errorf("aws: EC2 %s: %d attempts: %w", action, attempt, err)
			}
			return err
		}
		delay, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return err
		}
		if release, derr = c.retryer.GetRetryToken(ctx, err); derr != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

func nopRelease(error) error { return nil }

// send makes one attempt.
func (c *EC2Client) send(ctx context.Context, action string, body []byte, out any) error {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("aws: EC2 %s: credentials: %w", action, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: EC2 %s: %v", ErrConfig, action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "hardvm (EC2 Query API; aws-sdk-go-v2 signer)")
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", c.region, time.Now().UTC()); err != nil {
		return fmt.Errorf("aws: EC2 %s: signing: %w", action, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return &sendError{action: action, err: err}
	}
	defer resp.Body.Close()
	reqID := resp.Header.Get("X-Amzn-Requestid")
	if resp.StatusCode/100 != 2 {
		b, rerr := readBounded(resp.Body, maxEC2Error)
		return parseEC2Error(action, resp.StatusCode, reqID, b, rerr)
	}
	b, err := readBounded(resp.Body, maxEC2Answer)
	if err != nil {
		return fmt.Errorf("aws: EC2 %s: answer: %w", action, err)
	}
	return decodeEC2(action, b, out)
}

// readBounded reads r to its end, at most limit bytes: a longer answer is
// an ErrResponse.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("%w: longer than %d bytes", ErrResponse, limit)
	}
	return b, nil
}

// decodeEC2 decodes the answer b of action into out: its root element must
// be <actionResponse>.
func decodeEC2(action string, b []byte, out any) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: EC2 %s: no XML answer: %v", ErrResponse, action, err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local != action+"Response" {
			return fmt.Errorf("%w: EC2 %s: answer is <%s>, want <%sResponse>", ErrResponse, action, start.Name.Local, action)
		}
		if out == nil {
			out = &struct{}{}
		}
		if err := d.DecodeElement(out, &start); err != nil {
			return fmt.Errorf("%w: EC2 %s: %v", ErrResponse, action, err)
		}
		return nil
	}
}

// APIError is an error answer of EC2: its documented error code and
// message. It matches (errors.Is) ErrNotFound, ErrDenied or ErrThrottled
// by its code, and satisfies smithy.APIError as the SDK's errors do.
type APIError struct {
	Action     string // the EC2 action
	StatusCode int    // the HTTP status
	Code       string // e.g. InvalidAMIID.NotFound; "" when the answer was not an EC2 error document
	Message    string
	RequestID  string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("EC2 %s: ", e.Action)
	if e.Code != "" {
		s += e.Code + ": " + e.Message
	} else {
		s += fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Message != "" {
			s += ": " + e.Message
		}
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// ErrorCode returns the EC2 error code.
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage returns the EC2 error message.
func (e *APIError) ErrorMessage() string { return e.Message }

// ErrorFault says whether the client (4xx) or the server (5xx) erred.
func (e *APIError) ErrorFault() smithy.ErrorFault {
	switch {
	case e.StatusCode >= 500:
		return smithy.FaultServer
	case e.StatusCode >= 400:
		return smithy.FaultClient
	}
	return smithy.FaultUnknown
}

// HTTPStatusCode returns the HTTP status: the SDK's retryer retries 500,
// 502, 503 and 504.
func (e *APIError) HTTPStatusCode() int { return e.StatusCode }

// Is maps the error code to the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return strings.HasSuffix(e.Code, ".NotFound") || e.Code == "InvalidAMIID.Unavailable"
	case ErrDenied:
		switch e.Code {
		case "AuthFailure", "UnauthorizedOperation", "SignatureDoesNotMatch", "InvalidClientTokenId",
			"MissingAuthenticationToken", "OptInRequired", "Blocked", "PendingVerification",
			"RequestExpired", "ExpiredToken":
			return true
		}
		return e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized
	case ErrThrottled:
		switch e.Code {
		case "RequestLimitExceeded", "Throttling", "ThrottlingException":
			return true
		}
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// ec2ErrorDoc is the documented error answer.
type ec2ErrorDoc struct {
	XMLName xml.Name `xml:"Response"`
	Errors  []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

// parseEC2Error makes the *APIError of an answer with a non-2xx status.
func parseEC2Error(action string, status int, reqID string, b []byte, readErr error) error {
	e := &APIError{Action: action, StatusCode: status, RequestID: reqID}
	var doc ec2ErrorDoc
	if readErr == nil && xml.Unmarshal(b, &doc) == nil && len(doc.Errors) > 0 && doc.Errors[0].Code != "" {
		e.Code, e.Message = doc.Errors[0].Code, doc.Errors[0].Message
		if doc.RequestID != "" {
			e.RequestID = doc.RequestID
		}
		return e
	}
	e.Message = "the answer is not an EC2 error document"
	if readErr != nil {
		e.Message += " (" + readErr.Error() + ")"
	}
	return e
}

// sendError is a request that got no answer. Like the SDK's
// smithyhttp.RequestSendError it is a connection error, which the SDK's
// retryers retry (retry.RetryableConnectionError).
type sendError struct {
	action string
	err    error
}

func (e *sendError) Error() string         { return "aws: EC2 " + e.action + ": " + e.err.Error() }
func (e *sendError) Unwrap() error         { return e.err }
func (e *sendError) ConnectionError() bool { return true }

// ec2List appends the members of a list parameter as name.1, name.2, …
func ec2List(p url.Values, name string, vals ...string) {
	for i, v := range vals {
		p.Set(name+"."+strconv.Itoa(i+1), v)
	}
}

// ec2TagSpec appends the tag specification n for resourceType in the
// documented TagSpecification.N.ResourceType, TagSpecification.N.Tag.M.Key
// and .Value form, tags in key order.
func ec2TagSpec(p url.Values, n int, resourceType string, tags map[string]string) {
	pre := "TagSpecification." + strconv.Itoa(n) + "."
	p.Set(pre+"ResourceType", resourceType)
	for i, k := range sortedKeys(tags) {
		t := pre + "Tag." + strconv.Itoa(i+1) + "."
		p.Set(t+"Key", k)
		p.Set(t+"Value", tags[k])
	}
}

// maxEC2Pages bounds the pages ec2Pages reads of one listing (a million
// images at DescribeImages' 1000 a page).
const maxEC2Pages = 1000

// ec2Pages calls action with params once per page, following nextToken
// until EC2 gives none; page decodes into a new value of T and returns its
// nextToken.
func ec2Pages[T any](ctx context.Context, api EC2API, action string, params url.Values, page func(*T) string) error {
	seen := map[string]bool{}
	for token := ""; ; {
		if len(seen) >= maxEC2Pages {
			return fmt.Errorf("%w: EC2 %s: more than %d pages", ErrResponse, action, maxEC2Pages)
		}
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		if token != "" {
			p.Set("NextToken", token)
		}
		var out T
		if err := api.Call(ctx, action, p, &out); err != nil {
			return err
		}
		next := page(&out)
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("%w: EC2 %s: nextToken repeats", ErrResponse, action)
		}
		seen[next] = true
		token = next
	}
}

var _ EC2API = (*EC2Client)(nil)
