import Logging
import NanoPayCore
import PostgresNIO

extension PostgresConnection {
    /// `query`, refusing a connection already closed. postgres-nio 1.33.2 never answers a query
    /// written to a connection the server has closed (the write is dropped and the caller waits
    /// forever, cancellation or not), which is what every pooled connection becomes when
    /// PostgreSQL restarts. Checking first leaves only a narrow race, which the caller's
    /// operation timeout covers.
    @discardableResult
    func send(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        guard !isClosed else { throw NanoPayError(.storageUnavailable, "the database connection was closed") }
        return try await self.query(query, logger: logger, file: file, line: line)
    }
}

extension PostgresConnection {
    /// Sends a statement whose rows (if any) are not needed, and reads them to the end: an error
    /// raised while the statement runs (say, in a function it calls) arrives with the rows, and
    /// unread it would be lost, leaving the transaction aborted and its COMMIT a silent rollback.
    func run(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws {
        for try await _ in try await send(query, logger: logger, file: file, line: line) {}
    }
}

/// Resumes a continuation once, from whichever of the work or its deadline finishes first.
final class FirstAnswer<T: Sendable>: Sendable {
    private let continuation: Locked<CheckedContinuation<T, any Error>?>
    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Locked(continuation) }

    /// True once the caller has its answer: work that only now got its connection must not start
    /// (the caller was told `storage_unavailable`; nothing may be written after that).
    var isAnswered: Bool { continuation.withLock { $0 == nil } }

    /// True when this call was the one that answered.
    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        guard let c = continuation.withLock({ c -> CheckedContinuation<T, any Error>? in defer { c = nil }; return c }) else { return false }
        c.resume(with: result)
        return true
    }
}
