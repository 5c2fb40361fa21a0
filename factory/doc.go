// Package factory keeps a catalog's streams current: it rebuilds exactly
// the images whose packages changed, and nothing else, on one machine or
// many.
//
// [Check] re-resolves each stream's spec against its repositories as they
// are now (conditional requests: an unchanged index costs a 304 and no
// package is downloaded) and reports the streams whose lock would change,
// with the delta from the stream's latest catalog entry, including the
// security issues the upgrades fix ([catalog.Delta.Fixes], read from the
// repositories' security databases, package image/apk/secdb).
//
// Versions need no hand: [NextVersion] derives a build's version from its
// lock (the epoch is the newest package build time, SOURCE_DATE_EPOCH as
// apko sets it; the build number is a counter only the catalog advances),
// so versions are monotonic per stream and the same lock in the same
// catalog gives the same version, hence the same bytes.
//
// The work is distributed on NATS JetStream, used as it is meant to be:
// [OpenQueue] sets up a work-queue stream of build jobs with explicit
// acknowledgement and message de-duplication on stream + lock digest
// (Nats-Msg-Id), a dead-letter stream, and a key-value bucket for the
// factory's state. A [Factory] polls and enqueues one [Job] per stale
// stream, holding a lease in the bucket so that one scheduler runs at a
// time. [Worker]s fetch jobs, send in-progress acknowledgements while they
// build, verify and publish, deprecate the predecessor with a pointer to
// its replacement, compute the fleet's replacement plan, and acknowledge;
// a worker that dies leaves its job to be redelivered to another, and a
// job that fails [WithMaxDeliver] times lands on the dead-letter subject
// with its last error. Publishing is idempotent by digest and a worker
// first checks the catalog, so a redelivered job never makes a second
// version.
//
// [StartServer] embeds a NATS server with JetStream in-process (the
// default of the CLI: nothing to install or start); across machines,
// factory and workers connect to a NATS cluster instead.
package factory
