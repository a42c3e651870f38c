package quantize

import "github.com/qscript-dev/qscript/tensor"

// Progress is how far a Save is, for SaveOptions.Progress: source tensors done and their
// bytes, out of the totals.
type Progress struct {
	Tensors, TotalTensors int
	Bytes, TotalBytes     int64
}

// progress counts a Save's source tensors for its callback (nil: no callback).
type progress struct {
	fn func(Progress)
	p  Progress
}

func newProgress(fn func(Progress), infos []tensor.Info) *progress {
	if fn == nil {
		return nil
	}
	pr := &progress{fn: fn, p: Progress{TotalTensors: len(infos)}}
	for _, info := range infos {
		pr.p.TotalBytes += info.Bytes()
	}
	return pr
}

// tick records one source tensor handed to the writer.
func (pr *progress) tick(info tensor.Info) {
	if pr == nil {
		return
	}
	pr.p.Tensors++
	pr.p.Bytes += info.Bytes()
	pr.fn(pr.p)
}
