import CSQLite
import NanoPayCore

/// A failure from SQLite. `isStorageFault` marks errors of the medium (full disk, I/O, a
/// read-only or vanished file) as opposed to bugs such as a bad statement.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
    public var isStorageFault: Bool {
        let primary = code & 0xff
        return [SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL].contains(primary)
    }
}

/// One SQLite connection. Not thread-safe: confined to its owner (the writer thread, or one
/// reader at a time through the pool).
final class SQLiteConnection: @unchecked Sendable {
    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]

    init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        StorageVFS.register()
        let rc = sqlite3_open_v2(path, &db, flags, StorageVFS.name)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32) -> SQLiteError { SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle))) }

    func execute(_ sql: String) throws(SQLiteError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// A prepared statement, cached for the life of the connection (the hot path never re-parses SQL).
    func statement(_ sql: String) throws(SQLiteError) -> Statement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc) }
        let s = Statement(stmt, connection: self)
        cache[sql] = s
        return s
    }

    /// Runs a single-value query (pragmas, counts).
    func scalarInt(_ sql: String) throws(SQLiteError) -> Int64? {
        let s = try statement(sql)
        defer { s.reset() }
        return try s.step() ? s.int(0) : nil
    }

    func scalarText(_ sql: String) throws(SQLiteError) -> String? {
        let s = try statement(sql)
        defer { s.reset() }
        return try s.step() ? s.text(0) : nil
    }

    /// Resets every statement still mid-result, so no read transaction lingers (which would
    /// block COMMIT on the writer and WAL checkpoints on readers).
    func resetActiveStatements() {
        var stmt = sqlite3_next_stmt(handle, nil)
        while let s = stmt {
            if sqlite3_stmt_busy(s) != 0 { sqlite3_reset(s) }
            stmt = sqlite3_next_stmt(handle, s)
        }
    }

    var changes: Int { Int(sqlite3_changes(handle)) }
}

final class Statement {
    let pointer: OpaquePointer
    unowned let connection: SQLiteConnection

    init(_ pointer: OpaquePointer, connection: SQLiteConnection) { self.pointer = pointer; self.connection = connection }
    deinit { sqlite3_finalize(pointer) }

    func reset() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }

    @discardableResult
    func bind(_ index: Int32, _ value: String?) -> Statement {
        if let value { sqlite3_bind_text(pointer, index, value, -1, csqlite_transient()) } else { sqlite3_bind_null(pointer, index) }
        return self
    }

    @discardableResult
    func bind(_ index: Int32, _ value: [UInt8]?) -> Statement {
        if let value {
            value.withUnsafeBytes { sqlite3_bind_blob(pointer, index, $0.baseAddress, Int32($0.count), csqlite_transient()) }
        } else { sqlite3_bind_null(pointer, index) }
        return self
    }

    /// Binds an amount as its 16 big-endian bytes, without an intermediate array.
    @discardableResult
    func bind(_ index: Int32, _ value: Amount) -> Statement {
        value.withBigEndianBytes { _ = sqlite3_bind_blob(pointer, index, $0.baseAddress, 16, csqlite_transient()) }
        return self
    }

    @discardableResult
    func bind(_ index: Int32, _ value: Int64?) -> Statement {
        if let value { sqlite3_bind_int64(pointer, index, value) } else { sqlite3_bind_null(pointer, index) }
        return self
    }

    @discardableResult
    func bind(_ index: Int32, _ value: UInt64) -> Statement { bind(index, Int64(bitPattern: value)) }

    /// Steps once: true if a row is available, false when done.
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(pointer)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let err = connection.error(rc)
        sqlite3_reset(pointer)
        throw err
    }

    /// Steps a statement that returns no rows.
    func run() throws(SQLiteError) {
        _ = try step()
        sqlite3_reset(pointer)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(pointer, column) == SQLITE_NULL }
    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(pointer, column) }
    func text(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(pointer, column) else { return nil }
        return String(cString: p)
    }
    /// An amount column (16 big-endian bytes) read in place; nil for NULL or any other length.
    func amount(_ column: Int32) -> Amount? {
        let n = Int(sqlite3_column_bytes(pointer, column))
        guard n == 16, let p = sqlite3_column_blob(pointer, column) else { return nil }
        return Amount(bigEndianBytes: UnsafeRawBufferPointer(start: p, count: n))
    }
    func blob(_ column: Int32) -> [UInt8]? {
        if isNull(column) { return nil }
        let n = Int(sqlite3_column_bytes(pointer, column))
        guard n > 0, let p = sqlite3_column_blob(pointer, column) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: p, count: n))
    }
}

extension SQLiteConnection {
    /// Reads the journal mode, which also makes a fresh connection read the database header
    /// (until then it does not know it is in WAL mode), and refuses anything but WAL.
    func requireWALMode() throws {
        guard try scalarText("PRAGMA journal_mode")?.lowercased() == "wal" else {
            throw LedgerError.pragmaNotInEffect("journal_mode=WAL")
        }
    }
}
