package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/hardvm/hardvm/internal/urlerr"
)

// blobAPIVersion is the Blob service REST API version the requests name
// (x-ms-version): Put Blob, Put Page and Delete Blob are unchanged since
// long before it.
const blobAPIVersion = "2024-11-04"

// maxErrorBody bounds the error body read from the Blob service.
const maxErrorBody = 64 << 10

// Container is a blob container of Azure Storage, reached through its URL:
// the registrar creates page blobs in it, writes their pages and deletes
// them, with the three Blob service REST calls this takes (Put Blob, Put
// Page, Delete Blob) sent through azcore's pipeline (retries with
// exponential backoff, telemetry). The Azure Storage SDK (azblob) is not
// used: it links Apache Arrow and a JSON library of its own, about 7 MB
// of the hardvm binary, for these three calls.
//
// A shared access signature in the URL's query string (a SAS URL)
// authenticates the requests. It is a secret: errors, logs and the URIs
// the registrar returns name blobs by their URL without it.
type Container struct {
	u   *url.URL // scheme://host/path of the container, no query
	sas url.Values
	pl  runtime.Pipeline
}

// NewContainer returns the container at containerURL (https://ACCOUNT.
// blob.core.windows.net/CONTAINER?SAS), its requests sent with opts (nil:
// azcore's defaults). The error never quotes the URL.
func NewContainer(containerURL string, opts *policy.ClientOptions) (*Container, error) {
	u, err := url.Parse(containerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: not a blob container URL (scheme://host/[account/]container[?sas])", ErrOption)
	}
	sas := u.Query()
	u.RawQuery, u.Path, u.RawPath = "", strings.TrimSuffix(u.Path, "/"), ""
	return &Container{u: u, sas: sas, pl: runtime.NewPipeline("hardvm-azure", "v1", runtime.PipelineOptions{}, opts)}, nil
}

// URL returns the container's URL without its query string (the SAS).
func (c *Container) URL() string { return c.u.String() }

// BlobURL returns the URL of the blob name, without the SAS.
func (c *Container) BlobURL(name string) string { return c.URL() + "/" + url.PathEscape(name) }

// request builds a request for blob name with the SAS and the extra query
// parameters.
func (c *Container) request(ctx context.Context, method, name string, query ...string) (*policy.Request, error) {
	q := url.Values{}
	for k, v := range c.sas {
		q[k] = v
	}
	for i := 0; i+1 < len(query); i += 2 {
		q.Set(query[i], query[i+1])
	}
	u := c.BlobURL(name)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := runtime.NewRequest(ctx, method, u)
	if err != nil {
		return nil, err
	}
	req.Raw().Header.Set("x-ms-version", blobAPIVersion)
	return req, nil
}

// do sends req and returns nil for an answer with one of the statuses
// want, the service's error (an *azcore.ResponseError, with its
// x-ms-error-code) otherwise.
func (c *Container) do(req *policy.Request, want ...int) error {
	resp, err := c.pl.Do(req)
	if err != nil {
		// A transport error's text names the URL it was sending to, SAS
		// included: name the blob without it.
		return urlerr.StripQuery(err)
	}
	defer resp.Body.Close()
	if runtime.HasStatusCode(resp, want...) {
		_, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxErrorBody), resp.Body}
	return runtime.NewResponseError(resp)
}

// createPageBlob creates (or replaces) the page blob name of size bytes,
// all zero, with metadata (Put Blob, x-ms-blob-type: PageBlob).
func (c *Container) createPageBlob(ctx context.Context, name string, size int64, metadata map[string]string) error {
	req, err := c.request(ctx, http.MethodPut, name)
	if err != nil {
		return err
	}
	h := req.Raw().Header
	h.Set("x-ms-blob-type", "PageBlob")
	h.Set("x-ms-blob-content-length", fmt.Sprint(size))
	for k, v := range metadata {
		h.Set("x-ms-meta-"+k, v)
	}
	return c.do(req, http.StatusCreated)
}

// putPages writes p at off of the page blob name (Put Page, x-ms-page-write:
// update), with the Content-MD5 of p, which the service checks. off and
// len(p) are multiples of PageSize; len(p) is at most MaxPutPages.
func (c *Container) putPages(ctx context.Context, name string, off int64, p []byte) error {
	req, err := c.request(ctx, http.MethodPut, name, "comp", "page")
	if err != nil {
		return err
	}
	sum := md5.Sum(p)
	h := req.Raw().Header
	h.Set("x-ms-page-write", "update")
	h.Set("x-ms-range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1))
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(p)), "application/octet-stream"); err != nil {
		return err
	}
	return c.do(req, http.StatusCreated)
}

// deleteBlob deletes the blob name; one already gone is not an error.
func (c *Container) deleteBlob(ctx context.Context, name string) error {
	req, err := c.request(ctx, http.MethodDelete, name)
	if err != nil {
		return err
	}
	err = c.do(req, http.StatusAccepted)
	if re := (*azcore.ResponseError)(nil); errors.As(err, &re) && re.ErrorCode == "BlobNotFound" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("azure: delete blob %s: %w", c.BlobURL(name), err)
	}
	return nil
}
