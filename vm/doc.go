// Package vm describes what a hardened VM image is: its families and variants,
// the platforms it runs on and their rules, CPU architectures, kernel tracks,
// FIPS, the hardening baseline, the repositories it is built from, the [Spec]
// a build starts from, the [Ref] that names a built image, and the plan that
// replaces a fleet's nodes with a newer image.
//
// hardvm images are never upgraded in place: a new image replaces the node.
// [Plan] computes how.
//
// vm imports no other hardvm package but fips; everything in it is data and
// pure functions, so any program can ask which variants exist, on which
// platforms, with which rules, without compiling disk writers or cloud SDKs.
package vm
