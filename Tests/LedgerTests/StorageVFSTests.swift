@testable import Ledger
import NanoPayTestSupport
import Testing

/// The "nanopay" VFS holds WAL frames in memory and writes them as one call (see
/// StorageVFS.c). These tests pin down when the held frames must reach the file.
@Suite struct StorageVFSTests {
    /// A commit that skips its WAL sync (synchronous=NORMAL) is still published to other
    /// connections through the wal-index; the shm barrier must flush the frames first, or the
    /// reader is pointed at frames that are not in the file.
    @Test func commitWithoutSyncIsVisibleToAnotherConnection() throws {
        let directory = TempDirectory(); defer { directory.remove() }
        let path = directory.path + "/normal.sqlite"
        let writer = try SQLiteConnection(path: path)
        try writer.execute("PRAGMA journal_mode=WAL")
        try writer.execute("PRAGMA synchronous=NORMAL")
        try writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        let reader = try SQLiteConnection(path: path)
        for round in 1...50 {
            try writer.execute("BEGIN IMMEDIATE")
            try writer.execute("INSERT INTO t (body) VALUES (randomblob(3000))")
            try writer.execute("COMMIT")
            #expect(try reader.scalarInt("SELECT COUNT(*) FROM t") == Int64(round))
            #expect(try reader.scalarInt("SELECT SUM(length(body)) FROM t") == Int64(round * 3000))
        }
        #expect(try reader.scalarText("PRAGMA integrity_check") == "ok")
    }

    /// Transactions larger than the 4 MiB buffer and commits of more than 128 KiB of frames
    /// survive a reopen intact. (The unix VFS masks a write's length to 17 bits: the first
    /// version flushed in one call and every commit over 128 KiB failed with SQLITE_FULL.)
    @Test func largeAndOddSizedCommitsReadBackAfterReopen() throws {
        let directory = TempDirectory(); defer { directory.remove() }
        let path = directory.path + "/large.sqlite"
        do {
            let writer = try SQLiteConnection(path: path)
            try writer.execute("PRAGMA journal_mode=WAL")
            try writer.execute("PRAGMA synchronous=FULL")
            try writer.execute("PRAGMA wal_autocheckpoint=0")
            try writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            try writer.execute("BEGIN IMMEDIATE")
            try writer.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t (body) SELECT zeroblob(3000) FROM n")
            try writer.execute("COMMIT")
            for rows in 1...40 {
                try writer.execute("BEGIN IMMEDIATE")
                try writer.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows)) INSERT INTO t (body) SELECT randomblob(4000) FROM n")
                try writer.execute("COMMIT")
            }
        }
        let reader = try SQLiteConnection(path: path)
        #expect(try reader.scalarInt("SELECT COUNT(*) FROM t") == 2000 + (1...40).reduce(0, +))
        #expect(try reader.scalarText("PRAGMA integrity_check") == "ok")
    }
}
