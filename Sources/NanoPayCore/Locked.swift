import Foundation

/// A value guarded by a pthread mutex (`NSLock`). Used instead of `Synchronization.Mutex`
/// because on Linux (Swift 6.3) ThreadSanitizer cannot see `Mutex`'s locking — it lives in the
/// uninstrumented runtime — and reports every guarded access as a race, which would bury real
/// races in `scripts/sanitizers.sh`. Never hold it across an `await`.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    @inline(__always)
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
