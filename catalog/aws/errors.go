package aws

import "errors"

// ErrConfig reports an invalid registrar option. An artifact the registrar
// refuses is a *catalog.ArtifactError (catalog.ErrRejected).
var ErrConfig = errors.New("aws: invalid configuration")

// ErrOperation reports work AWS does after a call returned that ended in
// failure: a snapshot in the error state, an import task that failed.
var ErrOperation = errors.New("aws: operation failed")
