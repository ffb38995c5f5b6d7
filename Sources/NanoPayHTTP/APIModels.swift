import Hummingbird
import NanoPayCore

/// Response bodies of the HTTP contract. Times are unix seconds; amounts decimal strings.
struct VerifySuccessBody: Encodable {
    var success = true
    var confirmationId: String
    var remainingBalance: Amount
    var replayed: Bool
    var receipt: Receipt

    /// The body of every successful `/verify`, written by hand: it is the hot path's answer, and
    /// this is byte-for-byte what the sorted `JSONEncoder` writes (`VerifyContractTests`).
    var json: [UInt8] {
        var w = JSONWriter(capacity: 1_024)
        write(to: &w)
        return w.bytes
    }

    func write(to w: inout JSONWriter) {
        w.raw("{\"confirmationId\":"); w.quoted(confirmationId)
        w.raw(",\"receipt\":"); receipt.writeCanonicalJSON(to: &w)
        w.raw(",\"remainingBalance\":"); w.quoted(remainingBalance)
        w.raw(",\"replayed\":"); w.bool(replayed)
        w.raw(",\"success\":"); w.bool(success)
        w.raw("}")
    }
}

struct ApprovalRequiredBody: Encodable {
    var success = false
    var error = "approval_required"
    var message = "payment held for human approval"
    var approvalId: String
    var expiresAt: UInt64

    /// A hold's answer: milliseconds inside, unix seconds on the wire.
    init(approvalId: String, expiresAtMilliseconds: UInt64) {
        self.approvalId = approvalId; expiresAt = expiresAtMilliseconds / 1000
    }

    /// 202, as `/verify`, `/tickets` and `/reservations` answer a payment policy holds.
    static func response(approvalId: String, expiresAtMilliseconds: UInt64) -> Response {
        JSONResponse.make(ApprovalRequiredBody(approvalId: approvalId, expiresAtMilliseconds: expiresAtMilliseconds), status: .accepted)
    }
}

/// `GET /accounts/{address}/payments`: times in unix seconds, as everywhere on the wire.
struct PaymentHistoryBody: Encodable {
    struct Entry: Encodable {
        var from: TONAddress
        var to: TONAddress
        var amount: Amount
        var status: PaymentStatus
        var createdAt: UInt64
        var confirmationId: String?
        var approvalId: String?
    }
    var address: TONAddress
    var payments: [Entry]

    init(address: TONAddress, payments: [PaymentSummary]) {
        self.address = address
        self.payments = payments.map {
            Entry(from: $0.from, to: $0.to, amount: $0.amount, status: $0.status, createdAt: $0.createdAtMilliseconds / 1000,
                  confirmationId: $0.confirmationId, approvalId: $0.approvalId)
        }
    }
}

struct ApprovalBody: Encodable {
    var id: String
    var from: TONAddress
    var to: TONAddress
    var amount: Amount
    var status: String
    var reason: String
    var requestedAt: UInt64
    var expiresAt: UInt64
    var decidedBy: String?
    var decidedAt: UInt64?
    var decisionReason: String?
    var confirmationId: String?
    var receipt: Receipt?

    init(_ a: Approval, receipt: Receipt? = nil) {
        id = a.id; from = a.from; to = a.to; amount = a.amount; status = a.status.rawValue; reason = a.reason
        requestedAt = a.requestedAtMilliseconds / 1000; expiresAt = a.expiresAtMilliseconds / 1000; decidedBy = a.decidedBy
        decidedAt = a.decidedAtMilliseconds.map { $0 / 1000 }; decisionReason = a.decisionReason; confirmationId = a.confirmationId
        self.receipt = receipt
    }
}

struct PolicyBody: Encodable {
    var address: TONAddress
    var maxAmount: Amount?
    var rateLimit: UInt32?
    var rateBurst: UInt32?
    var dailyCap: Amount?
    var updatedAt: UInt64
    var updatedBy: String
    var version: UInt64
    init(_ p: Policy) {
        address = p.address; maxAmount = p.maxAmount; rateLimit = p.rateLimit; rateBurst = p.rateBurst
        dailyCap = p.dailyCap; updatedAt = p.updatedAtMilliseconds / 1000; updatedBy = p.updatedBy; version = p.version
    }
}

struct DepositRequest: Decodable {
    var address: String
    var amount: String
    var publicKey: String?
    var reference: String
}

struct WithdrawalRequest: Decodable {
    var address: String
    var amount: String
    var reference: String
}

struct KeyRotationRequest: Decodable {
    var address: String
    var publicKey: String
}

struct DecisionRequest: Decodable {
    var reason: String?
}

struct HealthBody: Encodable {
    var status: String
    var storage: String
    var enclavePublicKey: String
    var network: String
    var asset: String
}
