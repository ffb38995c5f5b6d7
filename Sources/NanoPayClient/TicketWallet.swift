import Foundation
import NanoPayCore

/// A buyer's tickets, kept until they expire and reused for every request their scope covers on
/// the origin that sold them. In memory, or in a 0600 JSON file (`nanopay pay --ticket-cache`)
/// so separate runs share them. A ticket is a bearer credential: whoever holds it may spend it.
public final class TicketWallet: Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        /// `scheme://host:port` of the seller that asked for it.
        public var origin: String
        public var ticket: String
        public var scope: String
        public var expiresAt: UInt64
        public init(origin: String, ticket: String, scope: String, expiresAt: UInt64) {
            self.origin = origin; self.ticket = ticket; self.scope = scope; self.expiresAt = expiresAt
        }
    }

    private let entries: Locked<[Entry]>
    private let path: String?
    /// A ticket this close to expiry is not used (it could expire in flight).
    public static let marginSeconds: UInt64 = 1

    public init() { entries = Locked([]); path = nil }

    /// Backed by a file (created 0600 when first written); a missing or unreadable file starts empty.
    public init(path: String) {
        self.path = path
        let loaded = FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode([Entry].self, from: $0) } ?? []
        entries = Locked(loaded)
    }

    /// A live ticket whose scope covers this request, if any.
    public func ticket(origin: String, method: String, path: String, nowSeconds: UInt64) -> Entry? {
        entries.withLock { list in
            list.first { $0.origin == origin && $0.expiresAt > nowSeconds + Self.marginSeconds
                && ((try? TicketScope(parsing: $0.scope))?.covers(method: method, path: path) ?? false) }
        }
    }

    public func add(_ entry: Entry, nowSeconds: UInt64) {
        let snapshot = entries.withLock { list -> [Entry] in
            list.removeAll { $0.expiresAt <= nowSeconds || $0.ticket == entry.ticket }
            list.append(entry)
            return list
        }
        save(snapshot)
    }

    /// Forgets a ticket the seller refused.
    public func remove(ticket: String) {
        save(entries.withLock { list -> [Entry] in list.removeAll { $0.ticket == ticket }; return list })
    }

    private func save(_ list: [Entry]) {
        guard let path, let data = try? JSONEncoder().encode(list) else { return }
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else { return }
        // rename(2) replaces the old file atomically (FileManager's move refuses an existing one).
        if rename(tmp, path) != 0 { unlink(tmp) }
    }
}
