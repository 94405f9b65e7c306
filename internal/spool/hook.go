package spool

// Hook is told of each disk operation of the spool right after it
// completed: op names the operation (the Op* constants), path the file or
// directory it changed. It runs synchronously, with the file's locks held,
// so that a test can stop the spool between two of its writes and see the
// directory exactly as a crash at that instant would leave it. It must not
// call back into the spool. nil (the default) calls nothing.
type Hook func(op, path string)

// The operations a Hook is told of.
const (
	OpCreate        = "create"         // a data file was created
	OpDataWrite     = "data-write"     // bytes were written to a data file
	OpDataSync      = "data-sync"      // a data file was fsynced
	OpTruncate      = "truncate"       // a data file was truncated
	OpPunch         = "punch"          // published blocks of a data file were freed
	OpJournalWrite  = "journal-write"  // a journal's .tmp file was written and fsynced
	OpJournalRename = "journal-rename" // the .tmp file replaced the journal
	OpJournalSlot   = "journal-slot"   // a record was written into a journal's slot, in place
	OpJournalSync   = "journal-sync"   // the journal file was fdatasynced after it
	OpDirSync       = "dir-sync"       // the spool directory was fsynced
	OpRemove        = "remove"         // a journal or data file was removed
)

// hook calls the spool's Hook, if any.
func (s *Spool) hook(op, path string) {
	if s.opts.Hook != nil {
		s.opts.Hook(op, path)
	}
}
