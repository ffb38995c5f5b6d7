import Foundation
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

/// Two-phase payments (reserve, capture or void) at the facade: a gateway charges only for what
/// it delivered, and the buyer, who holds the authorization too, can never get a free response.
@Suite struct ReservationTests {
    static func reserved(_ outcome: ReservationOutcome) throws -> Reservation {
        guard case .reserved(let r) = outcome else { throw NanoPayError(.internalError, "expected a reservation, got \(outcome)") }
        return r
    }

    @Test(arguments: LedgerEngine.allCases) func captureChargesOnceAndVoidChargesNothing(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 130)
        try await f.fund(buyer, 1_000)
        let r = try Self.reserved(try await f.service.reserve(f.authorization(buyer, amount: 300, version: .v2), timeoutSeconds: 60))
        #expect(r.captureToken.count == 64 && r.id.hasPrefix("res_") && r.expiresAtMilliseconds == f.clock.nowMilliseconds() + 60_000)
        var balance = try await f.service.balance(buyer.address)
        #expect(balance.available == 700 && balance.held == 300)
        let (receipt, replayed) = try await f.service.capture(reservationId: r.id, captureToken: r.captureToken)
        #expect(!replayed && receipt.amount == 300 && receipt.verify(pinnedEnclaveKey: f.enclave.publicKey))
        // A retry of the capture is idempotent: same receipt, no second debit.
        let again = try await f.service.capture(reservationId: r.id, captureToken: r.captureToken)
        #expect(again.replayed && again.receipt.confirmationId == receipt.confirmationId)
        balance = try await f.service.balance(buyer.address)
        #expect(balance.available == 700 && balance.held == 0 && balance.totalSpent == 300)
        await expectError(.alreadyCaptured) { _ = try await f.service.void(reservationId: r.id, captureToken: r.captureToken) }

        // Void: the funds come back; retry idempotent; capture afterwards refused.
        let voidedAuth = f.authorization(buyer, amount: 200, version: .v2)
        let v = try Self.reserved(try await f.service.reserve(voidedAuth))
        #expect(try await f.service.void(reservationId: v.id, captureToken: v.captureToken) == false)
        // A voided reservation's authorization is spent: it pays nothing anywhere afterwards.
        await expectError(.authorizationInUse) { _ = try await f.service.verify(voidedAuth) }
        #expect(try await f.service.void(reservationId: v.id, captureToken: v.captureToken) == true)
        await expectError(.alreadyVoided) { _ = try await f.service.capture(reservationId: v.id, captureToken: v.captureToken) }
        balance = try await f.service.balance(buyer.address)
        #expect(balance.available == 700 && balance.held == 0)
        #expect(try await f.checkInvariants().isConsistent)
        // Reservations are not approvals: the operators' queue never shows them.
        let pending = try await f.service.approvals(status: .pending), rejected = try await f.service.approvals(status: .rejected)
        #expect(pending.isEmpty && rejected.isEmpty)
    }

    /// Everything the buyer can compute, it can compute: the reservation id (`res_` + hash) and
    /// the authorization. None of it captures or voids; only the token does.
    @Test(arguments: LedgerEngine.allCases) func nothingTheBuyerCanComputeCapturesOrVoids(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 131)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 300, version: .v2)
        let r = try Self.reserved(try await f.service.reserve(auth))
        for guess in [String(repeating: "0", count: 64), Hex.encode(Sodium.sha256(Array(r.id.utf8))), auth.signature.prefix(64).description,
                      Hex.encode(Sodium.randomBytes(32))] {
            await expectError(.forbidden) { _ = try await f.service.capture(reservationId: r.id, captureToken: guess) }
            await expectError(.forbidden) { _ = try await f.service.void(reservationId: r.id, captureToken: guess) }
        }
        await expectError(.invalidRequest) { _ = try await f.service.capture(reservationId: r.id, captureToken: "short") }
        await expectError(.reservationNotFound) { _ = try await f.service.capture(reservationId: "res_000000000000000000000000", captureToken: r.captureToken) }
        // The buyer presents the reserved authorization elsewhere: /verify and a second reserve
        // are refused, and no one learns the token.
        await expectError(.authorizationInUse) { _ = try await f.service.verify(auth) }
        await expectError(.authorizationInUse) { _ = try await f.service.reserve(auth) }
        await expectError(.authorizationInUse) { _ = try await f.service.check(auth) }
        // An operator cannot approve or reject it as if it were a hold for a human.
        await expectError(.approvalNotFound) { _ = try await f.service.decide(approvalId: r.id, approve: true, by: "op", reason: nil) }
        await expectError(.approvalNotFound) { _ = try await f.service.approval(id: r.id) }
        let balance = try await f.service.balance(buyer.address)
        #expect(balance.available == 700 && balance.held == 300 && balance.totalSpent == 0)
        // A pending reservation is not in the operators' queue or its count.
        #expect(try await f.service.approvals(status: .pending).isEmpty && f.store.totals.paymentsHeld == 0)
        #expect(try await f.service.snapshot().pendingApprovals == 0)
        // After capture, verify answers the receipt as a replay (the capture served it).
        _ = try await f.service.capture(reservationId: r.id, captureToken: r.captureToken)
        guard case .settled(_, let replayed) = try await f.service.verify(auth) else { Issue.record("not settled"); return }
        #expect(replayed)
    }

    /// A buyer who reserves its own authorization first blocks only its own request: the
    /// gateway's reserve gets 409 and no token, so it forwards nothing.
    @Test(arguments: LedgerEngine.allCases) func aBuyerReservingFirstOnlyBlocksItself(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 132)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 300, version: .v2)
        let settled = f.authorization(buyer, amount: 100, version: .v2)
        _ = try await f.service.verify(settled)
        await expectError(.authorizationInUse) { _ = try await f.service.reserve(settled) }
        let buyersOwn = try Self.reserved(try await f.service.reserve(auth))
        await expectError(.authorizationInUse) { _ = try await f.service.reserve(auth) }
        // 16 concurrent reserves of one fresh authorization: exactly one token.
        let fresh = f.authorization(buyer, amount: 50, version: .v2)
        let service = f.service
        let tokens = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<16 { group.addTask { (try? Self.reserved(try await service.reserve(fresh)))?.captureToken } }
            return await group.reduce(into: [String]()) { if let t = $1 { $0.append(t) } }
        }
        #expect(tokens.count == 1)
        _ = try await f.service.void(reservationId: buyersOwn.id, captureToken: buyersOwn.captureToken)
        #expect(try await f.service.balance(buyer.address).available == Amount(1_000 - 100 - 50))
    }

    /// Unresolved reservations expire and give the funds back (a gateway killed between reserve
    /// and capture); an expired one can no longer be captured.
    @Test(arguments: LedgerEngine.allCases) func reservationsExpireAndReturnTheFunds(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 133)
        try await f.fund(buyer, 1_000)
        let a = try Self.reserved(try await f.service.reserve(f.authorization(buyer, amount: 300, version: .v2), timeoutSeconds: 30))
        let b = try Self.reserved(try await f.service.reserve(f.authorization(buyer, amount: 200, version: .v2), timeoutSeconds: 30))
        let expiredAuth = f.authorization(buyer, amount: 10, version: .v2)
        _ = try Self.reserved(try await f.service.reserve(expiredAuth, timeoutSeconds: 30))
        f.clock.advance(seconds: 31)
        await expectError(.reservationExpired) { _ = try await f.service.capture(reservationId: a.id, captureToken: a.captureToken) }
        await expectError(.authorizationInUse) { _ = try await f.service.verify(expiredAuth) }
        try await f.store.sweepExpiredHolds()
        await expectError(.reservationExpired) { _ = try await f.service.void(reservationId: b.id, captureToken: b.captureToken) }
        let balance = try await f.service.balance(buyer.address)
        #expect(balance.available == 1_000 && balance.held == 0 && balance.totalSpent == 0)
        #expect(try await f.checkInvariants().isConsistent)
        #expect(try await f.service.approvals(status: .expired).isEmpty, "expired reservations are not expired approvals")
        // A buyer's short validBefore cannot cut a reservation short under the gateway: it is
        // refused, nothing is held, and the same authorization works for a short reservation.
        let short = f.authorization(buyer, amount: 10, validFor: 5, version: .v2)
        await expectError(.authorizationExpiresTooSoon) { _ = try await f.service.reserve(short, timeoutSeconds: 600) }
        #expect(try await f.service.balance(buyer.address).held == 0)
        let fits = try Self.reserved(try await f.service.reserve(short, timeoutSeconds: 5))
        #expect(fits.expiresAtMilliseconds == (f.nowSeconds + 5) * 1000)
    }

    /// Human approval still takes precedence: policy holds the payment, no reservation is made.
    @Test(arguments: LedgerEngine.allCases) func policyHoldsTakePrecedence(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 134)
        try await f.fund(buyer, 1_000)
        _ = try await f.service.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(100)), by: "t")
        guard case .held(let id, _) = try await f.service.reserve(f.authorization(buyer, amount: 300, version: .v2)) else {
            Issue.record("not held"); return
        }
        #expect(try await f.service.approvals(status: .pending).map(\.id) == [id])
        // A hold for a human is not a reservation: no capture token resolves it.
        await expectError(.reservationNotFound) { _ = try await f.service.capture(reservationId: id, captureToken: String(repeating: "ab", count: 32)) }
        await expectError(.reservationNotFound) { _ = try await f.service.void(reservationId: id, captureToken: String(repeating: "ab", count: 32)) }
        await expectError(.invalidRequest) { _ = try await f.service.reserve(f.authorization(buyer, amount: 1, version: .v2), timeoutSeconds: 0) }
        await expectError(.insufficientBalance) { _ = try await f.service.reserve(f.authorization(buyer, amount: 90_000, version: .v2)) }
    }
}
