package image

// Progress receives the state of long work; examples render it as a progress
// bar. Implementations must be safe for concurrent use.
type Progress interface {
	Progress(stage string, done, total int64)
}

// ProgressFunc adapts a function to [Progress].
type ProgressFunc func(stage string, done, total int64)

// Progress calls f.
func (f ProgressFunc) Progress(stage string, done, total int64) { f(stage, done, total) }
