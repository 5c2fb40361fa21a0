package aws

import "errors"

// ErrConfig reports an invalid registrar option. An artifact the registrar
// refuses is a *catalog.ArtifactError (catalog.ErrRejected).
var ErrConfig = errors.New("aws: invalid configuration")

// ErrOperation reports work AWS does after a call returned that ended in
// failure: a snapshot in the error state, an import task that failed.
var ErrOperation = errors.New("aws: operation failed")

// ErrNotFound reports an EC2 error answer saying that the resource does
// not exist (a *.NotFound code, or a deregistered AMI).
var ErrNotFound = errors.New("aws: not found")

// ErrDenied reports an EC2 error answer refusing the caller: credentials,
// signature or permissions (AuthFailure, UnauthorizedOperation, …).
var ErrDenied = errors.New("aws: access denied")

// ErrThrottled reports an EC2 error answer asking the caller to slow down
// (RequestLimitExceeded), once the retries are used up.
var ErrThrottled = errors.New("aws: throttled")

// ErrResponse reports an answer the client cannot use: malformed, of the
// wrong action, or longer than the client reads.
var ErrResponse = errors.New("aws: bad answer")
