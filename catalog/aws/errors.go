package aws

import "errors"

// ErrConfig reports an invalid registrar option. An artifact the registrar
// refuses is a *catalog.ArtifactError (catalog.ErrRejected).
var ErrConfig = errors.New("aws: invalid configuration")
