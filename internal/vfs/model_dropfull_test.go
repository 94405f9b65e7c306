package vfs

import "os"

// dropFullDiskCases are modelCases() of drop markers and a full spool
// disk: a clean unmount marks every gap of dropped writes, even when the
// disk had no room for the marker at the last close or at the unmount.
func dropFullDiskCases() []modelCase {
	var out []modelCase
	// TestModelCompressed seed 255440573: the last close and the unmount
	// ran on a full disk, with nothing unpublished whose publication could
	// free room: the marker's spool write failed each time, and the
	// unmount ended with the gap unmarked and no log line saying so. The
	// marker now takes the room the spool's reserve keeps for journals
	// (spool.File.WriteRecordAt). Every form of publication: Express and
	// zstd members as found, gzip members, compose.
	found := coreOptions{Express: true, AllowDelete: true, AllowOverwrite: true, Compress: "zstd", MaxBuffer: 233, NonBlocking: true}
	gzip := found
	gzip.Express, gzip.Compress = false, "gzip"
	plain := found
	plain.Express, plain.Compress = false, ""
	for _, c := range []struct {
		form string
		opt  coreOptions
	}{{"express, zstd", found}, {"gzip", gzip}, {"compose", plain}} {
		out = append(out, modelCase{"drops are marked at a clean unmount on a full spool disk (" + c.form + ")", c.opt, []op{
			{ID: 3, Kind: opRemoteAppend, Name: "a", Len: 6, Refuse: true},
			{ID: 31, Kind: opOpen, Slot: 1, Name: "b", Flags: os.O_RDWR | os.O_CREATE, Refuse: true, DiskFull: true},
			{ID: 34, Kind: opOpen, Slot: 2, Name: "a", Flags: os.O_WRONLY | os.O_APPEND, Refuse: true},
			{ID: 36, Kind: opWrite, Slot: 2, Len: 107, Refuse: true},
			{ID: 51, Kind: opRestart, Refuse: true, DiskFull: true},
		}})
	}
	// TestModel seed 546074108 (real timers in the random run): an fsync
	// published the log, its last close on a full disk could not write the
	// marker, and the close let go of the published file's spool file, the
	// drops' count with it: the unmount, with room again, had no file to
	// mark. A file with drops still to mark is now kept.
	out = append(out, modelCase{"a published log closed with drops it could not mark keeps them for the unmount",
		coreOptions{AllowDelete: true, AllowOverwrite: true, ContentETags: true, Passthrough: true, MaxBuffer: 233, NonBlocking: true}, []op{
			{ID: 325, Kind: opOpen, Slot: 4, Name: "a", Flags: os.O_RDWR | os.O_CREATE | os.O_APPEND, Refuse: true},
			{ID: 339, Kind: opWrite, Slot: 4, Len: 8, Refuse: true, DiskFull: true},
			{ID: 342, Kind: opFsync, Slot: 4, Refuse: true, DiskFull: true},
			{ID: 343, Kind: opClose, Slot: 4, Faults: 3, Refuse: true, DiskFull: true},
		}})
	return out
}
