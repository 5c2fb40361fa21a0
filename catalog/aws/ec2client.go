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
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
)

// EC2Version is the EC2 Query API version the client sends.
const EC2Version = "2016-11-15"

// maxEC2Answer bounds what the client reads of an answer: EC2 answers to
// the actions the registrar calls are a few KiB (a DescribeImages page of
// 1000 images a few MiB).
const maxEC2Answer = 16 << 20

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
	signedClient
	endpoint string
}

// NewEC2Client returns an EC2 client for cfg's region with cfg's
// credentials, HTTP client and retry settings. The endpoint is, in order,
// the EC2 one configured for the SDK (AWS_ENDPOINT_URL_EC2, the shared
// config's services section), cfg.BaseEndpoint (AWS_ENDPOINT_URL), or the
// region's, FIPS and dual-stack as configured (AWS_USE_FIPS_ENDPOINT,
// AWS_USE_DUALSTACK_ENDPOINT). It never fails: a configuration the client
// cannot use (no region, a malformed endpoint, no credentials) is reported
// by every Call as an ErrConfig.
func NewEC2Client(cfg awsv2.Config) *EC2Client {
	c := &EC2Client{signedClient: newSignedClient(cfg, "EC2", "ec2")}
	if c.err == nil {
		c.endpoint, c.err = serviceEndpoint(context.Background(), cfg, "EC2", ec2Host)
	}
	return c
}

// serviceEndpoint resolves the endpoint of the service sdkID (EC2, S3) for
// cfg as the SDK's clients do for the standard partitions: host names the
// region's host of the service.
func serviceEndpoint(ctx context.Context, cfg awsv2.Config, sdkID string, host func(region string, fips, dual bool) string) (string, error) {
	base := ""
	if cfg.BaseEndpoint != nil {
		base = *cfg.BaseEndpoint
	}
	// The documented precedence: AWS_ENDPOINT_URL_<SERVICE>, then
	// AWS_ENDPOINT_URL, then the shared config's service section.
	_, global := os.LookupEnv("AWS_ENDPOINT_URL")
	_, service := os.LookupEnv("AWS_ENDPOINT_URL_" + sdkID)
	for _, src := range cfg.ConfigSources {
		if s, ok := src.(interface {
			GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
		}); ok && (!global || service) {
			if v, found, err := s.GetServiceBaseEndpoint(ctx, sdkID); err == nil && found && v != "" {
				base = v
				break
			}
		}
	}
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("%w: %s endpoint %q is not an http(s) URL", ErrConfig, sdkID, base)
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
	return "https://" + host(cfg.Region, fips, dual) + "/", nil
}

// partitionSuffix is the DNS suffix of region's partition, for dual-stack
// endpoints or not (AWS's partitions.json: dnsSuffix and
// dualStackDnsSuffix).
func partitionSuffix(region string, dual bool) string {
	suffix, dualSuffix := "amazonaws.com", "api.aws"
	switch {
	case strings.HasPrefix(region, "cn-"):
		suffix, dualSuffix = "amazonaws.com.cn", "api.amazonwebservices.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		suffix, dualSuffix = "sc2s.sgov.gov", "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-iso-"):
		suffix, dualSuffix = "c2s.ic.gov", "c2s.ic.gov"
	}
	if dual {
		return dualSuffix
	}
	return suffix
}

// ec2Host is the EC2 host name of region.
func ec2Host(region string, fips, dual bool) string {
	name := "ec2"
	if fips {
		name = "ec2-fips"
	}
	return name + "." + region + "." + partitionSuffix(region, dual)
}

// Call implements EC2API.
func (c *EC2Client) Call(ctx context.Context, action string, params url.Values, out any) error {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("Action", action)
	form.Set("Version", EC2Version)
	body := []byte(form.Encode())
	sum := sha256.Sum256(body)
	build := func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
	return c.do(ctx, action, build, hex.EncodeToString(sum[:]), func(resp *http.Response) error {
		b, err := readBounded(resp.Body, maxEC2Answer)
		if err != nil {
			return fmt.Errorf("aws: EC2 %s: answer: %w", action, err)
		}
		return decodeEC2(action, b, out)
	})
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
