import Foundation
import NanoPayCore

/// What the service said about one authorization.
public enum VerifierAnswer: Sendable, Equatable {
    case paid(receipt: Receipt, replayed: Bool)
    case held(approvalId: String, expiresAtSeconds: UInt64)
    case refused(code: String, message: String)
}

/// How a seller reaches CyberNanoPay: over HTTP (`RemoteVerifier`) or in-process when the seller
/// embeds the service (`ClosureVerifier`).
public protocol PaymentVerifier: Sendable {
    func verify(_ authorization: AuthorizationFields) async throws -> VerifierAnswer
}

/// Calls `POST /verify` on a nanopayd.
public struct RemoteVerifier: PaymentVerifier {
    public let client: ServiceClient
    public init(client: ServiceClient) { self.client = client }

    public func verify(_ authorization: AuthorizationFields) async throws -> VerifierAnswer {
        let answer = try await client.send(.POST, "/verify", json: try JSONEncoder().encode(authorization))
        let body = (try? JSONDecoder().decode([String: JSONValue].self, from: answer.body)) ?? [:]
        switch answer.status {
        case 200:
            guard let receiptValue = body["receipt"], let receipt = Receipt(jsonValue: receiptValue) else {
                return .refused(code: "invalid_response", message: "the service answered 200 without a receipt")
            }
            let replayed: Bool
            if case .bool(let r)? = body["replayed"] { replayed = r } else { replayed = true }
            return .paid(receipt: receipt, replayed: replayed)
        case 202:
            guard let id = body["approvalId"]?.stringValue else { return .refused(code: "invalid_response", message: "202 without approvalId") }
            // A peer's number: NaN, negative or past 2^64 must not trap the seller.
            var expiresAt: UInt64 = 0
            if case .number(let n)? = body["expiresAt"], let exact = UInt64(exactly: n.rounded(.down)) { expiresAt = exact }
            return .held(approvalId: id, expiresAtSeconds: expiresAt)
        default:
            return .refused(code: body["error"]?.stringValue ?? "http_\(answer.status)", message: body["message"]?.stringValue ?? "")
        }
    }
}

/// Verifies through a closure, e.g. a `PaymentService` in the same process.
public struct ClosureVerifier: PaymentVerifier {
    let body: @Sendable (AuthorizationFields) async throws -> VerifierAnswer
    public init(_ body: @escaping @Sendable (AuthorizationFields) async throws -> VerifierAnswer) { self.body = body }
    public func verify(_ authorization: AuthorizationFields) async throws -> VerifierAnswer { try await body(authorization) }
}
