package vfs

import (
	"iter"
	"strings"
)

// nameTable maps paths to nodes (FS.byPath), kept by directory: what a
// directory holds (a listing's names only this host knows, the tree a
// directory rename moves, a directory's local state) costs that
// directory's size, not the mount's. A directory of 100,000 listed names
// made every listing, directory rename and lookup of a vanished directory
// elsewhere go through all of them. fs.mu guards it.
type nameTable struct {
	root *Node                // path ""
	dirs map[string]*dirNames // directory path -> the names in it
}

// dirNames is one directory's part of the table: the names directly in
// it, and the directories in it that hold names of the table (whether or
// not they have a node themselves). It exists while it holds either.
type dirNames struct {
	path  string
	nodes map[string]*Node     // path -> node
	subs  map[string]*dirNames // path -> a directory in it
}

func newNameTable() nameTable { return nameTable{dirs: map[string]*dirNames{}} }

// dirOf is the directory part of p ("" for a name in the root), a
// substring of p (path.Dir would clean it: these paths are clean).
func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// get is p's node, or nil.
func (t *nameTable) get(p string) *Node {
	if p == "" {
		return t.root
	}
	if d := t.dirs[dirOf(p)]; d != nil {
		return d.nodes[p]
	}
	return nil
}

// set makes n p's node.
func (t *nameTable) set(p string, n *Node) {
	if p == "" {
		t.root = n
		return
	}
	t.dir(dirOf(p)).nodes[p] = n
}

// del removes p's node, and the directories' parts left holding nothing.
func (t *nameTable) del(p string) {
	if p == "" {
		t.root = nil
		return
	}
	d := t.dirs[dirOf(p)]
	if d == nil {
		return
	}
	delete(d.nodes, p)
	for d.path != "" && len(d.nodes) == 0 && len(d.subs) == 0 {
		delete(t.dirs, d.path)
		parent := t.dirs[dirOf(d.path)]
		delete(parent.subs, d.path)
		d = parent
	}
}

// dir is directory p's part, made (with its parents') if missing.
func (t *nameTable) dir(p string) *dirNames {
	if d := t.dirs[p]; d != nil {
		return d
	}
	// Not a substring of the first name's path: it outlives that name.
	p = strings.Clone(p)
	d := &dirNames{path: p, nodes: map[string]*Node{}}
	t.dirs[p] = d
	if p != "" {
		parent := t.dir(dirOf(p))
		if parent.subs == nil {
			parent.subs = map[string]*dirNames{}
		}
		parent.subs[p] = d
	}
	return d
}

// in is directory p's part, or nil when the table has no name in it.
func (t *nameTable) in(p string) *dirNames { return t.dirs[p] }

// under is every path inside directory p ("" for the root: every path but
// the root's) and its node. The table must not change while it runs.
func (t *nameTable) under(p string) iter.Seq2[string, *Node] {
	return func(yield func(string, *Node) bool) {
		if d := t.dirs[p]; d != nil {
			d.each(yield)
		}
	}
}

// each calls yield for every path in d's tree until it returns false.
func (d *dirNames) each(yield func(string, *Node) bool) bool {
	for p, n := range d.nodes {
		if !yield(p, n) {
			return false
		}
	}
	for _, s := range d.subs {
		if !s.each(yield) {
			return false
		}
	}
	return true
}
