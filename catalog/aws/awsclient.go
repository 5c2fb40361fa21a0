package aws

// What EC2Client and S3Client share: SigV4 signing with the SDK's signer
// and the aws.Config's credentials, the config's retryer around every
// request, bounded reads, and the documented error documents of both
// services as *APIError.

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// maxAPIError bounds what a client reads of an error answer.
const maxAPIError = 64 << 10

var regionRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)

// signedClient sends SigV4-signed requests to one AWS service.
type signedClient struct {
	name    string // EC2, S3: the SDK's service id, for messages
	signing string // ec2, s3: the signing name
	region  string
	creds   awsv2.CredentialsProvider
	client  awsv2.HTTPClient
	retryer awsv2.Retryer
	signer  *v4.Signer
	err     error // a configuration the client cannot use
}

// newSignedClient takes what the SDK's clients take from cfg: region,
// credentials (cached, as the SDK's clients cache them), HTTP client and
// retry settings.
func newSignedClient(cfg awsv2.Config, name, signing string, signerOpts ...func(*v4.SignerOptions)) signedClient {
	c := signedClient{name: name, signing: signing, region: cfg.Region, client: cfg.HTTPClient, retryer: sdkRetryer(cfg), signer: v4.NewSigner(signerOpts...)}
	if c.client == nil {
		c.client = awshttp.NewBuildableClient()
	}
	switch p := cfg.Credentials.(type) {
	case nil:
		c.err = fmt.Errorf("%w: %s: no credentials in the AWS configuration", ErrConfig, name)
	case *awsv2.CredentialsCache:
		c.creds = p
	default:
		c.creds = awsv2.NewCredentialsCache(p)
	}
	if !regionRe.MatchString(cfg.Region) {
		c.err = fmt.Errorf("%w: %s: region %q", ErrConfig, name, cfg.Region)
	}
	return c
}

// sdkRetryer is the retryer the SDK's clients would use for cfg.
func sdkRetryer(cfg awsv2.Config) awsv2.Retryer {
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

// do sends the request build makes (anew for each attempt, so that each
// is signed anew, over payloadHash) until it succeeds, the retryer says
// the error is not retryable, or the attempts are used up, and hands a 2xx
// answer to ok. A non-2xx answer is an *APIError.
func (c *signedClient) do(ctx context.Context, action string, build func(context.Context) (*http.Request, error), payloadHash string, ok func(*http.Response) error) error {
	if c.err != nil {
		return c.err
	}
	release := nopRelease
	for attempt := 1; ; attempt++ {
		var relAttempt func(error) error
		if r2, isV2 := c.retryer.(awsv2.RetryerV2); isV2 {
			var err error
			if relAttempt, err = r2.GetAttemptToken(ctx); err != nil {
				return fmt.Errorf("aws: %s %s: %w", c.name, action, err)
			}
		} else {
			relAttempt = c.retryer.GetInitialToken()
		}
		err := c.send(ctx, action, build, payloadHash, ok)
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
				return fmt.Errorf("aws: %s %s: %d attempts: %w", c.name, action, attempt, err)
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
func (c *signedClient) send(ctx context.Context, action string, build func(context.Context) (*http.Request, error), payloadHash string, ok func(*http.Response) error) error {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("aws: %s %s: credentials: %w", c.name, action, err)
	}
	req, err := build(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrConfig, c.name, action, err)
	}
	req.Header.Set("User-Agent", "hardvm (aws-sdk-go-v2 signer)")
	if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, c.signing, c.region, time.Now().UTC()); err != nil {
		return fmt.Errorf("aws: %s %s: signing: %w", c.name, action, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return &sendError{service: c.name, action: action, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, rerr := readBounded(resp.Body, maxAPIError)
		reqID := resp.Header.Get("X-Amzn-Requestid")
		if reqID == "" {
			reqID = resp.Header.Get("X-Amz-Request-Id")
		}
		return parseAPIError(c.name, action, resp.StatusCode, reqID, b, rerr)
	}
	return ok(resp)
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

// APIError is an error answer of EC2 or S3: its documented error code and
// message. It matches (errors.Is) ErrNotFound, ErrDenied or ErrThrottled
// by its code, and satisfies smithy.APIError as the SDK's errors do.
type APIError struct {
	Service    string // EC2 or S3
	Action     string // the action (EC2) or operation (S3)
	StatusCode int    // the HTTP status
	Code       string // e.g. InvalidAMIID.NotFound; "" when the answer was not an error document
	Message    string
	RequestID  string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %s: ", e.Service, e.Action)
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

// ErrorCode returns the error code.
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage returns the error message.
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

// HTTPStatusCode returns the HTTP status: the SDK's retryers retry 500,
// 502, 503 and 504.
func (e *APIError) HTTPStatusCode() int { return e.StatusCode }

// Is maps the error code (EC2's "Error codes for the Amazon EC2 API",
// S3's "Error responses") to the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		switch e.Code {
		case "InvalidAMIID.Unavailable", "NoSuchKey", "NoSuchUpload", "NoSuchBucket":
			return true
		}
		return strings.HasSuffix(e.Code, ".NotFound")
	case ErrDenied:
		switch e.Code {
		case "AuthFailure", "UnauthorizedOperation", "SignatureDoesNotMatch", "InvalidClientTokenId",
			"MissingAuthenticationToken", "OptInRequired", "Blocked", "PendingVerification",
			"RequestExpired", "ExpiredToken", "AccessDenied", "InvalidAccessKeyId", "RequestTimeTooSkewed":
			return true
		}
		return e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized
	case ErrThrottled:
		switch e.Code {
		case "RequestLimitExceeded", "Throttling", "ThrottlingException", "SlowDown":
			return true
		}
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// errorDoc is either documented error answer: EC2's
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/>
// or S3's <Error><Code/><Message/><RequestId/></Error>.
type errorDoc struct {
	XMLName xml.Name
	// EC2
	Errors []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
	// S3
	Code        string `xml:"Code"`
	Message     string `xml:"Message"`
	S3RequestID string `xml:"RequestId"`
}

// parseAPIError makes the *APIError of an answer with a non-2xx status (or
// of S3's error in a 200 answer).
func parseAPIError(service, action string, status int, reqID string, b []byte, readErr error) error {
	e := &APIError{Service: service, Action: action, StatusCode: status, RequestID: reqID}
	var doc errorDoc
	if readErr == nil && xml.Unmarshal(b, &doc) == nil {
		switch {
		case doc.XMLName.Local == "Response" && len(doc.Errors) > 0 && doc.Errors[0].Code != "":
			e.Code, e.Message = doc.Errors[0].Code, doc.Errors[0].Message
			if doc.RequestID != "" {
				e.RequestID = doc.RequestID
			}
			return e
		case doc.XMLName.Local == "Error" && doc.Code != "":
			e.Code, e.Message = doc.Code, doc.Message
			if doc.S3RequestID != "" {
				e.RequestID = doc.S3RequestID
			}
			return e
		}
	}
	if readErr != nil {
		e.Message = "the answer is not an error document (" + readErr.Error() + ")"
	} else if len(b) > 0 {
		e.Message = "the answer is not an error document"
	}
	return e
}

// sendError is a request that got no answer. Like the SDK's
// smithyhttp.RequestSendError it is a connection error, which the SDK's
// retryers retry (retry.RetryableConnectionError).
type sendError struct {
	service, action string
	err             error
}

func (e *sendError) Error() string {
	return "aws: " + e.service + " " + e.action + ": " + e.err.Error()
}
func (e *sendError) Unwrap() error         { return e.err }
func (e *sendError) ConnectionError() bool { return true }
