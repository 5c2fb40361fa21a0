// Package urlerr keeps credentials that ride in a URL's query string (a
// storage SAS, an upload session's ID) out of the errors of an HTTP
// client, whose *url.Error quotes the whole URL it was sending to.
package urlerr

import (
	"errors"
	"net/url"
)

// StripQuery removes the query and fragment from the URL that a *url.Error
// in err's chain names, in place, and returns err. Call it where the error
// comes back from the client, before it is wrapped: fmt.Errorf fixes its
// text when it is made. A URL that does not parse is replaced by "(URL
// withheld)". Other errors are returned as they are.
func StripQuery(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
			ue.URL = u.String()
		} else {
			ue.URL = "(URL withheld)"
		}
	}
	return err
}
