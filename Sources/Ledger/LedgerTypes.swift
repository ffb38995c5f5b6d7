import NanoPayCore

/// Why the ledger could not open or keep going. Operating errors of single requests are
/// `NanoPayError` values instead.
public enum LedgerError: Error, CustomStringConvertible {
    case schemaTooNew(database: Int, supported: Int)
    case pragmaNotInEffect(String)
    case storage(String)
    case closed

    public var description: String {
        switch self {
        case .schemaTooNew(let db, let supported):
            return "database schema version \(db) is newer than this build supports (\(supported)); refusing to open it — run a newer nanopayd"
        case .pragmaNotInEffect(let what): return "SQLite setting not in effect: \(what)"
        case .storage(let what): return "storage error: \(what)"
        case .closed: return "ledger is closed"
        }
    }
}
