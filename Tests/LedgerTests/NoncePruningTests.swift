import Foundation
import Ledger
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

/// Found by the simulation soak (seed 51): once a nonce is pruned, a new authorization with the
/// same nonce used to collide with the old receipt's confirmation id and fail as internal_error.
@Suite struct NoncePruningTests {
    @Test(arguments: LedgerEngine.allCases) func aPrunedNonceCanBeSignedAgainAsANewPayment(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 450)
        try await f.fund(buyer, 10_000)
        let nonce = Sodium.randomBytes(32)
        // Settled, and a second payer-side hold with another nonce to cover approval ids.
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(100)), authority: .operator("t"))
        let first = f.authorization(buyer, amount: 50, validFor: 60, nonce: nonce)
        let (r1, _) = try #require(settledReceipt(try await f.service.verify(first)))
        let heldNonce = Sodium.randomBytes(32)
        guard case .held(let hold1, _) = try await f.service.verify(f.authorization(buyer, amount: 500, validFor: 60, nonce: heldNonce)) else {
            Issue.record("not held"); return
        }
        _ = try await f.store.decideHold(approvalId: hold1, approve: false, by: "t", reason: nil)

        f.clock.advance(seconds: 60 + 25 * 3_600 + 1)
        #expect(try await f.store.pruneNonces() == 2)

        let again = f.authorization(buyer, amount: 70, validFor: 60, nonce: nonce)
        let (r2, replayed) = try #require(settledReceipt(try await f.service.verify(again)))
        #expect(!replayed && r2.confirmationId != r1.confirmationId)
        #expect(try await f.store.settledPayment(confirmationId: r1.confirmationId)?.amount == Amount(50))
        #expect(try await f.store.settledPayment(confirmationId: r2.confirmationId)?.amount == Amount(70))
        guard case .held(let hold2, _) = try await f.service.verify(f.authorization(buyer, amount: 600, validFor: 60, nonce: heldNonce)) else {
            Issue.record("not held"); return
        }
        #expect(hold2 != hold1)
        #expect(try await f.store.approval(id: hold1).0.status == .rejected)
        #expect(try await f.checkInvariants().isConsistent)
    }
}
