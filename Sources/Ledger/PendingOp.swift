import Foundation
import NanoPayCore

/// One unit of work for the writer thread.
final class PendingOp: @unchecked Sendable {
    /// Runs inside the batch transaction (within its own savepoint).
    let execute: (LedgerTransaction) throws -> Void
    /// Called once after the batch is durable (nil) or failed (why the batch was not written).
    let finish: (BatchFailure?) -> Void
    /// Run, answer, then roll back: the op sees real state and changes nothing.
    let dryRun: Bool
    /// Whether the op is a payment (commit hooks of crash tests fire only for those batches).
    let isPayment: Bool
    init(dryRun: Bool = false, isPayment: Bool = false, execute: @escaping (LedgerTransaction) throws -> Void,
         finish: @escaping (BatchFailure?) -> Void) {
        self.dryRun = dryRun; self.isPayment = isPayment; self.execute = execute; self.finish = finish
    }
}

/// Why a whole batch was not written (a storage fault): every op in it is answered
/// `storage_unavailable` with this message, and none of them is acknowledged.
struct BatchFailure: Error { let message: String }

/// Why an op was not queued.
enum EnqueueRefusal: Error {
    /// The ledger is closing; nothing new runs.
    case closing
    /// `queueLimit` ops are already waiting: the caller is told to back off instead of the
    /// process growing without bound.
    case full
}

extension EnqueueRefusal {
    /// What the caller of a refused op is told.
    var answer: NanoPayError {
        switch self {
        case .closing: return NanoPayError(.storageUnavailable, "ledger is shutting down")
        case .full: return NanoPayError(.overloaded, "too many requests are waiting for the ledger; retry shortly", retryAfterSeconds: 1)
        }
    }
}

/// Thrown after a dry-run op so its savepoint is rolled back like a failed op's.
struct DryRunRollback: Error {}

/// Carries one op's result from the writer thread to its caller.
final class ResultSlot<T>: @unchecked Sendable {
    var value: Result<T, NanoPayError>?
}
