// Package catalogtest checks implementations of catalog's interfaces: every
// [catalog.Store] must pass [RunStore] and every [catalog.Registrar] must
// pass [RunRegistrar]. It also makes realistic entries for tests and
// benchmarks ([NewEntry]), sparse disks ([SparseDisk]) and artifacts
// whose file is not what was recorded ([Tamper]), and measures the CPU
// time of benchmarks ([ReportCPU]).
package catalogtest
