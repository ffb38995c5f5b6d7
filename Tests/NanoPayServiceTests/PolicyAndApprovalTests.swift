import Foundation
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing


@Suite struct PolicyAndApprovalTests {
    @Test(arguments: LedgerEngine.allCases) func rateLimitIsGCRAWithExactRetryAndConsumesNothing(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 10)
        try await f.fund(buyer, 1_000)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(rateLimit: .set(2)), authority: .operator("t"))
        _ = try await f.service.verify(f.authorization(buyer, amount: 1))
        _ = try await f.service.verify(f.authorization(buyer, amount: 1))
        let third = f.authorization(buyer, amount: 1)
        do { _ = try await f.service.verify(third); Issue.record("not limited") } catch {
            #expect((error as? NanoPayError)?.code == .rateLimited)
            #expect((error as? NanoPayError)?.retryAfterSeconds == 30)
        }
        f.clock.advance(seconds: 30)
        // The limited authorization was not consumed: it goes through now.
        #expect(settledReceipt(try await f.service.verify(third)) != nil)
        // Payee limits apply too.
        _ = try await f.store.setPolicy(address: sellerAddress(), update: PolicyUpdate(rateLimit: .set(1), rateBurst: .set(1)), authority: .operator("t"))
        f.clock.advance(seconds: 3600)
        _ = try await f.service.verify(f.authorization(buyer, amount: 1))
        await expectError(.rateLimited) { _ = try await f.service.verify(f.authorization(buyer, amount: 1)) }
    }

    @Test(arguments: LedgerEngine.allCases) func maxAmountHoldsAndApprovalPostsExactlyOnce(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 11)
        try await f.fund(buyer, 1_000)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(Amount(100))), authority: .operator("t"))
        let auth = f.authorization(buyer, amount: 500)
        let id = try #require(heldId(try await f.service.verify(auth)))
        #expect(try heldId(await f.service.verify(auth)) == id) // same hold, not a new one
        var b = try await f.store.balance(buyer.address)
        #expect(b.available == Amount(500) && b.held == Amount(500))
        guard case .decided(let approval, let receipt) = try await f.service.decide(approvalId: id, approve: true, by: "alice", reason: "known customer") else {
            Issue.record("not decided"); return
        }
        #expect(approval.status == .approved && approval.decidedBy == "alice" && approval.decisionReason == "known customer")
        let r = try #require(receipt)
        #expect(r.verify(pinnedEnclaveKey: f.enclave.publicKey))
        b = try await f.store.balance(buyer.address)
        #expect(b.available == Amount(500) && b.held == .zero && b.totalSpent == Amount(500))
        // First verify after approval serves the buyer (not replayed), later ones are replays.
        let (first, replayed1) = try #require(settledReceipt(try await f.service.verify(auth)))
        let (_, replayed2) = try #require(settledReceipt(try await f.service.verify(auth)))
        #expect(first == r && !replayed1 && replayed2)
        await expectError(.alreadyApproved) { _ = try await f.store.decideHold(approvalId: id, approve: false, by: "bob", reason: nil) }
        await expectError(.approvalNotFound) { _ = try await f.store.decideHold(approvalId: "apr_nope", approve: true, by: "bob", reason: nil) }
        #expect(try await f.checkInvariants().isConsistent)
    }

    @Test(arguments: LedgerEngine.allCases) func rejectionVoidsAndExpiryVoidsByClock(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 12)
        try await f.fund(buyer, 1_000)
        _ = try await f.store.setPolicy(address: sellerAddress(), update: PolicyUpdate(maxAmount: .set(Amount(10))), authority: .operator("t"))
        let rejected = f.authorization(buyer, amount: 100, validFor: 3_600)
        let id1 = try #require(heldId(try await f.service.verify(rejected)))
        _ = try await f.store.decideHold(approvalId: id1, approve: false, by: "alice", reason: "no")
        await expectError(.approvalRejected) { _ = try await f.service.verify(rejected) }
        await expectError(.alreadyRejected) { _ = try await f.store.decideHold(approvalId: id1, approve: true, by: "alice", reason: nil) }

        let expiring = f.authorization(buyer, amount: 200, validFor: 3_600)
        let id2 = try #require(heldId(try await f.service.verify(expiring)))
        #expect(try await f.store.balance(buyer.address).held == Amount(200))
        f.clock.advance(seconds: 300)
        #expect(try await f.store.approval(id: id2).0.status == .expired) // on read
        try await f.store.sweepExpiredHolds()
        let b = try await f.store.balance(buyer.address)
        #expect(b.available == Amount(1_000) && b.held == .zero)
        await expectError(.approvalExpired) { _ = try await f.store.decideHold(approvalId: id2, approve: true, by: "alice", reason: nil) }
        await expectError(.approvalExpired) { _ = try await f.service.verify(expiring) }
        #expect(try await f.store.approvals(status: .expired, limit: 500).map(\.id) == [id2])
        #expect(try await f.store.approvals(status: .rejected, limit: 500).map(\.id) == [id1])
        #expect(try await f.checkInvariants().isConsistent)
    }

    @Test(arguments: LedgerEngine.allCases) func holdNeverOutlivesTheAuthorization(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 13)
        try await f.fund(buyer, 1_000)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(Amount(1))), authority: .operator("t"))
        guard case .held(_, let expiresAt) = try await f.service.verify(f.authorization(buyer, amount: 5, validFor: 60)) else {
            Issue.record("not held"); return
        }
        #expect(expiresAt == (f.nowSeconds + 60) * 1000)
    }

    @Test(arguments: LedgerEngine.allCases) func dailyCapIsARolling24HourSum(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 14)
        try await f.fund(buyer, 10_000)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(dailyCap: .set(Amount(1_000))), authority: .operator("t"))
        _ = try await f.service.verify(f.authorization(buyer, amount: 600))
        f.clock.advance(seconds: 12 * 3600)
        _ = try await f.service.verify(f.authorization(buyer, amount: 400))
        #expect(heldId(try await f.service.verify(f.authorization(buyer, amount: 1))) != nil)
        f.clock.advance(seconds: 12 * 3600 + 1) // the first payment leaves the window
        #expect(settledReceipt(try await f.service.verify(f.authorization(buyer, amount: 500))) != nil)
    }

    @Test(arguments: LedgerEngine.allCases) func payersCanOnlyTightenWithASignedRequest(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 15)
        try await f.fund(buyer, 100)
        let vb = f.nowSeconds + 60
        let domain = f.service.domain
        let sig = PolicyTightening.sign(keyPair: buyer.keys, domain: domain, address: buyer.address, version: 0, maxAmount: Amount(50), rateLimit: 10, dailyCap: nil, validBefore: vb)
        let p = try await f.service.tightenPolicy(address: buyer.address, version: 0, maxAmount: Amount(50), rateLimit: 10, dailyCap: nil, validBefore: vb, signature: sig)
        #expect(p.maxAmount == Amount(50) && p.rateLimit == 10 && p.updatedBy == "payer" && p.version == 1)
        let looser = PolicyTightening.sign(keyPair: buyer.keys, domain: domain, address: buyer.address, version: 1, maxAmount: Amount(60), rateLimit: nil, dailyCap: nil, validBefore: vb)
        await expectError(.policyNotTighter) {
            _ = try await f.service.tightenPolicy(address: buyer.address, version: 1, maxAmount: Amount(60), rateLimit: nil, dailyCap: nil, validBefore: vb, signature: looser)
        }
        await expectError(.invalidSignature) {
            _ = try await f.service.tightenPolicy(address: buyer.address, version: 1, maxAmount: Amount(40), rateLimit: nil, dailyCap: nil, validBefore: vb, signature: sig)
        }
        #expect(try await f.store.policy(buyer.address)?.maxAmount == Amount(50))
        #expect(try await f.store.policy(buyer.address)?.version == 1, "a refused request does not count the version up")
    }

    /// Attack: a captured payer-signed policy request is applied again later. The operator
    /// loosened the policy in between; the replay would silently tighten it back.
    @Test(arguments: LedgerEngine.allCases) func aReplayedPolicyRequestIsRefused(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 16)
        try await f.fund(buyer, 100)
        let vb = f.nowSeconds + 600
        let sig = PolicyTightening.sign(keyPair: buyer.keys, domain: f.service.domain, address: buyer.address, version: 0,
                                        maxAmount: Amount(50), rateLimit: nil, dailyCap: nil, validBefore: vb)
        _ = try await f.service.tightenPolicy(address: buyer.address, version: 0, maxAmount: Amount(50), rateLimit: nil, dailyCap: nil, validBefore: vb, signature: sig)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .clear), authority: .operator("t"))
        await expectError(.policyConflict) {
            _ = try await f.service.tightenPolicy(address: buyer.address, version: 0, maxAmount: Amount(50), rateLimit: nil, dailyCap: nil, validBefore: vb, signature: sig)
        }
        let policy = try await f.store.policy(buyer.address)
        #expect(policy?.maxAmount == nil && policy?.version == 2)
    }

    /// Attack: a request signed for another deployment (network or service key) is applied here.
    @Test(arguments: LedgerEngine.allCases) func aPolicyRequestForAnotherDeploymentIsRefused(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 17)
        try await f.fund(buyer, 100)
        let vb = f.nowSeconds + 600
        for domain in [try PaymentAuthorization.Domain(network: "tvm:-3", serviceId: f.enclave.publicKey),
                       try PaymentAuthorization.Domain(network: f.configuration.network, serviceId: [UInt8](repeating: 9, count: 32))] {
            let sig = PolicyTightening.sign(keyPair: buyer.keys, domain: domain, address: buyer.address, version: 0,
                                            maxAmount: Amount(50), rateLimit: nil, dailyCap: nil, validBefore: vb)
            await expectError(.invalidSignature) {
                _ = try await f.service.tightenPolicy(address: buyer.address, version: 0, maxAmount: Amount(50), rateLimit: nil, dailyCap: nil, validBefore: vb, signature: sig)
            }
        }
        // validBefore more than an hour ahead is refused even with a good signature.
        let far = f.nowSeconds + PolicyTightening.lifetimeSecondsMax + 1
        let sig = PolicyTightening.sign(keyPair: buyer.keys, domain: f.service.domain, address: buyer.address, version: 0,
                                        maxAmount: Amount(50), rateLimit: nil, dailyCap: nil, validBefore: far)
        await expectError(.invalidRequest) {
            _ = try await f.service.tightenPolicy(address: buyer.address, version: 0, maxAmount: Amount(50), rateLimit: nil, dailyCap: nil, validBefore: far, signature: sig)
        }
        #expect(try await f.store.policy(buyer.address) == nil)
    }
}
