package vfs

import (
	"os"
	"time"
)

// localAttrs are a node's POSIX attributes beyond its type: set here
// (create, chmod/chown/utimes, writes' mtimes, a directory's entries'
// changes) or read from its object's metadata, and a special file's
// device number and symlink target. A node made from a listing has none
// (Node.la nil) and shows the mount's defaults, as an object without
// metadata does; most nodes of a large directory stay so. Under Node.mu.
type localAttrs struct {
	mode       os.FileMode // permission bits, when modeSet
	modeSet    bool
	uid, gid   *uint32
	atime      time.Time
	localMtime time.Time
	ctime      time.Time // last change of attributes here (stat shows the later of it and mtime)
	// attrGen counts changes made here (Node.attrDirty); attrPubGen is
	// the one the running publication carries.
	attrGen, attrPubGen int
	// storedMtime: the mtime the object carries, as this mount last
	// wrote or read it; pubMtime: the one the running publication
	// carries (File.Attrs). An append to a directory bucket's object
	// keeps its metadata, so a write's mtime is stored by a copy after
	// the last writer closed (Node.expressMtimeDueLocked).
	storedMtime, pubMtime time.Time
	// rdev: a device node's number. target: a symlink's target as read
	// from the object of ETag targetETag (symlink.go).
	rdev               uint32
	target, targetETag string
}

// attrsLocked is n's localAttrs, made on first use. n.mu held.
func (n *Node) attrsLocked() *localAttrs {
	if n.la == nil {
		n.la = &localAttrs{}
	}
	return n.la
}

// attrsOrNoneLocked is a copy of n's localAttrs for reading: all unset
// when it has none (nothing is made). n.mu held.
func (n *Node) attrsOrNoneLocked() localAttrs {
	if n.la == nil {
		return localAttrs{}
	}
	return *n.la
}
