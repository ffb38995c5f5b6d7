/// Wall-clock time as the domain sees it, injected so tests and the simulator can move time
/// forward (hold expiry, rate limits, validBefore, daily caps) without sleeping.
public protocol NanoClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMilliseconds() -> UInt64
}

extension NanoClock {
    /// Whole seconds since the Unix epoch.
    public func nowSeconds() -> UInt64 { nowMilliseconds() / 1000 }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real clock (CLOCK_REALTIME).
public struct SystemClock: NanoClock {
    public init() {}
    public func nowMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }
}

/// A clock that only moves when told to: for tests and the deterministic simulator.
public final class ManualClock: NanoClock {
    private let now: Locked<UInt64>
    public init(milliseconds: UInt64) { now = Locked(milliseconds) }
    public func nowMilliseconds() -> UInt64 { now.withLock { $0 } }
    public func advance(milliseconds: UInt64) { now.withLock { $0 += milliseconds } }
    public func advance(seconds: UInt64) { advance(milliseconds: seconds * 1000) }
    public func set(milliseconds: UInt64) { now.withLock { $0 = milliseconds } }
}
