package vfs

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// under: p is inside directory d ("" is the root).
func under(p, d string) bool { return d == "" || strings.HasPrefix(p, d+"/") }

// The name table answers as a flat map of paths would: every path's node,
// every directory's tree; and it keeps no part of a directory that holds
// nothing (a table emptied is empty).
func TestNameTableAsAFlatMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	paths := []string{""}
	for _, a := range []string{"a", "b", "a.b", "a!"} {
		paths = append(paths, a)
		for _, b := range []string{"x", "y"} {
			paths = append(paths, a+"/"+b)
			for _, c := range []string{"1", "2"} {
				paths = append(paths, a+"/"+b+"/"+c)
			}
		}
	}
	table := newNameTable()
	flat := map[string]*Node{}
	check := func(step int) {
		t.Helper()
		for _, p := range paths {
			if got, want := table.get(p), flat[p]; got != want {
				t.Fatalf("step %d: get(%q) = %p, want %p", step, p, got, want)
			}
			want := map[string]*Node{}
			for q, n := range flat {
				if q != "" && under(q, p) && q != p {
					want[q] = n
				}
			}
			got := map[string]*Node{}
			for q, n := range table.under(p) {
				if _, twice := got[q]; twice {
					t.Fatalf("step %d: under(%q) yields %q twice", step, p, q)
				}
				got[q] = n
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: under(%q) = %v, want %v", step, p, got, want)
			}
		}
		for d, x := range table.dirs {
			if d != "" && len(x.nodes) == 0 && len(x.subs) == 0 {
				t.Fatalf("step %d: directory %q kept holding nothing", step, d)
			}
		}
	}
	for step := 0; step < 3000; step++ {
		p := paths[rng.Intn(len(paths))]
		if rng.Intn(2) == 0 {
			n := &Node{path: p}
			table.set(p, n)
			flat[p] = n
		} else {
			table.del(p)
			delete(flat, p)
		}
		check(step)
	}
	for _, p := range paths {
		table.del(p)
	}
	if len(table.dirs) > 1 || table.root != nil {
		t.Fatalf("emptied table keeps %d directories", len(table.dirs))
	}
}
