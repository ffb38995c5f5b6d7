import CNanoPayStorageVFS
import NanoPayCore

/// Failures of the storage medium, injected under a directory so tests can prove what the
/// ledger does when the disk is full, a write fails or an fsync fails. Every SQLite file the
/// ledger opens goes through the "nanopay" VFS, which is the platform's default VFS plus this
/// switch; nothing is injected unless a test arms it.
public enum StorageFault: Int32, Sendable, CaseIterable {
    /// Writes fail with SQLITE_FULL.
    case diskFull = 1
    /// Writes fail with an I/O error.
    case writeError = 2
    /// Writes succeed but fsync fails.
    case fsyncError = 3
}

public enum StorageFaultInjection {
    /// Makes every file under `directory` fail as `fault` says, until `clear`.
    public static func arm(_ fault: StorageFault, under directory: String) {
        StorageVFS.register()
        precondition(nanopay_vfs_set_fault(directory, fault.rawValue) == 0, "too many armed storage faults")
    }

    public static func clear(under directory: String) {
        _ = nanopay_vfs_set_fault(directory, 0)
    }

    /// Writes and fsyncs refused so far, process-wide.
    public static var injectedCount: Int { Int(nanopay_vfs_faults_injected()) }
}

/// The steps of one group commit, in order. A crash test stops the process between two of them
/// (`Ledger.Configuration.commitHook`) and checks what survived.
public enum CommitPoint: String, Sendable, CaseIterable {
    /// The batch was taken off the queue; nothing has run.
    case assembled
    /// Every op ran inside the open transaction; COMMIT has not started.
    case executed
    /// COMMIT wrote the batch to the WAL; the fsync that makes it durable has not run.
    case written
    /// The transaction is durable; no caller has been answered.
    case fsynced
    /// Every caller of the batch has been answered.
    case answered
}

enum StorageVFS {
    static let name = "nanopay"
    private static let registered: Bool = nanopay_vfs_register() == 0

    /// Registers the VFS once per process.
    static func register() { precondition(registered, "the nanopay SQLite VFS could not be registered") }

    /// The process-wide action run just before a WAL fsync (the `written` commit point).
    static let walSyncAction = Locked<(@Sendable () -> Void)?>(nil)

    static func installWalSyncHook() {
        nanopay_vfs_set_wal_sync_hook {
            let action = StorageVFS.walSyncAction.withLock { $0 }
            action?()
        }
    }
}
