package aws

// This file speaks S3's REST API directly, for the five operations of the
// S3 import path, instead of linking the SDK's S3 client (service/s3,
// about 7 MB of the hardvm binary). The wire format is AWS's documented
// one (Amazon S3 API Reference): CreateMultipartUpload (POST /key?uploads,
// x-amz-meta-* headers, an InitiateMultipartUploadResult answer),
// UploadPart (PUT /key?partNumber=N&uploadId=ID, the ETag header),
// CompleteMultipartUpload (POST /key?uploadId=ID with the parts' ETags, an
// answer that can be an <Error> despite its 200 status),
// AbortMultipartUpload and DeleteObject (DELETE), errors as
// <Error><Code/><Message/></Error>. Requests are signed with the SDK's
// SigV4 signer over the payload's SHA-256 (x-amz-content-sha256), which S3
// checks: a part corrupted on the way is refused.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxS3Answer bounds what the client reads of an S3 answer (they are a
// few hundred bytes).
const maxS3Answer = 1 << 20

// S3API is the part of S3 the import path uses; *S3Client implements it.
type S3API interface {
	// CreateMultipartUpload starts a multipart upload of bucket/key with
	// the user metadata meta and returns its upload id.
	CreateMultipartUpload(ctx context.Context, bucket, key string, meta map[string]string) (uploadID string, err error)
	// UploadPart uploads part number part (from 1) and returns its ETag.
	UploadPart(ctx context.Context, bucket, key, uploadID string, part int32, data []byte) (etag string, err error)
	// CompleteMultipartUpload makes the object of the parts whose ETags
	// are etags, part 1 first.
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, etags []string) error
	// AbortMultipartUpload discards the upload and its parts.
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	// DeleteObject deletes bucket/key; an object that does not exist is
	// not an error (S3 answers 204 either way).
	DeleteObject(ctx context.Context, bucket, key string) error
}

// S3Client is a client of S3's REST API for multipart uploads: it signs
// each request with SigV4 using the credentials of an aws.Config, retries
// as the config's retryer says, and reads every answer through a bound.
type S3Client struct {
	signedClient
	base *url.URL
}

// NewS3Client returns an S3 client for cfg's region with cfg's
// credentials, HTTP client and retry settings. The endpoint is resolved
// as for NewEC2Client (AWS_ENDPOINT_URL_S3, the shared config's services
// section, cfg.BaseEndpoint, the region's); buckets are addressed
// virtual-hosted style (https://bucket.s3.REGION.amazonaws.com/key) where
// the bucket name allows it and the endpoint is not an IP address, path
// style otherwise, as the SDK's client does. It never fails: a
// configuration the client cannot use is reported by every call as an
// ErrConfig.
func NewS3Client(cfg awsv2.Config) *S3Client {
	c := &S3Client{signedClient: newSignedClient(cfg, "S3", "s3", func(o *v4.SignerOptions) {
		// S3 signs the path as sent, not encoded twice.
		o.DisableURIPathEscaping = true
	})}
	if c.err != nil {
		return c
	}
	ep, err := serviceEndpoint(context.Background(), cfg, "S3", s3Host)
	if err != nil {
		c.err = err
		return c
	}
	if c.base, err = url.Parse(ep); err != nil {
		c.err = fmt.Errorf("%w: S3 endpoint %q: %v", ErrConfig, ep, err)
	}
	return c
}

// s3Host is the S3 host name of region.
func s3Host(region string, fips, dual bool) string {
	name := "s3"
	if fips {
		name = "s3-fips"
	}
	if dual {
		name += ".dualstack"
	}
	return name + "." + region + "." + partitionSuffix(region, false)
}

// bucketRe is S3's rule for general purpose bucket names.
var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// objectURL is the URL of bucket/key with the query q.
func (c *S3Client) objectURL(bucket, key, rawQuery string) (*url.URL, error) {
	if !bucketRe.MatchString(bucket) || strings.Contains(bucket, "..") || strings.HasSuffix(bucket, "--x-s3") {
		return nil, fmt.Errorf("%w: S3 bucket %q: want a general purpose bucket name (3 to 63 of a-z 0-9 . -)", ErrConfig, bucket)
	}
	if key == "" {
		return nil, fmt.Errorf("%w: empty S3 key", ErrConfig)
	}
	u := *c.base
	host := u.Hostname()
	virtual := net.ParseIP(host) == nil && host != "localhost" && (!strings.Contains(bucket, ".") || u.Scheme == "http")
	prefix, rawPrefix := strings.TrimSuffix(u.Path, "/"), strings.TrimSuffix(u.EscapedPath(), "/")
	if virtual {
		u.Host = bucket + "." + u.Host
	} else {
		prefix, rawPrefix = prefix+"/"+bucket, rawPrefix+"/"+bucket
	}
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = s3Escape(s)
	}
	u.Path = prefix + "/" + key
	u.RawPath = rawPrefix + "/" + strings.Join(segs, "/")
	u.RawQuery = rawQuery
	return &u, nil
}

// s3Escape encodes a path segment as SigV4 and S3 want it: every byte but
// A-Z a-z 0-9 - _ . ~ as %XY.
func s3Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// call sends one S3 operation and hands its 2xx answer to ok.
func (c *S3Client) call(ctx context.Context, op, method, bucket, key, rawQuery string, hdr http.Header, body []byte, ok func(*http.Response) error) error {
	if c.err != nil {
		return c.err
	}
	u, err := c.objectURL(bucket, key, rawQuery)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	build := func(ctx context.Context) (*http.Request, error) {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
		if err != nil {
			return nil, err
		}
		req.URL = u
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("X-Amz-Content-Sha256", payload)
		return req, nil
	}
	if ok == nil {
		ok = func(resp *http.Response) error {
			_, err := readBounded(resp.Body, maxS3Answer)
			return err
		}
	}
	return c.do(ctx, op, build, payload, ok)
}

// decodeS3 decodes the XML answer of op into out, whose root element must
// be root; an <Error> document (S3 sends some errors with a 200 status) is
// an *APIError.
func decodeS3(op, root string, status int, b []byte, out any) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: S3 %s: no XML answer: %v", ErrResponse, op, err)
		}
		start, isStart := tok.(xml.StartElement)
		if !isStart {
			continue
		}
		switch start.Name.Local {
		case root:
			if err := d.DecodeElement(out, &start); err != nil {
				return fmt.Errorf("%w: S3 %s: %v", ErrResponse, op, err)
			}
			return nil
		case "Error":
			return parseAPIError("S3", op, status, "", b, nil)
		}
		return fmt.Errorf("%w: S3 %s: answer is <%s>, want <%s>", ErrResponse, op, start.Name.Local, root)
	}
}

// s3Initiate is CreateMultipartUpload's answer.
type s3Initiate struct {
	UploadID string `xml:"UploadId"`
}

// CreateMultipartUpload implements S3API.
func (c *S3Client) CreateMultipartUpload(ctx context.Context, bucket, key string, meta map[string]string) (string, error) {
	hdr := http.Header{}
	for _, k := range sortedKeys(meta) {
		hdr.Set("X-Amz-Meta-"+k, meta[k])
	}
	var out s3Initiate
	err := c.call(ctx, "CreateMultipartUpload", http.MethodPost, bucket, key, "uploads", hdr, nil, func(resp *http.Response) error {
		b, err := readBounded(resp.Body, maxS3Answer)
		if err != nil {
			return fmt.Errorf("aws: S3 CreateMultipartUpload: answer: %w", err)
		}
		return decodeS3("CreateMultipartUpload", "InitiateMultipartUploadResult", resp.StatusCode, b, &out)
	})
	if err != nil {
		return "", err
	}
	if out.UploadID == "" {
		return "", fmt.Errorf("%w: S3 CreateMultipartUpload: no UploadId", ErrResponse)
	}
	return out.UploadID, nil
}

func uploadQuery(uploadID string) string { return "uploadId=" + s3Escape(uploadID) }

// UploadPart implements S3API.
func (c *S3Client) UploadPart(ctx context.Context, bucket, key, uploadID string, part int32, data []byte) (string, error) {
	etag := ""
	q := "partNumber=" + strconv.Itoa(int(part)) + "&" + uploadQuery(uploadID)
	err := c.call(ctx, "UploadPart", http.MethodPut, bucket, key, q, nil, data, func(resp *http.Response) error {
		if _, err := readBounded(resp.Body, maxS3Answer); err != nil {
			return fmt.Errorf("aws: S3 UploadPart: answer: %w", err)
		}
		etag = resp.Header.Get("ETag")
		return nil
	})
	if err != nil {
		return "", err
	}
	if etag == "" {
		return "", fmt.Errorf("%w: S3 UploadPart %d: no ETag", ErrResponse, part)
	}
	return etag, nil
}

// s3Complete is CompleteMultipartUpload's request.
type s3Complete struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUpload"`
	Parts   []s3Part `xml:"Part"`
}

type s3Part struct {
	ETag       string `xml:"ETag"`
	PartNumber int    `xml:"PartNumber"`
}

// CompleteMultipartUpload implements S3API.
func (c *S3Client) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, etags []string) error {
	doc := s3Complete{}
	for i, e := range etags {
		doc.Parts = append(doc.Parts, s3Part{ETag: e, PartNumber: i + 1})
	}
	body, err := xml.Marshal(doc)
	if err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {"application/xml"}}
	return c.call(ctx, "CompleteMultipartUpload", http.MethodPost, bucket, key, uploadQuery(uploadID), hdr, body, func(resp *http.Response) error {
		b, err := readBounded(resp.Body, maxS3Answer)
		if err != nil {
			return fmt.Errorf("aws: S3 CompleteMultipartUpload: answer: %w", err)
		}
		var out struct {
			ETag string `xml:"ETag"`
		}
		return decodeS3("CompleteMultipartUpload", "CompleteMultipartUploadResult", resp.StatusCode, b, &out)
	})
}

// AbortMultipartUpload implements S3API.
func (c *S3Client) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	return c.call(ctx, "AbortMultipartUpload", http.MethodDelete, bucket, key, uploadQuery(uploadID), nil, nil, nil)
}

// DeleteObject implements S3API.
func (c *S3Client) DeleteObject(ctx context.Context, bucket, key string) error {
	return c.call(ctx, "DeleteObject", http.MethodDelete, bucket, key, "", nil, nil, nil)
}

var _ S3API = (*S3Client)(nil)
