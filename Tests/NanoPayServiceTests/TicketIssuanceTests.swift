import Foundation
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

/// Buying tickets at the facade: one authorization buys one ticket, for one set of terms, once.
@Suite struct TicketIssuanceTests {
    static func offer(_ f: Fixture, amount: String = "500", payTo: TONAddress = sellerAddress(), scope: String = "GET:/api/report/*",
                      audience: String? = "report-api", lifetimeSeconds: Double? = 120, uses: Double? = nil,
                      network: String? = nil) -> X402.PaymentRequirements {
        var ticket: [String: JSONValue] = ["endpoint": .string("http://127.0.0.1/tickets"), "scope": .string(scope)]
        if let audience { ticket["audience"] = .string(audience) }
        if let lifetimeSeconds { ticket["lifetimeSeconds"] = .number(lifetimeSeconds) }
        if let uses { ticket["uses"] = .number(uses) }
        return X402.PaymentRequirements(network: network ?? f.service.configuration.network, asset: f.service.configuration.asset,
                                        amount: amount, payTo: payTo.raw, extra: ["ticket": .object(ticket)])
    }

    static func payload(_ fields: AuthorizationFields, _ offer: X402.PaymentRequirements) -> X402.PaymentPayload {
        X402.PaymentPayload(accepted: offer, authorization: fields)
    }

    static func issued(_ outcome: TicketOutcome) throws -> IssuedTicket {
        guard case .issued(let t) = outcome else { throw NanoPayError(.internalError, "expected a ticket, got \(outcome)") }
        return t
    }

    @Test(arguments: LedgerEngine.allCases) func aTicketStatesWhoPaidHowMuchToWhomForWhatAndHowLong(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 90)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 500, version: .v2)
        let first = try Self.issued(try await f.service.buyTicket(Self.payload(auth, Self.offer(f))))
        let c = first.claims
        #expect(c.iss == Hex.encode(f.enclave.publicKey) && c.sub == buyer.address.raw && c.aud == "report-api")
        #expect(c.scope == "GET:/api/report/*" && c.amt == "500" && c.asset == "USDT" && c.uses == nil && c.payTo == sellerAddress().raw)
        #expect(c.iat == f.nowSeconds && c.nbf == c.iat && c.exp == c.iat + 120 && c.jti == first.receipt.confirmationId)
        #expect(!first.replayed && first.receipt.verify(pinnedEnclaveKey: f.enclave.publicKey))
        // Signed by the ticket key, and by it only.
        let parts = first.ticket.split(separator: ".").map(String.init)
        let signature = try #require(Base64.decode(parts[2], urlSafeAllowed: true))
        #expect(Sodium.ed25519Verify(signature: signature, message: Array((parts[0] + "." + parts[1]).utf8), publicKey: f.enclave.ticketPublicKey))
        #expect(try await f.service.balance(buyer.address).available == 500)

        // A replay (a lost answer) gets the very same ticket and is not charged again.
        f.clock.advance(seconds: 10)
        let again = try Self.issued(try await f.service.buyTicket(Self.payload(auth, Self.offer(f))))
        #expect(again.ticket == first.ticket && again.replayed)
        #expect(try await f.service.balance(buyer.address).available == 500)
    }

    /// Pay once, ask again with wider terms: refused, and nothing is charged.
    @Test(arguments: LedgerEngine.allCases) func oneAuthorizationNeverBuysTicketsForTwoSetsOfTerms(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 91)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 500, version: .v2)
        let first = try Self.issued(try await f.service.buyTicket(Self.payload(auth, Self.offer(f))))
        for other in [Self.offer(f, scope: "*:/*"), Self.offer(f, audience: "other-api"), Self.offer(f, lifetimeSeconds: 3600),
                      Self.offer(f, uses: 1_000)] {
            await expectError(.ticketTermsConflict) { _ = try await f.service.buyTicket(Self.payload(auth, other)) }
        }
        #expect(try await f.service.balance(buyer.address).available == 500)
        #expect(try Self.issued(try await f.service.buyTicket(Self.payload(auth, Self.offer(f)))).ticket == first.ticket)
    }

    /// An authorization spent on a per-request route (or through the facilitator, or captured by
    /// a gateway) never becomes a ticket afterwards, and a ticket purchase is not a plain payment:
    /// pay once, be served once.
    @Test(arguments: LedgerEngine.allCases) func aSpentAuthorizationNeverBecomesATicketAndTheReverse(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 97)
        try await f.fund(buyer, 10_000)
        // Paid and served by a seller through /verify, then presented to /tickets.
        let spent = f.authorization(buyer, amount: 500, version: .v2)
        _ = try await f.service.verify(spent)
        await expectError(.authorizationInUse) { _ = try await f.service.buyTicket(Self.payload(spent, Self.offer(f))) }
        // Captured by a gateway, then presented to /tickets.
        guard case .reserved(let r) = try await f.service.reserve(f.authorization(buyer, amount: 500, version: .v2)) else { return }
        let captured = f.authorization(buyer, amount: 500, version: .v2)
        guard case .reserved(let r2) = try await f.service.reserve(captured) else { return }
        _ = try await f.service.capture(reservationId: r2.id, captureToken: r2.captureToken)
        await expectError(.authorizationInUse) { _ = try await f.service.buyTicket(Self.payload(captured, Self.offer(f))) }
        _ = try await f.service.void(reservationId: r.id, captureToken: r.captureToken)
        // A ticket purchase presented to a per-request seller (verify) or to a dry run.
        let bought = f.authorization(buyer, amount: 500, version: .v2)
        _ = try Self.issued(try await f.service.buyTicket(Self.payload(bought, Self.offer(f))))
        await expectError(.authorizationInUse) { _ = try await f.service.verify(bought) }
        await expectError(.authorizationInUse) { _ = try await f.service.check(bought) }
        #expect(try await f.service.balance(buyer.address).available == Amount(10_000 - 500 - 500 - 500))
    }

    /// Sixteen concurrent purchases with one authorization and different terms: one set of terms
    /// wins, everyone who gets a ticket gets that one, one debit.
    @Test(arguments: LedgerEngine.allCases) func concurrentPurchasesBindOneSetOfTerms(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 92)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 500, version: .v2)
        let service = f.service
        let offers = (0..<16).map { Self.offer(f, scope: "GET:/api/report/\($0)") }
        let tickets = await withTaskGroup(of: String?.self) { group in
            for offer in offers {
                group.addTask { (try? Self.issued(try await service.buyTicket(Self.payload(auth, offer))))?.ticket }
            }
            return await group.reduce(into: [String]()) { if let t = $1 { $0.append(t) } }
        }
        #expect(!tickets.isEmpty && Set(tickets).count == 1)
        #expect(try await f.service.balance(buyer.address).available == 500)
    }

    @Test(arguments: LedgerEngine.allCases) func offersThatDoNotMatchThePaymentAreRefused(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 93)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 500, version: .v2)
        var noTicket = Self.offer(f); noTicket.extra = nil
        for bad in [Self.offer(f, amount: "499"), Self.offer(f, payTo: sellerAddress(1)), Self.offer(f, network: "tvm:-3"), noTicket,
                    Self.offer(f, lifetimeSeconds: 3601), Self.offer(f, lifetimeSeconds: 0), Self.offer(f, lifetimeSeconds: 1.5),
                    Self.offer(f, uses: 0), Self.offer(f, scope: "get:/x"), Self.offer(f, scope: "GET:relative"),
                    Self.offer(f, scope: "GET:/a*b"), Self.offer(f, scope: ""), Self.offer(f, audience: "two words")] {
            await expectError(.invalidRequest) { _ = try await f.service.buyTicket(Self.payload(auth, bad)) }
        }
        var noOffer = Self.payload(auth, Self.offer(f)); noOffer.accepted = nil
        await expectError(.invalidRequest) { _ = try await f.service.buyTicket(noOffer) }
        #expect(try await f.service.balance(buyer.address).available == 1_000, "nothing was charged")
    }

    /// A held payment buys its ticket once a human approves it: the buyer retries the same
    /// authorization.
    @Test(arguments: LedgerEngine.allCases) func aHeldPaymentBuysItsTicketOnceApproved(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 94)
        try await f.fund(buyer, 1_000)
        _ = try await f.service.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(100)), by: "t")
        let auth = f.authorization(buyer, amount: 500, version: .v2)
        guard case .held(let id, _) = try await f.service.buyTicket(Self.payload(auth, Self.offer(f))) else {
            Issue.record("not held"); return
        }
        _ = try await f.service.decide(approvalId: id, approve: true, by: "op", reason: nil)
        let ticket = try Self.issued(try await f.service.buyTicket(Self.payload(auth, Self.offer(f))))
        #expect(ticket.claims.amt == "500" && ticket.claims.sub == buyer.address.raw)
        #expect(try await f.service.balance(buyer.address).available == 500)
    }
}
