import Foundation
import Ledger
import PostgresLedger
import NanoPayCore
import NanoPayTestSupport
import Testing

/// The storage engine on its own, through the `LedgerStore` protocol only: what any engine must
/// do for the service. Parameterized over the engines (embedded SQLite, and PostgreSQL on a
/// database of its own per test); a new engine adds itself to `engines` and must pass unchanged.
@Suite struct LedgerStoreContractTests {
    static let names = ["sqlite", "postgres"]

    static func withStore(_ name: String, _ body: (any LedgerStore, ManualClock) async throws -> Void) async throws {
        let clock = ManualClock(milliseconds: Fixture.startMilliseconds)
        switch name {
        case "sqlite":
            let dir = TempDirectory(); defer { dir.remove() }
            let store = try Ledger(.init(path: dir.path + "/store.sqlite", clock: clock))
            defer { store.close() }
            try await body(store, clock)
        default:
            let url = try await PostgresTestDatabase.create()
            let store = try await PostgresLedger.open(.forTests(url, clock: clock))
            do {
                try await body(store, clock)
            } catch {
                store.close(); await PostgresTestDatabase.drop(url)
                throw error
            }
            store.close(); await PostgresTestDatabase.drop(url)
        }
    }

    static func request(_ buyer: Buyer, to payee: TONAddress = sellerAddress(), amount: UInt128, nonce: [UInt8] = Sodium.randomBytes(32),
                        clock: ManualClock) -> PaymentRequest {
        let auth = PaymentAuthorization.sign(keyPair: buyer.keys, from: buyer.address, to: payee, amount: Amount(amount),
                                             validBefore: clock.nowSeconds() + 300, nonce: nonce)
        return PaymentRequest(authorization: auth, digest: auth.digest(domain: nil), verifiedPublicKey: buyer.keys.publicKey)
    }

    @Test(arguments: names) func paymentsAreRecordedOnceAndReturnTheirFacts(engine: String) async throws {
        try await Self.withStore(engine) { store, clock in
            let buyer = Buyer(index: 80)
            _ = try await store.deposit(address: buyer.address, amount: 1_000, publicKey: buyer.keys.publicKey, reference: "d1")
            #expect(try await store.publicKey(buyer.address) == buyer.keys.publicKey)
            let r = Self.request(buyer, amount: 300, clock: clock)
            guard case .settled(let facts, replayed: false) = try await store.recordPayment(r, holdTimeoutSeconds: 60) else {
                Issue.record("not settled"); return
            }
            #expect(facts.amount == 300 && facts.remainingBalance == 700 && facts.from == buyer.address && facts.to == sellerAddress())
            #expect(facts.confirmedAtSeconds == clock.nowSeconds() && facts.authorizationDigest == r.digest && facts.nonce == r.authorization.nonce)
            // Identical resubmission: the same facts, replayed. Same nonce, other content: refused.
            #expect(try await store.recordPayment(r, holdTimeoutSeconds: 60) == .settled(facts, replayed: true))
            await expectError(.nonceReused) {
                _ = try await store.recordPayment(Self.request(buyer, amount: 301, nonce: r.authorization.nonce, clock: clock), holdTimeoutSeconds: 60)
            }
            await expectError(.insufficientBalance) { _ = try await store.recordPayment(Self.request(buyer, amount: 701, clock: clock), holdTimeoutSeconds: 60) }
            #expect(try await store.settledPayment(confirmationId: facts.confirmationIdText) == facts)
            #expect(try await store.balance(buyer.address).available == 700)
            #expect(try await store.balance(sellerAddress()).available == 300)
            #expect(store.totals.paymentsSettled == 1 && store.totals.volume == 300)
            let history = try await store.recentPayments(sellerAddress(), limit: 10)
            #expect(history == [PaymentSummary(from: buyer.address, to: sellerAddress(), amount: 300, status: .settled,
                                               createdAtMilliseconds: clock.nowMilliseconds(), confirmationId: facts.confirmationIdText, approvalId: nil)])
            #expect(try await store.recentPayments(buyer.address, limit: 10) == history)
            // Ticket terms are recorded with the payment that buys the ticket: its replays must name
            // them; it is not a plain payment; a plain payment never becomes a ticket purchase.
            let terms = TicketTerms(audience: "a", scope: try TicketScope(parsing: "GET:/x"), lifetimeSeconds: 60)
            let other = TicketTerms(audience: "b", scope: try TicketScope(parsing: "*:/*"), lifetimeSeconds: 3600, uses: 5)
            var purchase = Self.request(buyer, amount: 10, clock: clock)
            purchase.ticketTerms = terms
            guard case .settled(let bought, replayed: false) = try await store.recordPayment(purchase, holdTimeoutSeconds: 60) else { return }
            #expect(try await store.recordPayment(purchase, holdTimeoutSeconds: 60) == .settled(bought, replayed: true))
            var otherTerms = purchase; otherTerms.ticketTerms = other
            await expectError(.ticketTermsConflict) { _ = try await store.recordPayment(otherTerms, holdTimeoutSeconds: 60) }
            var plain = purchase; plain.ticketTerms = nil
            await expectError(.authorizationInUse) { _ = try await store.recordPayment(plain, holdTimeoutSeconds: 60) }
            var late = r; late.ticketTerms = terms
            await expectError(.authorizationInUse) { _ = try await store.recordPayment(late, holdTimeoutSeconds: 60) }
            // A dry run answers without writing.
            let dry = Self.request(buyer, amount: 10, clock: clock)
            guard case .settled = try await store.checkPayment(dry, holdTimeoutSeconds: 60) else { Issue.record("dry run"); return }
            #expect(try await store.balance(buyer.address).available == 690, "700 less the 10-unit ticket purchase")
        }
    }

    /// A group commit answers exactly as the same payments one at a time would: PostgreSQL writes
    /// a batch of plain payments set-based (migration 0003), and every case that path must not
    /// take (a payer short for its whole batch, a payer paid earlier in the batch, a nonce twice,
    /// a policy) must come out as the per-payment rules decide it.
    @Test(arguments: names) func aGroupCommitAnswersAsPaymentsOneAtATime(engine: String) async throws {
        try await Self.withStore(engine) { store, clock in
            let a = Buyer(index: 90), b = Buyer(index: 91), c = Buyer(index: 92)
            for (buyer, amount) in [(a, 100), (b, 10), (c, 30)] {
                _ = try await store.deposit(address: buyer.address, amount: Amount(UInt128(amount)), publicKey: buyer.keys.publicKey,
                                            reference: "g-\(buyer.address.raw)")
            }
            func remaining(_ results: [Result<PaymentRecord, NanoPayError>]) -> [String] {
                results.map { result in
                    switch result {
                    case .success(.settled(let facts, let replayed)): return "\(facts.remainingBalance)\(replayed ? " replayed" : "")"
                    case .success(.held): return "held"
                    case .failure(let error): return error.code.rawValue
                    }
                }
            }
            // Plain: each receipt carries its payer's running balance; the seller is credited once per payment.
            let plain = [Self.request(a, amount: 5, clock: clock), Self.request(b, amount: 4, clock: clock),
                         Self.request(a, amount: 7, clock: clock), Self.request(a, amount: 11, clock: clock)]
            #expect(remaining(await store.recordPayments(plain, holdTimeoutSeconds: 60)) == ["95", "6", "88", "77"])
            #expect(try await store.balance(sellerAddress()).available == 27)
            #expect(store.totals.paymentsSettled == 4 && store.totals.volume == 27)
            let receipts = await store.recordPayments(plain, holdTimeoutSeconds: 60)
            #expect(remaining(receipts) == ["95 replayed", "6 replayed", "88 replayed", "77 replayed"])
            // A payer short for its whole batch: each payment as its turn comes.
            #expect(remaining(await store.recordPayments([Self.request(b, amount: 4, clock: clock), Self.request(b, amount: 3, clock: clock),
                                                          Self.request(b, amount: 1, clock: clock)], holdTimeoutSeconds: 60))
                    == ["2", "insufficient_balance", "1"])
            // A payer paid earlier in the same batch spends what it was paid.
            #expect(remaining(await store.recordPayments([Self.request(a, to: c.address, amount: 20, clock: clock),
                                                          Self.request(c, amount: 25, clock: clock)], holdTimeoutSeconds: 60))
                    == ["57", "25"])
            // One authorization twice in a batch pays once; the second is its replay.
            let twice = Self.request(a, amount: 2, clock: clock)
            #expect(remaining(await store.recordPayments([twice, twice], holdTimeoutSeconds: 60)) == ["55", "55 replayed"])
            // A payee's policy is a rule of every payment to it.
            _ = try await store.setPolicy(address: sellerAddress(), update: PolicyUpdate(maxAmount: .set(3)), authority: .operator("t"))
            #expect(remaining(await store.recordPayments([Self.request(a, amount: 2, clock: clock), Self.request(a, amount: 4, clock: clock)],
                                                         holdTimeoutSeconds: 60)) == ["53", "held"])
            let held = try await store.balance(a.address)
            #expect(held.available == 49 && held.held == 4)
            #expect(store.totals.paymentsSettled == 10 && store.totals.paymentsHeld == 1)
            #expect(try await checkInvariants(store).isConsistent)
        }
    }

    /// A hold that has fallen due is expired by the next batch before its payments: the payer's
    /// receipt in that batch counts the released funds (PostgreSQL's set-based path must not use
    /// the balance it read before the expiry).
    @Test(arguments: names) func aBatchExpiresDueHoldsBeforeItsPayments(engine: String) async throws {
        try await Self.withStore(engine) { store, clock in
            let buyer = Buyer(index: 93)
            _ = try await store.deposit(address: buyer.address, amount: 100, publicKey: buyer.keys.publicKey, reference: "due-1")
            _ = try await store.setPolicy(address: sellerAddress(5), update: PolicyUpdate(maxAmount: .set(10)), authority: .operator("t"))
            guard case .held = try await store.recordPayment(Self.request(buyer, to: sellerAddress(5), amount: 80, clock: clock),
                                                             holdTimeoutSeconds: 60) else { Issue.record("not held"); return }
            clock.advance(seconds: 61)
            guard case .settled(let facts, replayed: false) = try await store.recordPayment(Self.request(buyer, amount: 5, clock: clock),
                                                                                            holdTimeoutSeconds: 60) else {
                Issue.record("not settled"); return
            }
            #expect(facts.remainingBalance == 95)
            let balance = try await store.balance(buyer.address)
            #expect(balance.available == 95 && balance.held == 0)
            #expect(try await checkInvariants(store).isConsistent)
        }
    }

    /// The ledger's volume counter is 128 bits, like every balance: money paid on (a payee that
    /// pays again) cannot take it past 2^128-1. The payment that would is refused and moves nothing.
    @Test(arguments: names) func theVolumeCounterNeverOverflows(engine: String) async throws {
        try await Self.withStore(engine) { store, clock in
            let a = Buyer(index: 94), c = Buyer(index: 95)
            _ = try await store.deposit(address: c.address, amount: 1, publicKey: c.keys.publicKey, reference: "vol-c")
            _ = try await store.deposit(address: a.address, amount: Amount(UInt128.max - 1), publicKey: a.keys.publicKey, reference: "vol-a")
            guard case .settled = try await store.recordPayment(Self.request(a, to: c.address, amount: UInt128.max - 1, clock: clock),
                                                                holdTimeoutSeconds: 60) else { Issue.record("not settled"); return }
            await expectError(.amountOverflow) {
                _ = try await store.recordPayment(Self.request(c, amount: 2, clock: clock), holdTimeoutSeconds: 60)
            }
            #expect(try await store.balance(c.address).available == .max)
            #expect(store.totals.volume == Amount(UInt128.max - 1))
            #expect(try await checkInvariants(store).isConsistent)
        }
    }

    @Test(arguments: names) func reservationsResolveOnceForTheTokenHolder(engine: String) async throws {
        try await Self.withStore(engine) { store, clock in
            let buyer = Buyer(index: 83)
            _ = try await store.deposit(address: buyer.address, amount: 1_000, publicKey: buyer.keys.publicKey, reference: "d1")
            let token = Sodium.sha256([1]), other = Sodium.sha256([2])
            let r = Self.request(buyer, amount: 300, clock: clock)
            guard case .reserved(let id, let expires) = try await store.reservePayment(r, holdTimeoutSeconds: 60, reservationTimeoutSeconds: 30,
                                                                                       captureTokenHash: token) else { Issue.record("not reserved"); return }
            #expect(expires == clock.nowMilliseconds() + 30_000)
            #expect(try await store.balance(buyer.address).held == 300)
            await expectError(.authorizationInUse) { _ = try await store.reservePayment(r, holdTimeoutSeconds: 60, reservationTimeoutSeconds: 30, captureTokenHash: other) }
            await expectError(.authorizationInUse) { _ = try await store.recordPayment(r, holdTimeoutSeconds: 60) }
            await expectError(.forbidden) { _ = try await store.resolveReservation(id: id, captureTokenHash: other, capture: true) }
            guard case .captured(let facts, replayed: false) = try await store.resolveReservation(id: id, captureTokenHash: token, capture: true) else {
                Issue.record("not captured"); return
            }
            #expect(facts.amount == 300 && facts.remainingBalance == 700)
            #expect(try await store.resolveReservation(id: id, captureTokenHash: token, capture: true) == .captured(facts, replayed: true))
            await expectError(.alreadyCaptured) { _ = try await store.resolveReservation(id: id, captureTokenHash: token, capture: false) }
            #expect(try await store.approvals(status: .approved, limit: 10).isEmpty, "reservations are not approvals")
            // Unresolved: it expires with the clock and the funds return.
            guard case .reserved(let id2, _) = try await store.reservePayment(Self.request(buyer, amount: 100, clock: clock), holdTimeoutSeconds: 60,
                                                                              reservationTimeoutSeconds: 30, captureTokenHash: token) else { return }
            clock.advance(seconds: 31)
            try await store.sweepExpiredHolds()
            await expectError(.reservationExpired) { _ = try await store.resolveReservation(id: id2, captureTokenHash: token, capture: true) }
            #expect(try await store.balance(buyer.address).available == 700)
        }
    }

    @Test(arguments: names) func holdsResolveExactlyOnceAndExpireByTheClock(engine: String) async throws {
        try await Self.withStore(engine) { store, clock in
            let buyer = Buyer(index: 81)
            _ = try await store.deposit(address: buyer.address, amount: 1_000, publicKey: buyer.keys.publicKey, reference: "d1")
            _ = try await store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(10)), authority: .operator("t"))
            guard case .held(let id, let expires) = try await store.recordPayment(Self.request(buyer, amount: 50, clock: clock), holdTimeoutSeconds: 60) else {
                Issue.record("not held"); return
            }
            #expect(expires == clock.nowMilliseconds() + 60_000)
            #expect(try await store.balance(buyer.address).held == 50)
            #expect(try await store.pendingApprovalCount() == 1)
            let (approval, posted) = try await store.decideHold(approvalId: id, approve: true, by: "op", reason: nil)
            #expect(approval.status == .approved && posted?.amount == 50)
            // Domain values carry typed addresses, whichever spelling the caller used.
            #expect(approval.from == buyer.address && approval.to == sellerAddress())
            let friendly = try TONAddress(parsing: #require(buyer.address.friendly(bounceable: false)))
            #expect(try await store.balance(friendly).address == buyer.address)
            #expect(try await store.policy(friendly)?.address == buyer.address)
            await expectError(.alreadyApproved) { _ = try await store.decideHold(approvalId: id, approve: false, by: "op", reason: nil) }
            guard case .held(let id2, _) = try await store.recordPayment(Self.request(buyer, amount: 60, clock: clock), holdTimeoutSeconds: 60) else {
                Issue.record("not held"); return
            }
            clock.advance(seconds: 61)
            try await store.sweepExpiredHolds()
            #expect(try await store.approval(id: id2).0.status == .expired)
            #expect(try await store.approvals(status: .expired, limit: 10).map(\.id) == [id2])
            let b = try await store.balance(buyer.address)
            #expect(b.held == 0 && b.available == 950)
        }
    }

    @Test(arguments: names) func depositsAreIdempotentByReferenceAndPoliciesVersioned(engine: String) async throws {
        try await Self.withStore(engine) { store, _ in
            let buyer = Buyer(index: 82)
            _ = try await store.deposit(address: buyer.address, amount: 100, publicKey: buyer.keys.publicKey, reference: "same")
            #expect(try await store.deposit(address: buyer.address, amount: 100, publicKey: nil, reference: "same").available == 100)
            await expectError(.referenceConflict) { _ = try await store.deposit(address: buyer.address, amount: 5, publicKey: nil, reference: "same") }
            let p1 = try await store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(50)), authority: .payer, expectedVersion: 0)
            #expect(p1.version == 1)
            await expectError(.policyConflict) {
                _ = try await store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(40)), authority: .payer, expectedVersion: 0)
            }
            await expectError(.policyNotTighter) {
                _ = try await store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(60)), authority: .payer, expectedVersion: 1)
            }
            #expect(try await store.policy(buyer.address)?.maxAmount == 50)
            let other = Buyer(index: 83)
            #expect(try await store.publicKey(buyer.address) == buyer.keys.publicKey) // now cached
            try await store.rotateKey(address: buyer.address, publicKey: other.keys.publicKey)
            #expect(try await store.publicKey(buyer.address) == other.keys.publicKey, "a rotated key is read back at once")
        }
    }
}
