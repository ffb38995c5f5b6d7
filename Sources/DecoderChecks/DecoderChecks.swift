import Foundation
import NanoPayCore

/// One check per decoder that sees outside bytes: any input must be answered with a value or an
/// error, never a trap, and what decodes must round-trip. The libFuzzer targets in `Fuzz/` run
/// these on generated inputs; `FuzzCorpusTests` replays the committed corpus and every crash
/// ever found (`Fuzz/Regressions/`) in the normal test suite.
public enum DecoderChecks {
    /// A decoder broke its contract on an input (a round trip failed). The fuzz targets crash on
    /// it, so libFuzzer records the input; `FuzzCorpusTests` records it as a test failure.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    static func require(_ condition: Bool, _ what: @autoclosure () -> String) throws(Failure) {
        if !condition { throw Failure(description: what()) }
    }

    /// Runs a step that must not throw on input that already decoded once.
    static func must<T>(_ what: String, _ body: () throws -> T) throws(Failure) -> T {
        do { return try body() } catch { throw Failure(description: "\(what): \(error)") }
    }

    /// By fuzz target name (the corpus directory names).
    public static let all: [String: @Sendable (Data) throws -> Void] = [
        "FuzzAmount": amount,
        "FuzzAttestationQuote": attestationQuote,
        "FuzzPolicyRequest": policyRequest,
        "FuzzReceipt": receipt,
        "FuzzTONAddress": tonAddress,
        "FuzzTicketOffer": ticketOffer,
        "FuzzVerifyBatch": verifyBatch,
        "FuzzVerifyRequest": verifyRequest,
        "FuzzX402PaymentRequired": x402PaymentRequired,
        "FuzzX402PaymentResponse": x402PaymentResponse,
        "FuzzX402PaymentSignature": x402PaymentSignature,
    ]

    /// Decimal amounts and their 16-byte storage form.
    public static func amount(_ data: Data) throws {
        let text = String(decoding: data, as: UTF8.self)
        if let amount = try? Amount(parsing: text) {
            try require(try must("amount re-parse") { try Amount(parsing: amount.description) } == amount, "amount does not round-trip")
            try require(Amount(bigEndianBytes: amount.bigEndianBytes) == amount, "amount storage form does not round-trip")
            _ = amount.adding(amount); _ = amount.subtracting(.max)
        }
        if let stored = Amount(bigEndianBytes: [UInt8](data)) {
            try require(stored.bigEndianBytes == [UInt8](data), "storage form does not round-trip")
        }
    }

    /// Attestation quotes, through the full verifier.
    public static func attestationQuote(_ data: Data) throws {
        guard let quote = try? JSONDecoder().decode(AttestationQuote.self, from: data) else { return }
        // The golden vector's root, nonce and time, so mutated real quotes reach the deep checks.
        let policy = QuoteVerifier.Policy(pinnedRoot: "04a17a26e2c210ce5c490df02194d0a2e1eeeb9ee6f429796b0ad6fc5cb8e5f64e41aa7be58921c98b879dcb2fbad8602c2f275460311756187e55aaa59de2355b4e37958a535879534b0ffd25cd6dd9f604e4497006a5b1f6ee021c30c283974a",
                                          expectedNonce: "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", allowSoftware: true, now: 1795469776)
        _ = try? QuoteVerifier(policy: policy).verify(quote)
        _ = quote.claims.canonicalBytes()
        _ = quote.claims.reportData()
    }

    /// `POST /policy` bodies, operator and payer-signed.
    public static func policyRequest(_ data: Data) throws {
        guard let request = try? PolicyRequest.parse(data) else { return }
        func value<V>(_ u: FieldUpdate<V>) -> V? { if case .set(let v) = u { return v }; return nil }
        guard let domain = try? PaymentAuthorization.Domain(network: "tvm:-239", serviceId: [UInt8](repeating: 1, count: 32)) else { return }
        _ = PolicyTightening.message(domain: domain, address: request.address, version: request.payerSignature?.version ?? 0,
                                     maxAmount: value(request.maxAmount), rateLimit: value(request.rateLimit),
                                     dailyCap: value(request.dailyCap), validBefore: request.payerSignature?.validBefore ?? 0)
    }

    /// Receipts as sellers receive them.
    public static func receipt(_ data: Data) throws {
        guard let receipt = try? JSONDecoder().decode(Receipt.self, from: data) else { return }
        _ = receipt.signingBytes()
        if let key = Hex.decode("5440e0b381c1b9c9f37bb53b5e171a6ca86e7d11c527511c207119bdf39777f7", byteCount: 32) { _ = receipt.verify(pinnedEnclaveKey: key) }
    }

    /// TON addresses, raw and user-friendly.
    public static func tonAddress(_ data: Data) throws {
        let text = String(decoding: data, as: UTF8.self)
        guard let address = try? TONAddress(parsing: text) else { return }
        try require(try must("raw re-parse") { try TONAddress(parsing: address.raw) } == address, "raw form does not round-trip")
        for bounceable in [true, false] {
            for testnet in [true, false] {
                for urlSafe in [true, false] {
                    guard let friendly = address.friendly(bounceable: bounceable, testnet: testnet, urlSafe: urlSafe) else { continue }
                    try require(try must("friendly re-parse") { try TONAddress(parsing: friendly) } == address, "friendly form does not round-trip")
                }
            }
        }
    }

    /// A ticket offer's `extra` (a buyer may present any offer to `/tickets`) and ticket scopes:
    /// what parses must round-trip through the form nanopayd writes into tickets.
    public static func ticketOffer(_ data: Data) throws {
        if data.count <= 4096, let scope = try? TicketScope(parsing: String(decoding: data, as: UTF8.self)) {
            try require(try must("scope re-parse") { try TicketScope(parsing: scope.description) } == scope, "ticket scope does not round-trip")
        }
        let payTo = "0:" + String(repeating: "ab", count: 32)
        guard let extra = try? JSONDecoder().decode([String: JSONValue].self, from: data),
              let offer = try? TicketOffer.from(extra: extra, payTo: payTo) else { return }
        let again = try must("offer re-read") { try TicketOffer.from(extra: [TicketOffer.extraKey: offer.json], payTo: payTo) }
        try require(again == offer, "ticket offer does not round-trip")
    }

    /// `POST /verify/batch` envelope.
    public static func verifyBatch(_ data: Data) throws {
        guard let items = try? RequestDecoding.verifyBatch(data, itemsMax: 256) else { return }
        try require((1...256).contains(items.count), "batch size \(items.count) outside 1...256")
        for case .success(let fields) in items { _ = try? fields.validated() }
    }

    /// Verify request JSON (`POST /verify`).
    public static func verifyRequest(_ data: Data) throws {
        guard let (fields, auth) = try? RequestDecoding.verifyRequest(data) else { return }
        // What decodes must re-encode and decode to the same authorization, and hash without trapping.
        let again = try must("verify request re-decode") { try RequestDecoding.verifyRequest(try JSONEncoder().encode(fields)) }
        try require(again.authorization == auth, "verify request does not round-trip")
        // v2 binds a domain (the service passes its own); v1 has none.
        _ = auth.digest(domain: auth.version == .v2 ? try? .init(network: "tvm:-239", serviceId: [UInt8](repeating: 1, count: 32)) : nil)
    }

    /// The x402 `PAYMENT-REQUIRED` header.
    public static func x402PaymentRequired(_ data: Data) throws {
        let header = String(decoding: data, as: UTF8.self)
        guard let value = try? X402.decodeHeader(X402.PaymentRequired.self, from: header) else { return }
        try require(try must("header re-decode") { try X402.decodeHeader(X402.PaymentRequired.self, from: X402.encodeHeader(value)) } == value, "header does not round-trip")
    }

    /// The x402 `PAYMENT-RESPONSE` header (a settlement).
    public static func x402PaymentResponse(_ data: Data) throws {
        let header = String(decoding: data, as: UTF8.self)
        guard let value = try? X402.decodeHeader(X402.SettleResponse.self, from: header) else { return }
        try require(try must("header re-decode") { try X402.decodeHeader(X402.SettleResponse.self, from: X402.encodeHeader(value)) } == value, "header does not round-trip")
    }

    /// The x402 `PAYMENT-SIGNATURE` header (a buyer's payload).
    public static func x402PaymentSignature(_ data: Data) throws {
        let header = String(decoding: data, as: UTF8.self)
        guard let payload = try? X402.decodeHeader(X402.PaymentPayload.self, from: header) else { return }
        if let fields = try? payload.authorizationFields() { _ = try? fields.validated() }
        _ = X402.encodeHeader(payload)
    }

}
