package publish

import (
	"io"
	"testing"
)

// A buffer takes from the budget only what fits and gives back exactly
// what it took; past the budget it is a file in the spill directory, or
// memory when there is none.
func TestBufferBudgetAccounting(t *testing.T) {
	dir := t.TempDir()
	b := NewBudget(10)
	small, err := newBuffer(b, dir, 6)
	if err != nil || small.file != nil {
		t.Fatalf("6 of 10 bytes: file %v, err %v", small.file, err)
	}
	big, err := newBuffer(b, dir, 6) // 4 left
	if err != nil || big.file == nil {
		t.Fatalf("6 more bytes: file %v, err %v", big.file, err)
	}
	none, _ := newBuffer(b, "", 6)
	for _, w := range []*buffer{small, big, none} {
		w.Write([]byte("abc"))
		w.Write([]byte("def"))
		got, _ := io.ReadAll(w.reader())
		if string(got) != "abcdef" {
			t.Fatalf("read back %q", got)
		}
		w.release()
	}
	if !b.TryTake(10) || b.TryTake(1) {
		t.Fatal("the budget is not back to its 10 bytes")
	}
}
