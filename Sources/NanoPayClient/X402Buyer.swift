import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NanoPayCore

/// A buyer's wallet: its Ed25519 key and its TON address.
public struct BuyerWallet: Sendable {
    public let keys: Ed25519KeyPair
    public let address: TONAddress
    public init(keys: Ed25519KeyPair, address: TONAddress) { self.keys = keys; self.address = address }
}

/// An x402 buyer: on a 402 it picks the first `ton-nanopay` offer within its per-payment
/// maximum, signs an authorization, retries once, and verifies the receipt that comes back.
///
/// Ticket offers (`extra.ticket`): it buys the ticket at the offer's endpoint with the same
/// signed payment, keeps it in `tickets` until it expires, and calls with `Authorization: Bearer`
/// for every request the ticket's scope covers on that origin, paying again only when none does.
///
/// Receipt trust: a receipt is checked against `enclaveKey` when the buyer pinned one (e.g.
/// through `nanopay attest verify`); otherwise against the key the seller advertised in
/// `extra.enclavePublicKey`, which only proves the receipt matches the seller's claim
/// (`receiptTrust` says which).
public struct X402Buyer: Sendable {
    public let wallet: BuyerWallet
    public let maxAmountPerPayment: Amount
    public let enclaveKey: [UInt8]?
    public let timeoutSeconds: Int64
    /// For validBefore and the receipt's freshness.
    public let clock: any NanoClock
    public let tickets: TicketWallet

    public init(wallet: BuyerWallet, maxAmountPerPayment: Amount, enclaveKey: [UInt8]? = nil, timeoutSeconds: Int64 = 30,
                clock: any NanoClock = SystemClock(), tickets: TicketWallet = TicketWallet()) {
        self.wallet = wallet; self.maxAmountPerPayment = maxAmountPerPayment; self.enclaveKey = enclaveKey
        self.timeoutSeconds = timeoutSeconds; self.clock = clock; self.tickets = tickets
    }

    public enum ReceiptTrust: String, Sendable { case pinned, advertised, none }

    public struct Result: Sendable {
        public var status: Int
        public var body: Data
        public var headers: [(String, String)]
        /// The offer paid, if a payment was made.
        public var paid: X402.PaymentRequirements?
        public var settlement: X402.SettleResponse?
        public var receipt: Receipt?
        /// Whether `receipt` verified, and against which key.
        public var receiptVerified: Bool
        public var receiptTrust: ReceiptTrust
        public var paymentRequired: X402.PaymentRequired?
        /// The ticket the request was made with (ticket-mode routes), and whether it was bought
        /// for this request (false: reused from the wallet).
        public var ticket: String? = nil
        public var ticketBought = false
    }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// Picks the first offer this wallet can pay: our scheme, a parseable payee, within the maximum.
    public func choose(_ required: X402.PaymentRequired) -> X402.PaymentRequirements? {
        required.accepts.first { offer in
            guard offer.scheme == X402.scheme, offer.network.hasPrefix("tvm:"),
                  let amount = try? Amount(parsing: offer.amount, allowZero: false), amount <= maxAmountPerPayment,
                  (try? TONAddress(parsing: offer.payTo)) != nil else { return false }
            return true
        }
    }

    /// Signs for `offer`. v2 (bound to network and service) whenever the service's key is known:
    /// the pinned `enclaveKey`, or the offer's `extra.enclavePublicKey`. It never falls back to
    /// v1 silently: an offer whose key is malformed, or differs from the pinned one, is refused.
    /// v1 is signed only when no key is known at all, and only between basechain accounts (v1
    /// does not sign workchains, so the service accepts it on workchain 0 alone).
    public func authorize(_ offer: X402.PaymentRequirements, nowSeconds: UInt64) throws -> AuthorizationFields {
        let to = try TONAddress(parsing: offer.payTo)
        let amount = try Amount(parsing: offer.amount, allowZero: false)
        let validBefore = nowSeconds + UInt64(max(30, min(offer.maxTimeoutSeconds, 300)))
        var serviceKey = enclaveKey
        if let advertised = offer.extra?["enclavePublicKey"] {
            guard let key = advertised.stringValue.flatMap({ Hex.decode($0, byteCount: 32) }) else {
                throw Refusal(description: "the offer's extra.enclavePublicKey is not a 32-byte hex key; refusing to sign")
            }
            if let pinned = enclaveKey, !Sodium.constantTimeEqual(pinned, key) {
                throw Refusal(description: "the offer names service key \(Hex.encode(key)), not the pinned \(Hex.encode(pinned)); refusing to sign")
            }
            serviceKey = key
        }
        if let serviceKey {
            let domain = try PaymentAuthorization.Domain(network: offer.network, serviceId: serviceKey)
            return AuthorizationFields(PaymentAuthorization.sign(keyPair: wallet.keys, from: wallet.address, to: to, amount: amount,
                                                                 validBefore: validBefore, version: .v2, domain: domain))
        }
        guard wallet.address.workchain == 0, to.workchain == 0 else {
            throw Refusal(description: "no service key is known to sign v2, and v1 pays basechain accounts only; pin the service's enclave key")
        }
        return AuthorizationFields(PaymentAuthorization.sign(keyPair: wallet.keys, from: wallet.address, to: to, amount: amount, validBefore: validBefore))
    }

    /// GET `url`, paying once if asked (or with a ticket that covers it).
    public func get(_ url: String) async throws -> Result {
        let (origin, path) = Self.originAndPath(url)
        if let held = tickets.ticket(origin: origin, method: "GET", path: path, nowSeconds: clock.nowSeconds()) {
            var answer = try await fetch(url, paymentHeader: nil, bearer: held.ticket)
            if answer.status != 402 { answer.ticket = held.ticket; return answer }
            tickets.remove(ticket: held.ticket)
        }
        let first = try await fetch(url, paymentHeader: nil)
        guard first.status == 402 else { return first }
        guard let header = first.headers.first(where: { $0.0.lowercased() == "payment-required" })?.1 else {
            throw Refusal(description: "402 without a PAYMENT-REQUIRED header")
        }
        let required = try X402.decodeHeader(X402.PaymentRequired.self, from: header)
        guard let offer = choose(required) else {
            throw Refusal(description: "no offer this wallet can pay within \(maxAmountPerPayment): \(required.accepts.map { "\($0.scheme) \($0.amount)" })")
        }
        let fields = try authorize(offer, nowSeconds: clock.nowSeconds())
        let payload = X402.PaymentPayload(accepted: offer, authorization: fields, resource: required.resource)
        if let ticketOffer = try? TicketOffer.from(extra: offer.extra, payTo: offer.payTo) {
            return try await buyTicketAndCall(url, origin: origin, offer: offer, ticketOffer: ticketOffer, payload: payload, fields: fields)
        }
        var second = try await fetch(url, paymentHeader: X402.encodeHeader(payload))
        second.paid = offer
        if let h = second.headers.first(where: { $0.0.lowercased() == "payment-response" })?.1 {
            second.settlement = try? X402.decodeHeader(X402.SettleResponse.self, from: h)
        }
        if let receiptValue = second.settlement?.extra?["receipt"], let receipt = Receipt(jsonValue: receiptValue) {
            second.receipt = receipt
            (second.receiptVerified, second.receiptTrust) = check(receipt, for: fields, offer: offer)
        }
        if second.status == 402, let h = second.headers.first(where: { $0.0.lowercased() == "payment-required" })?.1 {
            second.paymentRequired = try? X402.decodeHeader(X402.PaymentRequired.self, from: h)
        }
        return second
    }

    /// Buys the ticket with the signed payment, checks the receipt that comes with it like any
    /// receipt, keeps the ticket and calls `url` with it.
    func buyTicketAndCall(_ url: String, origin: String, offer: X402.PaymentRequirements, ticketOffer: TicketOffer,
                          payload: X402.PaymentPayload, fields: AuthorizationFields) async throws -> Result {
        var request = HTTPClientRequest(url: ticketOffer.endpoint)
        request.method = .POST
        request.headers.add(name: X402.paymentSignatureHeader, value: X402.encodeHeader(payload))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeoutSeconds))
        let body = try await response.body.collect(upTo: 1024 * 1024)
        guard response.status == .ok else {
            throw Refusal(description: "the ticket endpoint answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
        struct Bought: Decodable { var ticket: String; var expiresAt: UInt64; var receipt: Receipt }
        let bought = try JSONDecoder().decode(Bought.self, from: Data(buffer: body))
        tickets.add(TicketWallet.Entry(origin: origin, ticket: bought.ticket, scope: ticketOffer.terms.scope.description,
                                       expiresAt: bought.expiresAt), nowSeconds: clock.nowSeconds())
        var answer = try await fetch(url, paymentHeader: nil, bearer: bought.ticket)
        answer.paid = offer
        answer.ticket = bought.ticket
        answer.ticketBought = true
        answer.receipt = bought.receipt
        (answer.receiptVerified, answer.receiptTrust) = check(bought.receipt, for: fields, offer: offer)
        return answer
    }

    /// The same proof a seller checks: signed by the key (pinned, else the one the offer
    /// advertises), and for exactly this authorization and offer (a wide freshness window: the
    /// buyer's clock is not the service's).
    func check(_ receipt: Receipt, for fields: AuthorizationFields, offer: X402.PaymentRequirements) -> (verified: Bool, trust: ReceiptTrust) {
        let advertised = offer.extra?["enclavePublicKey"]?.stringValue.flatMap { Hex.decode($0, byteCount: 32) }
        guard let key = enclaveKey ?? advertised else { return (false, .none) }
        let trusted = TrustedService(enclaveKey: key, network: offer.network, asset: offer.asset)
        let verified = ReceiptCheck(freshnessWindowSeconds: 3_600).verify(receipt, for: fields, offer: offer, trusted: trusted,
                                                                          nowSeconds: clock.nowSeconds()) == nil
        return (verified, enclaveKey != nil ? .pinned : .advertised)
    }

    /// `scheme://host[:port]` and the path of a URL (the ticket wallet's keys).
    static func originAndPath(_ url: String) -> (String, String) {
        guard let u = URLComponents(string: url), let scheme = u.scheme, let host = u.host else { return (url, "/") }
        return ("\(scheme)://\(host)\(u.port.map { ":\($0)" } ?? "")", u.path.isEmpty ? "/" : u.path)
    }

    func fetch(_ url: String, paymentHeader: String?, bearer: String? = nil) async throws -> Result {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        if let paymentHeader { request.headers.add(name: X402.paymentSignatureHeader, value: paymentHeader) }
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeoutSeconds))
        let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Result(status: Int(response.status.code), body: Data(buffer: body), headers: response.headers.map { ($0.name, $0.value) },
                      paid: nil, settlement: nil, receipt: nil, receiptVerified: false, receiptTrust: .none, paymentRequired: nil)
    }
}
