// Package epoch turns SOURCE_DATE_EPOCH into the times a reproducible build
// writes, and clamps times to it.
package epoch

import "time"

// Time returns the epoch as a time in UTC.
func Time(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// Clamp returns t if it is not after the epoch, else the epoch. A zero t
// becomes the epoch.
func Clamp(t time.Time, sec int64) time.Time {
	e := Time(sec)
	if t.IsZero() || t.After(e) {
		return e
	}
	return t.UTC()
}
