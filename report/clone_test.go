package report

import (
	"reflect"
	"testing"
)

func TestCloneIsDeep(t *testing.T) {
	orig := sampleReport()
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatal("clone differs from the original")
	}
	c.Layers[0].Shape[0] = 99
	c.Layers[0].Histogram.Counts[0] = 99
	c.Activations[0].Histogram.Counts[0] = 99
	c.Warnings[0] = "changed"
	*c.Eval.FloatAccuracy = 0
	c.Eval.Samples = 0
	if !reflect.DeepEqual(orig, sampleReport()) {
		t.Error("editing the clone changed the original")
	}
}
