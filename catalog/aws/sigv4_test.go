package aws

// checkSigV4 recomputes an AWS Signature Version 4 from the documented
// algorithm ("Create a signed AWS API request", AWS IAM user guide), with
// the test credentials, independently of the SDK's signer: the canonical
// request (method, URI, sorted query, the signed headers' canonical form,
// the payload's SHA-256), the string to sign, and the HMAC chain of the
// signing key. The fake refuses a request whose signature, credential,
// date or payload hash disagree.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test credentials (clients() in upload_test.go signs with them).
const (
	testAccessKey = "AKIDHARDVMTEST"
	testSecretKey = "secret"
)

// errBodyCut reports a body the client stopped sending (it cancelled the
// request): nothing to judge.
var errBodyCut = errors.New("request body cut short")

var authRe = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// sigV4 is what a checked signature says.
type sigV4 struct {
	region, service string
	unsignedPayload bool
}

// checkSigV4 checks r's signature with the test credentials; it reads the
// body (and puts it back).
func checkSigV4(r *http.Request) (sigV4, error) {
	return checkSigV4With(r, testAccessKey, testSecretKey)
}

// checkSigV4With checks r's signature with the credentials key, secret.
func checkSigV4With(r *http.Request, accessKey, secretKey string) (sigV4, error) {
	m := authRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return sigV4{}, fmt.Errorf("no SigV4 Authorization header: %q", r.Header.Get("Authorization"))
	}
	key, day, region, service, signed, sig := m[1], m[2], m[3], m[4], strings.Split(m[5], ";"), m[6]
	if key != accessKey {
		return sigV4{}, fmt.Errorf("access key %q, not the test credentials'", key)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || t.Format("20060102") != day {
		return sigV4{}, fmt.Errorf("X-Amz-Date %q does not match the credential scope date %s", amzDate, day)
	}
	if !sort.StringsAreSorted(signed) || !contains(signed, "host") || !contains(signed, "x-amz-date") {
		return sigV4{}, fmt.Errorf("SignedHeaders %v: sorted, with host and x-amz-date, required", signed)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return sigV4{}, fmt.Errorf("%w: %w", errBodyCut, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	out := sigV4{region: region, service: service}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h == "UNSIGNED-PAYLOAD" {
		payload, out.unsignedPayload = h, true
	} else if h != "" && h != payload {
		return sigV4{}, fmt.Errorf("X-Amz-Content-Sha256 %s, the body's is %s", h, payload)
	}
	var hdrs strings.Builder
	for _, h := range signed {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		default:
			vals = r.Header.Values(h)
		}
		if len(vals) == 0 {
			return sigV4{}, fmt.Errorf("signed header %s is not in the request", h)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		fmt.Fprintf(&hdrs, "%s:%s\n", h, strings.Join(vals, ","))
	}
	canonical := strings.Join([]string{
		r.Method, canonicalURI(r.URL.EscapedPath()), canonicalQuery(r.URL.Query()), hdrs.String(), m[5], payload,
	}, "\n")
	scope := day + "/" + region + "/" + service + "/aws4_request"
	crHash := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])
	k := hmacSHA256([]byte("AWS4"+secretKey), day)
	for _, s := range []string{region, service, "aws4_request"} {
		k = hmacSHA256(k, s)
	}
	if want := hex.EncodeToString(hmacSHA256(k, toSign)); !hmac.Equal([]byte(want), []byte(sig)) {
		return sigV4{}, fmt.Errorf("signature %s, recomputed %s over\n%s", sig, want, canonical)
	}
	return out, nil
}

func hmacSHA256(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// uriEncode encodes s as SigV4 does: every byte but the unreserved
// characters A-Z a-z 0-9 - _ . ~ (and '/' when keepSlash) as %XY.
func uriEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || keepSlash && c == '/' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// canonicalURI is the path as sent, encoded once more (every service but
// S3 encodes it twice).
func canonicalURI(escaped string) string {
	if escaped == "" {
		return "/"
	}
	return uriEncode(escaped, true)
}

func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, uriEncode(k, false)+"="+uriEncode(v, false))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

// The checker itself is checked against the worked example of AWS's
// documentation ("Examples of the complete Signature Version 4 signing
// process": IAM ListUsers, 2015-08-30), not against the SDK it judges.
func TestCheckSigV4DocumentedExample(t *testing.T) {
	req := func(sig string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="+sig)
		return r
	}
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	got, err := checkSigV4With(req("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"), "AKIDEXAMPLE", secret)
	if err != nil || got.region != "us-east-1" || got.service != "iam" {
		t.Fatalf("the documented example: %+v, %v", got, err)
	}
	if _, err := checkSigV4With(req("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d8"), "AKIDEXAMPLE", secret); err == nil {
		t.Fatal("a wrong signature passed")
	}
	if _, err := checkSigV4With(req("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"), "AKIDEXAMPLE", secret+"x"); err == nil {
		t.Fatal("another secret passed")
	}
}
