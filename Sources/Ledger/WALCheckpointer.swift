import CSQLite
import Foundation
import Synchronization

/// Copies the WAL back into the database file on its own thread, so the writer's commits do not
/// pay for it. SQLite's default does this inside the commit that crosses 1,000 WAL pages, which
/// on this workload meant every group commit copied and fsynced the database file before anyone
/// was answered.
///
/// The WAL hook `attach(to:)` installs on the writer's connection wakes this thread each time the
/// WAL grows by `backgroundPages`; it runs a PASSIVE checkpoint (never blocks the writer or
/// readers). A checkpoint copies each changed page once however often it was written since the
/// last one, so a larger step copies hot pages (accounts, index interiors) fewer times: 4,096
/// pages halved the checkpointer's CPU per payment, but its copies came in bursts that took the
/// p99 at 5k/s offered from about 4 ms to 6-10 ms. 64 pages keeps the tail flat; under saturation
/// requests that arrive while a checkpoint runs fold into the next one, so the step grows with
/// load by itself (BENCHMARKS.md). On the last stretch before `inlinePages` it is woken after
/// every commit, so that it has caught up when the inline checkpoint comes. A passive checkpoint that
/// races a busy writer never catches up fully, and SQLite only rewinds the WAL once it has, so
/// when the WAL reaches `inlinePages` the writer checkpoints inline once (the background has
/// already copied almost everything) and the WAL starts over: its size stays bounded.
final class WALCheckpointer: @unchecked Sendable {
    let backgroundPages: Int32
    let inlinePages: Int32

    private let path: String
    private let condition = NSCondition()
    private var requested = false
    private var closing = false
    private let done = DispatchSemaphore(value: 0)
    private var connection: SQLiteConnection?
    /// Checkpoints that failed (storage faults); the WAL keeps the data, so nothing is lost.
    var failures: Int { failureCount.load(ordering: .relaxed) }
    /// WAL frames the background thread found copied into the database after its checkpoints
    /// (cumulative over WAL generations): proof that the work happens off the writer.
    var backgroundFramesCopied: Int { framesCopied.load(ordering: .relaxed) }
    private let failureCount = Atomic<Int>(0)
    private let framesCopied = Atomic<Int>(0)

    /// WAL size, in steps of `backgroundPages`, at the hook's last checkpoint request. Writer
    /// thread only (the hook).
    private var lastRequestStep: Int32 = 0
    /// The WAL's backfilled frame count after this thread's last checkpoint. Checkpointer thread only.
    private var lastBackfilled: Int32 = 0

    init(path: String, backgroundPages: Int32 = 64, inlinePages: Int32 = 32_768) {
        self.path = path; self.backgroundPages = max(backgroundPages, 1); self.inlinePages = max(inlinePages, backgroundPages)
    }

    func start() {
        let thread = Thread { [self] in
            nameCurrentThread("np-checkpointer")
            loop()
        }
        thread.start()
    }

    /// Installs the WAL hook on the writer's connection (this also turns SQLite's in-commit
    /// auto-checkpoint off for it).
    func attach(to writer: SQLiteConnection) {
        sqlite3_wal_hook(writer.handle, { context, db, _, pages in
            let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context!).takeUnretainedValue()
            checkpointer.countFrames(walPages: pages)
            if pages >= checkpointer.inlinePages {
                // The writer is between transactions here: everything can be copied.
                _ = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                return SQLITE_OK
            }
            // Once per `backgroundPages` new pages (a smaller step means the WAL started over),
            // then after every commit on the last stretch, so the background has caught up by the
            // time the inline checkpoint comes.
            let step = pages / checkpointer.backgroundPages
            if step != checkpointer.lastRequestStep || pages >= checkpointer.inlinePages - checkpointer.backgroundPages {
                checkpointer.lastRequestStep = step
                if step > 0 { checkpointer.request() }
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// WAL frames the writer has appended, over all WAL generations (the WAL starts over whenever
    /// a checkpoint has caught up and no reader needs the old frames).
    var framesWritten: Int { framesWrittenCount.load(ordering: .relaxed) }
    private let framesWrittenCount = Atomic<Int>(0)
    /// The WAL's size at the hook's previous call. Writer thread only (the hook).
    private var lastWALPages: Int32 = 0

    private func countFrames(walPages pages: Int32) {
        framesWrittenCount.add(Int(Self.growth(from: lastWALPages, to: pages)), ordering: .relaxed)
        lastWALPages = pages
    }

    /// How far a WAL counter (frames in the WAL, frames backfilled) moved since it was `last`. A
    /// smaller value means the WAL started over, and the counter counts from zero again.
    private static func growth(from last: Int32, to current: Int32) -> Int32 {
        current >= last ? current - last : current
    }

    /// Times the writer's hook woke this thread (tests check the step).
    var requests: Int { requestCount.load(ordering: .relaxed) }
    private let requestCount = Atomic<Int>(0)

    func request() {
        requestCount.add(1, ordering: .relaxed)
        condition.lock()
        requested = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while !requested && !closing { condition.wait() }
            let stop = closing
            requested = false
            condition.unlock()
            if stop { break }
            checkpoint()
        }
        connection = nil
        done.signal()
    }

    /// A fresh connection does not know the database is in WAL mode until it has read the
    /// header; until then `sqlite3_wal_checkpoint_v2` copies nothing and still answers
    /// SQLITE_OK (with -1 frames). `requireWALMode` reads it, and checks it.
    static func openConnection(_ path: String) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.requireWALMode()
        return db
    }

    private func checkpoint() {
        do {
            let db = try connection ?? Self.openConnection(path)
            connection = db
            var copied: Int32 = 0
            let rc = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, &copied)
            // SQLite reports the WAL's total backfilled so far, not this call's share.
            let fresh = Self.growth(from: lastBackfilled, to: copied) // -1: nothing is known yet
            if copied >= 0 { lastBackfilled = copied }
            if fresh > 0 { framesCopied.add(Int(fresh), ordering: .relaxed) }
            if rc != SQLITE_OK && rc != SQLITE_BUSY {
                failureCount.add(1, ordering: .relaxed)
                connection = nil // reopen after a storage fault, like the writer
            }
        } catch {
            failureCount.add(1, ordering: .relaxed)
        }
    }

    func close() {
        condition.lock()
        let wasClosing = closing
        closing = true
        condition.broadcast()
        condition.unlock()
        if !wasClosing { done.wait() }
    }
}
