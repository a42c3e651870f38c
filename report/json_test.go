package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"sqnr_db": "inf"`) {
		t.Errorf("exact layer's SQNR not written as \"inf\":\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "\n  \"layers\": [\n") {
		t.Error("not indented with two spaces")
	}
	got, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip changed the report:\ngot  %+v\nwant %+v", got, r)
	}
}

func TestJSONKeysAreSnakeCase(t *testing.T) {
	var buf bytes.Buffer
	sampleReport().WriteJSON(&buf)
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if !snake.MatchString(k) {
					t.Errorf("key %q is not snake_case", k)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
}

// setFloats sets every float64 reachable from v (fields, slice elements, pointers) to x,
// so the test notices a float field that the JSON shadows forgot.
func setFloats(v reflect.Value, x float64) {
	switch v.Kind() {
	case reflect.Float64:
		v.SetFloat(x)
	case reflect.Pointer:
		if v.IsNil() && v.Type().Elem().Kind() == reflect.Float64 {
			v.Set(reflect.New(v.Type().Elem()))
		}
		if !v.IsNil() {
			setFloats(v.Elem(), x)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			setFloats(v.Field(i), x)
		}
	case reflect.Slice:
		for i := range v.Len() {
			setFloats(v.Index(i), x)
		}
	}
}

func countFloats(v reflect.Value, pred func(float64) bool) (n int) {
	switch v.Kind() {
	case reflect.Float64:
		if pred(v.Float()) {
			return 1
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return countFloats(v.Elem(), pred)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			n += countFloats(v.Field(i), pred)
		}
	case reflect.Slice:
		for i := range v.Len() {
			n += countFloats(v.Index(i), pred)
		}
	}
	return n
}

func TestJSONNonFiniteEverywhere(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		text string
		is   func(float64) bool
	}{
		{math.Inf(1), `"inf"`, func(v float64) bool { return math.IsInf(v, 1) }},
		{math.Inf(-1), `"-inf"`, func(v float64) bool { return math.IsInf(v, -1) }},
		{math.NaN(), `"nan"`, math.IsNaN},
	} {
		r := sampleReport()
		setFloats(reflect.ValueOf(r).Elem(), tc.x)
		want := countFloats(reflect.ValueOf(r).Elem(), tc.is)
		var buf bytes.Buffer
		if err := r.WriteJSON(&buf); err != nil {
			t.Fatalf("%v: %v", tc.x, err)
		}
		if n := strings.Count(buf.String(), tc.text); n != want {
			t.Errorf("%v: %d fields written as %s, want %d", tc.x, n, tc.text, want)
		}
		back, err := ReadJSON(&buf)
		if err != nil {
			t.Fatalf("%v: %v", tc.x, err)
		}
		if got := countFloats(reflect.ValueOf(back).Elem(), tc.is); got != want {
			t.Errorf("%v: %d fields read back, want %d", tc.x, got, want)
		}
	}
}

func TestReadJSONErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"title": "x"} {}`, "report: trailing data after the JSON report"},
		{`{"layers": [{"sqnr_db": "lots"}]}`, `report: want a number, "inf", "-inf" or "nan", got "lots"`},
		{`{"layers": 3}`, "report: json: cannot unmarshal number into Go struct field Report.layers of type []report.Layer"},
		{`{"title": `, "report: unexpected EOF"},
	} {
		_, err := ReadJSON(strings.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("ReadJSON(%s): got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestReadJSONIgnoresUnknownKeys(t *testing.T) {
	r, err := ReadJSON(strings.NewReader(`{"title": "t", "future_field": [1, 2], "layers": [{"name": "a", "sqnr_db": 12.5}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "t" || len(r.Layers) != 1 || r.Layers[0].SQNR != 12.5 {
		t.Errorf("got %+v", r)
	}
}

func TestJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "sample.json.golden", buf.String())
}

func FuzzReadJSON(f *testing.F) {
	var buf bytes.Buffer
	sampleReport().WriteJSON(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"layers": [{"sqnr_db": "inf", "histogram": {"min": "nan", "counts": []}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := r.WriteJSON(&out); err != nil {
			t.Fatalf("a report that read cannot be written: %v", err)
		}
		// Whatever was read renders without failing.
		if err := r.WriteHTML(io.Discard); err != nil {
			t.Fatal(err)
		}
		_ = r.String()
		again, err := ReadJSON(&out)
		if err != nil {
			t.Fatalf("WriteJSON output does not read back: %v", err)
		}
		if again.String() != r.String() {
			t.Fatal("round trip changed the report")
		}
	})
}
