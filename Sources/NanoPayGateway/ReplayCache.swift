import Foundation
import NanoPayCore

/// Responses the gateway delivered for a payment, so a buyer whose answer was lost can retry
/// with the same PAYMENT-SIGNATURE and get the same bytes instead of paying twice.
///
/// Keyed by the SHA-256 of the PAYMENT-SIGNATURE header; an entry answers only the same method,
/// URL (path and query) and body SHA-256, and only until the authorization's validBefore or
/// `maxAgeSeconds`, whichever comes first. Bounded in entries, in total bytes and per entry: a
/// response over `maxEntryBytes` is not kept, and when full the oldest entries go first (a
/// buyer-chosen far validBefore buys no priority). Per gateway process: with several
/// instances behind a balancer, a retry that lands on another instance finds nothing (409).
public final class ReplayCache: Sendable {
    public struct Binding: Equatable, Sendable {
        public var method: String
        public var pathAndQuery: String
        public var bodySHA256: [UInt8]
        public init(method: String, pathAndQuery: String, bodySHA256: [UInt8]) {
            self.method = method; self.pathAndQuery = pathAndQuery; self.bodySHA256 = bodySHA256
        }
    }

    public struct Entry: Sendable {
        public var binding: Binding
        public var validBefore: UInt64
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public init(binding: Binding, validBefore: UInt64, status: Int, headers: [(String, String)], body: [UInt8]) {
            self.binding = binding; self.validBefore = validBefore; self.status = status; self.headers = headers; self.body = body
        }
        var bytes: Int { body.count + headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count } }
    }

    public enum Lookup: Sendable {
        case miss
        case hit(Entry)
        /// The same payment header for another request.
        case otherRequest
    }

    struct State {
        var entries: [[UInt8]: Entry] = [:]
        /// Insertion order, for eviction (stale keys are skipped).
        var order: [(key: [UInt8], sequence: UInt64)] = []
        var sequences: [[UInt8]: UInt64] = [:]
        var next: UInt64 = 0
        var bytes = 0

        mutating func remove(_ key: [UInt8]) {
            if let e = entries.removeValue(forKey: key) { bytes -= e.bytes }
            sequences[key] = nil
        }
    }

    private let state = Locked(State())
    public let maxEntries: Int
    public let maxBytes: Int
    public let maxEntryBytes: Int
    public let maxAgeSeconds: UInt64

    public init(maxEntries: Int, maxBytes: Int, maxEntryBytes: Int, maxAgeSeconds: UInt64 = 600) {
        self.maxEntries = maxEntries; self.maxBytes = maxBytes; self.maxEntryBytes = min(maxEntryBytes, maxBytes)
        self.maxAgeSeconds = maxAgeSeconds
    }

    public static func key(paymentHeader: String) -> [UInt8] { Sodium.sha256(Array(paymentHeader.utf8)) }

    public var count: Int { state.withLock { $0.entries.count } }
    public var totalBytes: Int { state.withLock { $0.bytes } }

    public func lookup(key: [UInt8], binding: Binding, nowSeconds: UInt64) -> Lookup {
        state.withLock { s in
            guard let entry = s.entries[key] else { return .miss }
            guard entry.validBefore > nowSeconds else {
                s.remove(key)
                return .miss
            }
            return entry.binding == binding ? .hit(entry) : .otherRequest
        }
    }

    /// Keeps `entry` if it fits. Returns whether it was kept.
    @discardableResult
    public func insert(key: [UInt8], _ entry: Entry, nowSeconds: UInt64) -> Bool {
        var entry = entry
        entry.validBefore = min(entry.validBefore, nowSeconds.addingReportingOverflow(maxAgeSeconds).partialValue)
        let size = entry.bytes
        guard size <= maxEntryBytes, maxEntries > 0, entry.validBefore > nowSeconds else { return false }
        return state.withLock { s in
            s.remove(key)
            var cursor = 0
            while s.entries.count >= maxEntries || s.bytes + size > maxBytes, cursor < s.order.count {
                let (oldKey, sequence) = s.order[cursor]
                cursor += 1
                if s.sequences[oldKey] == sequence { s.remove(oldKey) }
            }
            s.order.removeFirst(cursor)
            if s.order.count > 2 * maxEntries + 64 { s.order.removeAll { s.sequences[$0.key] != $0.sequence } }
            s.next += 1
            s.entries[key] = entry; s.bytes += size
            s.sequences[key] = s.next
            s.order.append((key, s.next))
            return true
        }
    }
}
