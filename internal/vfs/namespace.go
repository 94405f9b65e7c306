package vfs

import (
	"context"
	"errors"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/s3store"
)

// validName reports whether an S3 key component can be a file name (and
// a file name an S3 key component: keys are UTF-8).
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 && !strings.ContainsRune(name, 0) &&
		utf8.ValidString(name)
}

// maxKeyLen is S3's limit on the length of a key, in bytes.
const maxKeyLen = 1024

// checkNewName refuses, when it is made, a name S3 could not store: a file
// accepted under such a name could never be published. isDir: the name
// is for a directory (its key ends in "/").
func (fs *FS) checkNewName(dir *Node, name string, isDir bool) error {
	if len(name) > 255 {
		return ErrNameTooLong
	}
	if !validName(name) {
		return syscall.EINVAL
	}
	return fs.checkKeyLen(join(dir.Path(), name), isDir)
}

// objectHolders is a store where a file's object may be under another
// name's key (zstore, --compress: the log NAME is the object NAME.gz).
type objectHolders interface {
	Holder(ctx context.Context, key string, compressed bool) (string, error)
	Codec() compress.Codec
}

// checkObjectFree refuses a new name at p (EEXIST, one log line) whose
// object would be another file's: S3 has one key for both, and writing it
// would take the other file's bytes away. compressed: the new file is
// stored compressed.
func (fs *FS) checkObjectFree(ctx context.Context, p string, compressed bool) error {
	h, ok := fs.st.(objectHolders)
	if !ok {
		return nil
	}
	other := fs.localHolder(p, compressed, h.Codec())
	if other == "" {
		var err error
		if other, err = h.Holder(ctx, fs.key(p), compressed); err != nil || other == "" {
			return err
		}
	}
	fs.log.Warn("refused a name whose S3 object is another file's (--compress stores the log NAME as the object NAME.gz or NAME.zst)",
		"path", p, "other_file_key", other, "errno", "EEXIST")
	return ErrExists
}

// releaseHeld: the file at p is gone (unlinked, renamed away); a new file
// whose publication waited for p's object key (publish.ErrHeld: the plain
// p.gz that logrotate's compress wrote) is published now.
func (fs *FS) releaseHeld(p string) {
	h, ok := fs.st.(objectHolders)
	if !ok {
		return
	}
	held, _ := h.Codec().Twin(p, true) // the plain p.gz
	fs.mu.Lock()
	n := fs.byPath.get(held)
	fs.mu.Unlock()
	if n == nil {
		return
	}
	n.mu.Lock()
	waiting := n.file != nil && n.state != stateUnlinked
	n.mu.Unlock()
	if waiting {
		n.ws().job.Now()
	}
}

// localHolder is the key of a file of this mount, maybe not yet in S3,
// whose object a new name at p would write (as Holder, for the files S3
// does not have yet), or "".
func (fs *FS) localHolder(p string, compressed bool, codec compress.Codec) string {
	other, ok := codec.Twin(p, compressed)
	if !ok {
		return ""
	}
	fs.mu.Lock()
	n := fs.byPath.get(other)
	fs.mu.Unlock()
	if n == nil || n.dir || n.isUnlinked() || fs.pub.Compressed(fs.key(other)) == compressed {
		return ""
	}
	return fs.key(other)
}

// checkKeyLen: ENAMETOOLONG when path's key is longer than S3 takes.
func (fs *FS) checkKeyLen(p string, isDir bool) error {
	k := fs.key(p)
	if isDir {
		k = fs.dirKey(p)
	}
	if len(k) > maxKeyLen {
		return ErrNameTooLong
	}
	return nil
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// baseOf is name, the last component of path p, as a substring of p: the
// kernel's side keeps a listed entry's name for as long as the node keeps
// its path, and one string serves both (name alone would keep the whole
// ListObjectsV2 key it was cut from).
func baseOf(p, name string) string { return p[len(p)-len(name):] }

// relName is the name of p, a path directly in directory d.
func relName(p, d string) string {
	if d == "" {
		return p
	}
	return p[len(d)+1:]
}

func parentPath(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

// Lookup finds name in dir. HeadObject and a one-key ListObjectsV2 of
// "name/" run in parallel; a directory wins over a file of the same name.
func (fs *FS) Lookup(ctx context.Context, dir *Node, name string) (*Node, error) {
	if len(name) > 255 {
		return nil, ErrNameTooLong
	}
	p := join(dir.Path(), name)
	if !validName(name) || len(fs.key(p)) > maxKeyLen {
		return nil, ErrNotFound // no such key can exist: S3 is not asked
	}
	now := time.Now()
	fs.mu.Lock()
	n := fs.byPath.get(p)
	negUntil, neg := fs.negative[p]
	fs.mu.Unlock()
	if n != nil {
		n.mu.Lock()
		fresh := n.hasLocalState() || (n.state == stateInS3 && now.Before(n.checked.Add(fs.opt.MetadataTTL)) && n.metaKnownLocked())
		n.mu.Unlock()
		if fresh {
			return n, nil
		}
	} else if neg && now.Before(negUntil) {
		return nil, ErrNotFound
	}

	info, isFile, isDir, marker, err := fs.probe(ctx, p)
	if err != nil {
		return nil, err
	}
	var found *Node
	switch {
	case isDir:
		found = fs.cacheEntry(p, true, s3store.ObjectInfo{}, now, false)
		if found != nil && fs.opt.PosixMetadata {
			if marker {
				fs.learnDirAttrs(ctx, found) // its attributes
			} else {
				found.mu.Lock()
				found.marker = false
				found.applyAttrsLocked(nil)
				found.mu.Unlock()
			}
		}
	case isFile:
		found = fs.cacheEntry(p, false, info, now, true)
	}
	if found != nil {
		return found, nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n = fs.byPath.get(p)
	if n != nil {
		n.mu.Lock()
		local := n.hasLocalState()
		fresh := now.Before(n.changedAtLocked()) // we published it after asking
		if !fresh {
			if n.state != stateNew {
				fs.log.Debug("lookup: S3 has no object: the name is new here", "path", p, "was", n.state.String(), "local", local)
			}
			n.state = stateNew
		}
		n.mu.Unlock()
		if local || fresh {
			return n, nil
		}
	}
	if n != nil && n.dir && fs.holdsLocalLocked(p) {
		// (Only a directory this host has a node for: a name under it
		// holds its parent's node, and a lookup of a missing name
		// must not go through a tree.)
		return fs.localDirLocked(p), nil
	}
	if n != nil {
		fs.dropLocked(n)
	}
	if fs.opt.NegativeTTL > 0 {
		fs.setNegativeLocked(p, now)
	}
	return nil, ErrNotFound
}

// holdsLocalLocked: a name under directory p has local state (a file
// being written and not yet published, a mkdir'd directory): p stays
// whatever S3 says, as its parent (fs.mu held). It goes through p's tree
// only.
func (fs *FS) holdsLocalLocked(p string) bool {
	for _, n := range fs.byPath.under(p) {
		if n.holdsLocal() {
			return true
		}
	}
	return false
}

// holdsLocal: n has local state and a name (not unlinked).
func (n *Node) holdsLocal() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hasLocalState() && n.state != stateUnlinked
}

// localDirLocked is p's directory node, made (local, as a mkdir'd one)
// when it has none (fs.mu held).
func (fs *FS) localDirLocked(p string) *Node {
	if n := fs.byPath.get(p); n != nil && n.dir {
		return n
	} else if n != nil {
		fs.dropLocked(n)
	}
	n := fs.newNodeLocked(p, true)
	n.mtime = time.Now()
	return n // stateNew: local until a file is published in it
}

// setNegativeLocked remembers that p does not exist (fs.mu held). Expired
// entries are swept once the table has doubled since the last sweep, so a
// long-lived mount that looks up many missing names stays bounded.
func (fs *FS) setNegativeLocked(p string, now time.Time) {
	fs.negative[p] = now.Add(fs.opt.NegativeTTL)
	if len(fs.negative) < max(2*fs.negativeSwept, 1024) {
		return
	}
	for k, until := range fs.negative {
		if !now.Before(until) {
			delete(fs.negative, k)
		}
	}
	fs.negativeSwept = len(fs.negative)
}

// goneKept is how long a name this host removed stays in fs.gone: longer
// than any listing or lookup that could have been asked before.
const goneKept = 5 * time.Minute

// markGoneLocked records that this host removed p (unlink, rename away,
// replace) at now: a listing or lookup asked before then still shows it,
// and must not bring it back (fs.mu held).
func (fs *FS) markGoneLocked(p string, now time.Time) {
	fs.gone[p] = now
	if len(fs.gone) < max(2*fs.goneSwept, 1024) {
		return
	}
	for k, at := range fs.gone {
		if now.Sub(at) > goneKept {
			delete(fs.gone, k)
		}
	}
	fs.goneSwept = len(fs.gone)
}

// setRemoteLocked records what S3 said about the file when asked at the
// time given, unless this host changed the object since: an answer to a
// question asked before our own publication landed is out of date, and
// taking it would make the next conditional write conflict with ourselves.
// headed: info comes from a HEAD and carries the object's attributes (a
// listing's does not).
func (n *Node) setRemoteLocked(info s3store.ObjectInfo, asked time.Time, headed bool) {
	if asked.Before(n.changedAtLocked()) || n.state == stateUnlinked {
		return
	}
	now := asked
	sameVersion := n.etag == info.ETag
	if w := n.wst.Load(); w != nil && n.file == nil && n.etag != "" && !sameVersion {
		if publish.AttrsCopyOf(info, n.etag, n.size) {
			// The same bytes under a new ETag (a chmod's copy onto
			// itself: ours whose answer was lost, or another host's):
			// readers follow it, never ESTALE for a mode.
			n.recopiedLocked(n.etag, info.ETag)
		} else {
			// Changed elsewhere: our earlier ETags no longer describe it
			// (a node without a write state has none).
			w.ownETags.reset()
		}
	}
	n.state = stateInS3
	n.size = info.Size
	n.etag = info.ETag
	n.checked = now
	switch {
	case headed:
		n.mtime = info.LastModified
		n.applyAttrsLocked(info.Attrs)
	case !sameVersion || !n.metaKnown:
		// A listing of another version: its attributes are not known.
		n.mtime = info.LastModified
		n.metaKnown = false
	}
}

// probe asks S3 whether p is a file, a directory, or both; marker: the
// directory has a "dir/" marker object.
func (fs *FS) probe(ctx context.Context, p string) (info s3store.ObjectInfo, isFile, isDir, marker bool, err error) {
	type headRes struct {
		info s3store.ObjectInfo
		err  error
	}
	hc := make(chan headRes, 1)
	go func() {
		i, e := fs.st.Head(ctx, fs.key(p))
		hc <- headRes{i, e}
	}()
	page, lerr := fs.st.List(ctx, fs.dirKey(p), "", "", 1)
	h := <-hc
	if lerr != nil {
		return info, false, false, false, lerr
	}
	isDir = len(page.Objects) > 0 || len(page.Prefixes) > 0
	marker = len(page.Objects) > 0 && page.Objects[0].Key == fs.dirKey(p)
	if h.err == nil {
		return h.info, true, isDir, marker, nil
	}
	if isDir || isNotFound(h.err) {
		return info, false, isDir, marker, nil
	}
	return info, false, false, false, h.err
}

func isNotFound(err error) bool {
	return err != nil && (errorsIs(err, s3store.ErrNotFound))
}

// dropLocked removes n from the name table (fs.mu held).
func (fs *FS) dropLocked(n *Node) {
	if fs.byPath.get(n.path) == n {
		fs.byPath.del(n.path)
	}
}

// Forget is called when the kernel forgets a node: nodes without local
// state leave the table so that memory stays bounded. One with local
// state (bytes not yet published) stays until that state ends
// (letGoIfForgotten); before, it stayed for the mount's life.
func (fs *FS) Forget(n *Node) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if n.ino == RootIno {
		return
	}
	n.mu.Lock()
	n.received, n.forgotten = false, true
	n.mu.Unlock()
	fs.letGoUnheldLocked(n)
}

// letGoIfForgotten drops n from the tables if the kernel forgot it and it
// holds nothing of its own any more. Only a node the kernel forgot: one
// never handed to it may still be held by whoever looked it up.
func (fs *FS) letGoIfForgotten(n *Node) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n.mu.Lock()
	forgotten := n.forgotten
	n.mu.Unlock()
	if forgotten {
		fs.letGoUnheldLocked(n)
	}
}

func (fs *FS) letGoUnheldLocked(n *Node) {
	if n.ino == RootIno || fs.nodes[n.ino] != n {
		return
	}
	n.mu.Lock()
	keep := n.received || n.hasLocalState() || (n.attrSet && fs.byPath.get(n.path) == n)
	if !keep {
		// A listing made before may still hand it (Received).
		n.pruned = true
	}
	n.mu.Unlock()
	if !keep {
		fs.dropLocked(n)
		delete(fs.nodes, n.ino)
	}
}

// DirEntry is one name in a directory listing.
type DirEntry struct {
	Name string
	Node *Node
}

// ReadDir lists dir: ListObjectsV2 pages (1,000 a page) merged with names
// that only exist here (files being written, mkdir'd directories). fn is
// called once per entry; returning false stops the listing.
func (fs *FS) ReadDir(ctx context.Context, dir *Node, fn func(DirEntry) bool) error {
	dp := dir.Path()
	prefix := fs.dirKey(dp)
	seen := map[string]bool{}
	token := ""
	now := time.Now()
	for {
		page, err := fs.st.List(ctx, prefix, "/", token, 1000)
		if err != nil {
			return err
		}
		dirs := map[string]bool{}
		for _, cp := range page.Prefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(cp, prefix), "/")
			if validName(name) {
				dirs[name] = true
			} else {
				fs.log.Debug("skipping key that cannot be a directory name", "prefix", cp)
			}
		}
		var entries []DirEntry
		listed := map[string]int{} // file names of this page: their entry
		for name := range dirs {
			if seen[name] {
				continue
			}
			p := join(dp, name)
			n := fs.cacheEntry(p, true, s3store.ObjectInfo{}, now, false)
			if n == nil {
				continue
			}
			entries = append(entries, DirEntry{Name: baseOf(p, name), Node: n})
		}
		for _, o := range page.Objects {
			name := strings.TrimPrefix(o.Key, prefix)
			if name == "" {
				continue // the directory's own marker key "dir/"
			}
			if !validName(name) || strings.Contains(name, "/") {
				fs.log.Debug("skipping key that cannot be a file name", "key", o.Key)
				continue
			}
			if dirs[name] || seen[name] {
				continue // a directory shadows a file of the same name
			}
			p := join(dp, name)
			n := fs.cacheEntry(p, false, o, now, false)
			if n == nil {
				continue
			}
			if i, ok := listed[name]; ok {
				// A name in both forms (a compressed mount's NAME and
				// NAME.gz: a look still due, or a rename's leftover,
				// hidden) is one file: the later entry's node, as
				// cacheEntry left it.
				entries[i].Node = n
				continue
			}
			listed[name] = len(entries)
			entries = append(entries, DirEntry{Name: baseOf(p, name), Node: n})
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
		for _, e := range entries {
			seen[e.Name] = true
			if !fn(e) {
				return nil
			}
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	// Names only this host knows about, and directories holding some
	// (a file being written in a directory whose keys another host
	// deleted): from the name table's part for dp, whose cost is dp's
	// size, not the mount's.
	var local []DirEntry
	fs.mu.Lock()
	names := fs.byPath.in(dp)
	if names != nil {
		for p, n := range names.nodes {
			name := relName(p, dp)
			if seen[name] {
				continue
			}
			n.mu.Lock()
			// Also a file this host published after S3 was asked: the
			// listing may predate its first object, and its spool file
			// be let go since (a new file's publication racing the
			// listing).
			keep := n.heldSinceLocked(now) && n.state != stateUnlinked
			n.mu.Unlock()
			if keep {
				local = append(local, DirEntry{Name: name, Node: n})
				seen[name] = true
			}
		}
		var holding []string
		for p := range names.subs {
			if !seen[relName(p, dp)] && fs.holdsLocalLocked(p) {
				holding = append(holding, p)
			}
		}
		for _, p := range holding { // (localDirLocked changes the table)
			n := fs.localDirLocked(p)
			local = append(local, DirEntry{Name: baseOf(n.path, relName(p, dp)), Node: n})
		}
	}
	fs.mu.Unlock()
	sort.Slice(local, func(i, j int) bool { return local[i].Name < local[j].Name })
	for _, e := range local {
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// cacheEntry records a listed entry so that the lookups that follow a
// listing (ls -l, readdirplus) do not ask S3 again.
func (fs *FS) cacheEntry(p string, dir bool, info s3store.ObjectInfo, now time.Time, headed bool) *Node {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.byPath.get(p)
	if n == nil && now.Before(fs.gone[p]) {
		return nil // asked before this host renamed or unlinked it
	}
	if !dir && fs.sp.LeavingAt(fs.key(p), info.ETag, now) {
		// An object this host renamed away, its delete still to come
		// (spool.Spool.Leaving): a file under its new name, not this one.
		if n != nil && n.heldSince(now) {
			return n
		}
		if n != nil && n.isRemote(info.ETag) {
			fs.dropLocked(n) // (not a node of the name's other object)
		}
		return nil
	}
	if n != nil && n.dir != dir {
		if n.heldSince(now) {
			return n
		}
		fs.dropLocked(n)
		n = nil
	}
	if n == nil {
		n = fs.newNodeLocked(p, dir)
	}
	n.mu.Lock()
	if dir {
		n.state = stateInS3
		if now.After(n.checked) {
			n.checked = now
		}
	} else if n.file == nil {
		n.setRemoteLocked(info, now, headed)
	}
	n.mu.Unlock()
	return n
}

// isRemote reports whether n stands for the object at etag.
func (n *Node) isRemote(etag string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.etag == etag
}

// heldSince reports whether n has what an answer S3 gave at asked must
// not replace: local state, a change this host made after asking or is
// making.
func (n *Node) heldSince(asked time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.heldSinceLocked(asked)
}

func (n *Node) heldSinceLocked(asked time.Time) bool {
	// A copy onto itself storing a chmod, chown or utimes: MinIO's
	// listing leaves the object out while it runs (tar c of the mount
	// skipped a symlink tar x had just made and set the mtime of). Once
	// it landed, changedAt is after the question.
	w := n.wst.Load()
	selfCopy := w != nil && w.selfCopies > 0
	return n.hasLocalState() || selfCopy || asked.Before(n.changedAtLocked())
}

// Mkdir makes a directory. With Options.PosixMetadata it is its "dir/"
// marker object, carrying its mode (dirattrs.go); otherwise, like
// Mountpoint's, it exists on this host until a file is written inside it
// (S3 has no directories).
func (fs *FS) Mkdir(ctx context.Context, dir *Node, name string, mode os.FileMode) (_ *Node, err error) {
	defer fs.touchDirs(&err, dir)
	if fs.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	if err := fs.checkNewName(dir, name, true); err != nil {
		return nil, err
	}
	if _, err := fs.Lookup(ctx, dir, name); err == nil {
		return nil, ErrExists
	} else if err != ErrNotFound {
		return nil, err
	}
	p := join(dir.Path(), name)
	if _, ok := setgidGroup(dir); ok {
		mode |= os.ModeSetgid // inherited, as Linux does
	}
	if fs.storesDirAttrs(p) {
		unlock := fs.lockPaths(p)
		defer unlock()
		fs.mu.Lock()
		taken := fs.byPath.get(p) != nil
		fs.mu.Unlock()
		if taken {
			return nil, ErrExists
		}
		uid, gid := fs.ownerFor(ctx, dir)
		n, err := fs.mkdirMarker(ctx, p, mode, uid, gid)
		if !fs.markerRefused(err, p) {
			return n, err
		}
	}
	uid, gid := fs.ownerFor(ctx, dir)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.byPath.get(p) != nil {
		return nil, ErrExists
	}
	n := fs.newNodeLocked(p, true)
	n.state = stateNew // a local directory until a file is published in it
	n.mtime = time.Now()
	la := n.attrsLocked()
	la.mode, la.modeSet = permOf(mode), true
	la.uid, la.gid = uid, gid
	return n, nil
}

// Rmdir removes an empty directory: ENOTEMPTY if S3 or this host has names
// under it. A "dir/" marker key is deleted (needs --allow-delete).
func (fs *FS) Rmdir(ctx context.Context, dir *Node, name string) (err error) {
	defer fs.touchDirs(&err, dir)
	if fs.opt.ReadOnly {
		return ErrReadOnly
	}
	n, err := fs.Lookup(ctx, dir, name)
	if err != nil {
		return err
	}
	if !n.dir {
		return ErrNotDir
	}
	empty := true
	err = fs.ReadDir(ctx, n, func(DirEntry) bool { empty = false; return false })
	if err != nil {
		return err
	}
	if !empty {
		return ErrNotEmpty
	}
	n.mu.Lock()
	// With POSIX metadata a directory this host thinks local may still
	// have a marker it did not learn of: deleting a missing key is
	// harmless, leaving a marker would bring the directory back.
	local := n.state == stateNew && !fs.opt.PosixMetadata
	p := n.path
	n.mu.Unlock()
	if local {
		// Without POSIX metadata this host makes no markers, but another
		// tool may have (a directory kept here once its last name went
		// had its keys in S3): left, the marker would bring the
		// directory back. One HEAD tells.
		if _, err := fs.st.Head(ctx, fs.dirKey(p)); err == nil {
			local = false
		} else if !isNotFound(err) {
			return err
		}
	}
	if !local {
		// Only a marker key can be left ("dir/" with nothing else). With
		// POSIX metadata mkdir makes markers, and one holds no file's
		// bytes: rmdir deletes it without --allow-delete.
		if !fs.opt.AllowDelete && !fs.opt.PosixMetadata {
			return ErrPerm
		}
		if err := fs.st.Delete(ctx, fs.dirKey(p)); err != nil && !isNotFound(err) {
			// S3 may have deleted the marker all the same (a lost
			// answer): the parents must not go with it.
			fs.keepParents(p)
			return err
		}
	}
	fs.mu.Lock()
	fs.dropLocked(n)
	fs.mu.Unlock()
	fs.keepParents(p) // its parent stays, as on a local file system
	return nil
}

// keepParents: the name just removed (unlinked, renamed away, rmdir'd)
// may have been the last one under its directories, which would vanish
// from S3 (it has no empty directories) while rm -r or mv's copy fallback
// still has to rmdir them, and a local file system keeps them anyway.
// They stay on this host as local directories, like mkdir'd ones, until
// removed or published into again.
func (fs *FS) keepParents(p string) {
	for d := parentPath(p); d != ""; d = parentPath(d) {
		fs.mu.Lock()
		n := fs.byPath.get(d)
		fs.mu.Unlock()
		if n == nil || !n.dir {
			continue
		}
		n.mu.Lock()
		n.state = stateNew
		n.mu.Unlock()
	}
}

// markParentsPublished: once a key exists under a mkdir'd directory, the
// directory exists in S3 and stops being local.
func (fs *FS) markParentsPublished(p string) {
	for d := parentPath(p); d != ""; d = parentPath(d) {
		fs.mu.Lock()
		n := fs.byPath.get(d)
		fs.mu.Unlock()
		if n == nil {
			continue
		}
		n.mu.Lock()
		n.state = stateInS3
		n.mu.Unlock()
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
