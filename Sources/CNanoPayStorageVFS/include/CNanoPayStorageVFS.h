#ifndef CNANOPAY_STORAGE_VFS_H
#define CNANOPAY_STORAGE_VFS_H

/// The ledger's SQLite VFS: the platform's default VFS ("unix") that writes a commit's WAL frames
/// in one call instead of two per frame (held in memory until a sync, read, size query,
/// truncate, close or the shm barrier publishing the commit), with two additions used to prove
/// the ledger's behaviour on bad days, both inert unless armed:
///  - fault injection: writes and/or fsyncs of files under a path prefix fail (disk full, I/O
///    error, failed fsync), until cleared;
///  - a sync hook called just before the WAL is fsynced (the "written, not yet durable" commit
///    point), so a test build can stop the process exactly there.

/// Registers the VFS under the name "nanopay" (idempotent). Returns an SQLite result code.
int nanopay_vfs_register(void);

/// What an armed fault makes fail.
enum nanopay_fault {
    NANOPAY_FAULT_NONE = 0,
    /// xWrite returns SQLITE_FULL (no space left).
    NANOPAY_FAULT_DISK_FULL = 1,
    /// xWrite returns SQLITE_IOERR_WRITE.
    NANOPAY_FAULT_WRITE_ERROR = 2,
    /// xSync returns SQLITE_IOERR_FSYNC (writes succeed).
    NANOPAY_FAULT_FSYNC_ERROR = 3,
};

/// Arms (or, with NANOPAY_FAULT_NONE, clears) a fault for every file whose path starts with
/// `path_prefix`. At most 32 prefixes are armed at once; returns 0 on success.
int nanopay_vfs_set_fault(const char *path_prefix, int fault);

/// Installs (or with NULL removes) the process-wide hook called before each fsync of a WAL file.
void nanopay_vfs_set_wal_sync_hook(void (*hook)(void));

/// How many writes/syncs were refused by armed faults so far (for tests).
long nanopay_vfs_faults_injected(void);

#endif
