import Foundation
import Hummingbird
import NanoPayCore

/// The operator's bearer token. Only its SHA-256 is kept in memory and comparison is constant-time.
public struct OperatorToken: Sendable, CustomStringConvertible, CustomReflectable {
    public var description: String { "OperatorToken(redacted)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    private let digest: [UInt8]

    public init(_ token: String) {
        precondition(!token.isEmpty, "operator token must not be empty")
        digest = Sodium.sha256(Array(token.utf8))
    }

    /// Missing header: 401 `unauthorized`; wrong token: 403 `forbidden`. Returns the operator label.
    func authorize(_ request: Request) throws(NanoPayError) -> String {
        guard let header = request.headers[.authorization] else {
            throw NanoPayError(.unauthorized, "operator token required: send Authorization: Bearer <token>")
        }
        guard header.hasPrefix("Bearer ") else { throw NanoPayError(.unauthorized, "Authorization must be a Bearer token") }
        let presented = Sodium.sha256(Array(header.dropFirst(7).utf8))
        guard Sodium.constantTimeEqual(presented, digest) else { throw NanoPayError(.forbidden, "operator token is not valid") }
        return "operator"
    }
}
