// Command s3mount mounts an S3 bucket (or a prefix of it) as a directory.
// This file is wiring only: flags, daemonizing, signals, subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/config"
	"github.com/s3mount/s3mount/internal/daemon"
	"github.com/s3mount/s3mount/internal/datacache"
	"github.com/s3mount/s3mount/internal/fuseadapter"
	"github.com/s3mount/s3mount/internal/metrics"
	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/vfs"
	"github.com/s3mount/s3mount/internal/zstore"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "status":
			os.Exit(runStatus(args[1:]))
		case "recover":
			os.Exit(runRecover(args[1:]))
		case watchCommand:
			os.Exit(runWatch(args[1:]))
		}
	}
	o, err := config.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
		os.Exit(2)
	}
	if o.Help {
		fmt.Print(config.Usage())
		return
	}
	if o.Version {
		fmt.Print(versionText())
		return
	}
	if err := o.CheckMountPoint(); err != nil {
		fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
		os.Exit(1)
	}
	if !o.Foreground && !daemon.IsChild() {
		if err := daemon.Start(args); err != nil {
			fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		daemon.Fail(err)
		fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
		os.Exit(1)
	}
}

// run mounts and serves until a stop signal or an external unmount.
func run(o *config.Options) error {
	// Catch stop signals from the start: a SIGTERM that arrives while the
	// mount comes up must unmount cleanly, not kill the daemon mid-way.
	stopSigs := make(chan os.Signal, 1)
	signal.Notify(stopSigs, daemon.StopSignals...)
	defer signal.Stop(stopSigs)
	log, closeLog, err := newLogger(o)
	if err != nil {
		return err
	}
	defer closeLog()
	slog.SetDefault(log)
	for _, f := range o.NotYet {
		log.Warn("option accepted but not implemented yet: " + f)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	st, err := s3store.New(ctx, storeOptions(o))
	cancel()
	if err != nil {
		return err
	}
	mode := spool.Blocking
	if o.BufferMode == config.BufferNonBlocking {
		mode = spool.NonBlocking
	}
	sp, recovered, err := spool.Open(o.SpoolDir, o.Bucket+"/"+o.Prefix, spool.Options{
		MaxBuffer: o.MaxBufferSize, Mode: mode, Sync: syncPolicy(o.SpoolSync),
	})
	if err != nil {
		return err
	}
	if len(recovered) > 0 {
		log.Info("publishing files left in the spool by a previous run", "files", len(recovered), "spool_dir", o.SpoolDir)
	}
	var cache readahead.Cache       // a nil *datacache.Cache must not become a non-nil interface
	var cachedFiles vfs.CachedFiles // nor here
	if o.CacheDir != "" {
		dc, err := datacache.Open(datacache.Options{Dir: o.CacheDir, MaxSize: o.MaxCacheSize})
		if err != nil {
			return fmt.Errorf("cannot use the cache directory %s: %v", o.CacheDir, err)
		}
		defer dc.Close()
		cache, cachedFiles = dc, dc
	}
	view := mountView(st, o)
	pool := readahead.NewPool(view, readahead.PoolOptions{
		PartSize:          o.ReadPartSize,
		MaxThreads:        o.MaxThreads,
		MaxThroughputGbps: o.MaxThroughputGbps,
		MemoryTarget:      readMemory(o.MemoryTarget),
		Cache:             cache,
	})
	fs := vfs.New(view, sp, recovered, pool, vfs.Options{
		Prefix: o.Prefix, UID: o.UID, GID: o.GID, DirMode: o.DirMode, FileMode: o.FileMode,
		ReadOnly: o.ReadOnly, AllowDelete: o.AllowDelete, AllowOverwrite: o.AllowOverwrite,
		MetadataTTL: ttl(o.MetadataTTL), NegativeTTL: ttl(o.NegativeMetadataTTL),
		UploadInterval: o.UploadInterval, CloseDelay: o.CloseDelay,
		WritePartSize: o.WritePartSize, MaxEditSize: o.MaxEditSize, DropMarker: o.DropMarker,
		Logger: log, Express: express(o, st), PosixMetadata: !o.NoPosixMetadata, OtherUsers: o.AllowOther,
		NoSymlinkProbe: o.NoSymlinkProbe, Cache: cachedFiles,
	})
	m := metrics.New(view, fs, pool)
	if o.MetricsAddr != "" {
		addr, err := m.Serve(o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("cannot serve metrics on %s: %v", o.MetricsAddr, err)
		}
		log.Info("serving Prometheus metrics", "addr", addr)
	}
	statusSrv, err := serveStatus(o.SpoolDir, fs, o, compressedViewOf(view))
	if err != nil {
		return err
	}
	defer statusSrv.Close()
	if o.LogMetrics {
		go m.LogEvery(time.Minute, log)
	}
	server, fusermountSaid, err := withFusermountStderr(func() (*fuse.Server, error) {
		return fuseadapter.Mount(o.MountPoint, fs, fuseadapter.Options{
			AllowOther: o.AllowOther, AllowRoot: o.AllowRoot, ReadOnly: o.ReadOnly,
			EntryTTL: ttl(o.MetadataTTL), NegativeTTL: ttl(o.NegativeMetadataTTL),
			FsName: "s3mount:" + o.Bucket, Debug: o.Debug && os.Getenv("S3MOUNT_FUSE_DEBUG") != "",
			Logger: log, OnOp: m.FuseOp, Passthrough: !o.NoPassthrough,
		})
	})
	if err != nil {
		fs.Shutdown(context.Background())
		return mountError(o.MountPoint, err, fusermountSaid)
	}
	if fusermountSaid != "" {
		log.Warn("fusermount: " + fusermountSaid)
	}
	if err := readahead.RaiseKernelReadAhead(o.MountPoint, readahead.KernelReadAheadKB); err != nil {
		log.Info("cannot raise the kernel read-ahead of the mount (needs root); sequential reads will be slower", "err", err)
	}
	if o.AutoUnmount {
		if err := startWatcher(o.MountPoint); err != nil {
			log.Warn("cannot start the auto-unmount watcher", "err", err)
		}
	}
	log.Info("mounted", "bucket", o.Bucket, "prefix", o.Prefix, "dir", o.MountPoint, "spool_dir", o.SpoolDir)
	daemon.Ready()

	unmounted := make(chan struct{})
	go func() { server.Wait(); close(unmounted) }()
	var sig os.Signal
	select {
	case sig = <-stopSigs:
	case <-unmounted:
	}
	if sig != nil {
		log.Info("stopping: publishing and unmounting", "signal", sig.String())
		if err := server.Unmount(); err != nil {
			// Busy (a process holds a file open): detach the mount so no
			// new request arrives, and publish what we have.
			log.Warn("unmount is busy: detaching the mount", "err", err)
			syscall.Unmount(o.MountPoint, syscall.MNT_DETACH)
		}
	}
	if err := fs.Shutdown(context.Background()); err != nil {
		log.Error("some data could not be published; it stays in the spool for the next mount", "spool_dir", o.SpoolDir, "err", err)
		return nil
	}
	log.Info("unmounted; everything published", "dir", o.MountPoint)
	return nil
}

func storeOptions(o *config.Options) s3store.Options {
	return s3store.Options{
		Bucket: o.Bucket, Region: o.Region, EndpointURL: o.EndpointURL, ForcePathStyle: o.ForcePathStyle,
		Profile: o.Profile, NoSignRequest: o.NoSignRequest, RequesterPays: o.RequesterPays,
		ExpectedBucketOwner: o.ExpectedBucketOwner, UserAgentPrefix: o.UserAgentPrefix,
		StorageClass: o.StorageClass, SSE: o.SSE, SSEKMSKeyID: o.SSEKMSKeyID, UploadChecksums: o.UploadChecksums,
		MaxConns: max(64, o.MaxThreads*2),
	}
}

// mountView is the store the file system sees: with --compress, one that
// shows each compressed log object NAME.gz / NAME.zst as the file NAME.
func mountView(st *s3store.S3, o *config.Options) s3store.Store {
	if o.Compress == "" {
		return st
	}
	return zstore.New(st, compress.Codec(o.Compress), o.CompressGlobs)
}

// compressedViewOf is view's compression side for status (nil without
// --compress).
func compressedViewOf(view s3store.Store) compressedView {
	if z, ok := view.(*zstore.Store); ok {
		return z
	}
	return nil
}

// express: directory buckets (S3 Express One Zone) append with write
// offsets and rename with RenameObject.
func express(o *config.Options, st *s3store.S3) s3store.Express {
	if o.BucketType == config.BucketTypeDirectory || s3store.IsDirectoryBucket(o.Bucket) {
		return st
	}
	return nil
}

func syncPolicy(s string) spool.SyncPolicy {
	switch s {
	case config.SpoolSyncAlways:
		return spool.SyncAlways
	case config.SpoolSyncInterval:
		return spool.SyncInterval
	case config.SpoolSyncNever:
		return spool.SyncNever
	}
	return spool.SyncPublish
}

// ttl maps Mountpoint's TTL words: minimal is one second (the kernel and
// our cache revalidate often), indefinite is capped at a year.
func ttl(d time.Duration) time.Duration {
	switch {
	case d == config.Minimal:
		return time.Second
	case d == config.Indefinite:
		return 365 * 24 * time.Hour
	}
	return d
}

// readMemory: Mountpoint's --memory-target is for the whole process; the
// read-ahead takes a quarter of it, capped so that a default mount stays
// small (a 1 GiB sequential read needs far less than a GiB of buffers).
func readMemory(target int64) int64 {
	if target <= 0 {
		return 0
	}
	return min(target/4, 256<<20)
}

func newLogger(o *config.Options) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	if o.Debug {
		level = slog.LevelDebug
	}
	w, closer, err := logWriter(o)
	if err != nil {
		return nil, nil, err
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact})
	return slog.New(h), closer, nil
}

// redact keeps secrets out of every log line.
func redact(groups []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindString {
		s := a.Value.String()
		if strings.Contains(s, "X-Amz-Signature=") || strings.Contains(s, "X-Amz-Credential=") {
			return slog.String(a.Key, "[redacted URL]")
		}
		if v := os.Getenv("AWS_SECRET_ACCESS_KEY"); v != "" && strings.Contains(s, v) {
			return slog.String(a.Key, strings.ReplaceAll(s, v, "[redacted]"))
		}
	}
	if err, ok := a.Value.Any().(error); ok && err != nil {
		return redact(groups, slog.String(a.Key, err.Error()))
	}
	return a
}

var errUsage = errors.New("usage")
