package metrics

import (
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/vfs"
)

func TestLagTracker(t *testing.T) {
	var l lagTracker
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		name  string
		now   int
		files []vfs.FileStatus
		want  int // seconds
	}{
		{"nothing unpublished", 0, []vfs.FileStatus{{Key: "a.log"}}, 0},
		{"first seen unpublished", 10, []vfs.FileStatus{{Key: "a.log", Unpublished: 5}}, 0},
		{"still unpublished", 25, []vfs.FileStatus{{Key: "a.log", Unpublished: 9}}, 15},
		{"a second file is younger", 30, []vfs.FileStatus{{Key: "a.log", Unpublished: 9}, {Key: "b.log", Unpublished: 1}}, 20},
		{"a.log published at 32, more written since", 40, []vfs.FileStatus{{Key: "a.log", Unpublished: 3, LastPublished: at(32)}, {Key: "b.log", Unpublished: 1}}, 10},
		{"b.log published, a.log unchanged", 45, []vfs.FileStatus{{Key: "a.log", Unpublished: 3, LastPublished: at(32)}, {Key: "b.log", LastPublished: at(44)}}, 13},
		{"everything published", 50, []vfs.FileStatus{{Key: "a.log", LastPublished: at(49)}}, 0},
		{"unpublished again: counted from this scrape", 60, []vfs.FileStatus{{Key: "a.log", Unpublished: 2, LastPublished: at(49)}}, 0},
		{"gone from the list (unlinked)", 70, nil, 0},
	}
	for _, s := range steps {
		if got := l.observe(at(s.now), s.files); got != time.Duration(s.want)*time.Second {
			t.Fatalf("%s: lag %v, want %ds", s.name, got, s.want)
		}
	}
	if len(l.dirty) != 0 {
		t.Fatalf("tracker keeps %d files after all are gone", len(l.dirty))
	}
}
