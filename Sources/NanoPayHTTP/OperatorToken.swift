import Foundation
import Hummingbird
import NanoPayCore

/// A bearer token for one role: the operator's (funds, policies, approvals) or a paying
/// gateway's (reservations only). Only its SHA-256 is kept in memory; comparison is constant-time.
public struct BearerToken: Sendable, CustomStringConvertible, CustomReflectable {
    public var description: String { "BearerToken(\(role), redacted)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    private let digest: [UInt8]
    /// `operator` or `gateway`: what the token opens, and how refusals name it.
    public let role: String

    public init(_ token: String, role: String = "operator") {
        precondition(!token.isEmpty, "\(role) token must not be empty")
        digest = Sodium.sha256(Array(token.utf8))
        self.role = role
    }

    /// Missing header: 401 `unauthorized`; wrong token: 403 `forbidden`. Returns the role.
    func authorize(_ request: Request) throws(NanoPayError) -> String {
        guard let header = request.headers[.authorization] else {
            throw NanoPayError(.unauthorized, "\(role) token required: send Authorization: Bearer <token>")
        }
        guard header.hasPrefix("Bearer ") else { throw NanoPayError(.unauthorized, "Authorization must be a Bearer token") }
        let presented = Sodium.sha256(Array(header.dropFirst(7).utf8))
        guard Sodium.constantTimeEqual(presented, digest) else { throw NanoPayError(.forbidden, "\(role) token is not valid") }
        return role
    }
}

/// The operator's token (the name the rest of the code and the tests use).
public typealias OperatorToken = BearerToken
