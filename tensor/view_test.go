package tensor

import (
	"sync"
	"testing"
	"unsafe"
)

// misaligned returns n bytes whose first byte sits one past an 8-byte boundary, as a tensor
// inside a memory-mapped file can.
func misaligned(n int) []byte {
	buf := alignedBytes(n + 1)
	return buf[1 : n+1 : n+1]
}

func TestViewOfMisalignedDataCopiesWithoutTouchingTheTensor(t *testing.T) {
	data := misaligned(8)
	copy(data, Bytes([]float32{1.5, -2}))
	x := &Tensor{DType: F32, Shape: []int{2}, Data: data}
	// Parallel views of one shared tensor: under -race this fails if a view writes to x.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v := x.F32(); v[0] != 1.5 || v[1] != -2 {
				t.Errorf("F32() = %v, want [1.5 -2]", v)
			}
		}()
	}
	wg.Wait()
	if &x.Data[0] != &data[0] {
		t.Error("the view replaced the tensor's Data")
	}
}

func TestFromBytesAlignsMisalignedData(t *testing.T) {
	data := misaligned(16)
	copy(data, Bytes([]int64{7, -9}))
	x, err := FromBytes(I64, []int{2}, data)
	if err != nil {
		t.Fatal(err)
	}
	if uintptr(unsafe.Pointer(&x.Data[0]))%8 != 0 {
		t.Fatal("FromBytes kept misaligned data")
	}
	v := x.I64()
	if v[0] != 7 || v[1] != -9 {
		t.Fatalf("I64() = %v, want [7 -9]", v)
	}
	v[0] = 1 // the view of aligned data is the tensor's memory
	if x.I64()[0] != 1 {
		t.Error("a write through the view of aligned data was lost")
	}

	shared := alignedBytes(8)
	y, _ := FromBytes(F32, []int{2}, shared)
	if &y.Data[0] != &shared[0] {
		t.Error("FromBytes copied aligned data")
	}
}

func TestViewPanicsWhenDataIsShort(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("F32() of a 1000-element tensor over 8 bytes did not panic")
		}
	}()
	x := &Tensor{DType: F32, Shape: []int{1000}, Data: make([]byte, 8)}
	_ = x.F32()
}
