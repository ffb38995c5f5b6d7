import Foundation
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

/// The rules that live in the service (not in HTTP, not in the ledger), tested at the facade.
@Suite struct ServiceRulesTests {
    @Test(arguments: LedgerEngine.allCases) func referencesAreOneLineOfAtMost256Bytes(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 70)
        for bad in ["", String(repeating: "r", count: 257), "two\nlines"] {
            await expectError(.invalidRequest) { _ = try await f.service.deposit(address: buyer.address, amount: 1, publicKey: nil, reference: bad) }
            await expectError(.invalidRequest) { _ = try await f.service.withdraw(address: buyer.address, amount: 1, reference: bad) }
        }
        #expect(try await f.service.deposit(address: buyer.address, amount: 5, publicKey: buyer.keys.publicKey,
                                            reference: String(repeating: "r", count: 256)).available == 5)
    }

    @Test(arguments: LedgerEngine.allCases) func payersMayNotClearLimitsOrSetABurst(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 71)
        _ = try await f.fund(buyer, 100)
        let vb = f.nowSeconds + 60
        await expectError(.policyNotTighter) {
            _ = try await f.service.payerPolicyRequest(address: buyer.address, update: PolicyUpdate(maxAmount: .clear), version: 0,
                                                       validBefore: vb, signature: [UInt8](repeating: 0, count: 64))
        }
        await expectError(.invalidRequest) {
            _ = try await f.service.payerPolicyRequest(address: buyer.address, update: PolicyUpdate(rateBurst: .set(5)), version: 0,
                                                       validBefore: vb, signature: [UInt8](repeating: 0, count: 64))
        }
    }

    /// Deciding a hold that is already resolved is a conflict for the decider, whatever resolved
    /// it (another operator, or the clock): `alreadyResolved`, which HTTP answers with 409.
    @Test(arguments: LedgerEngine.allCases) func decidingAResolvedHoldIsAlreadyResolved(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 72)
        _ = try await f.fund(buyer, 1_000)
        _ = try await f.service.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(10)), by: "t")
        let approved = try #require(heldId(try await f.service.verify(f.authorization(buyer, amount: 50))))
        guard case .decided(let a, let receipt) = try await f.service.decide(approvalId: approved, approve: true, by: "a", reason: nil) else {
            Issue.record("first decision not taken"); return
        }
        #expect(a.status == .approved && receipt?.verify(pinnedEnclaveKey: f.enclave.publicKey) == true)
        guard case .alreadyResolved(let e) = try await f.service.decide(approvalId: approved, approve: false, by: "b", reason: nil) else {
            Issue.record("second decision taken"); return
        }
        #expect(e.code == .alreadyApproved)
        let expiring = try #require(heldId(try await f.service.verify(f.authorization(buyer, amount: 60))))
        f.clock.advance(seconds: f.configuration.approvalTimeoutSeconds + 1)
        guard case .alreadyResolved(let expired) = try await f.service.decide(approvalId: expiring, approve: true, by: "a", reason: nil) else {
            Issue.record("expired hold decided"); return
        }
        #expect(expired.code == .approvalExpired)
        await expectError(.invalidRequest) {
            _ = try await f.service.decide(approvalId: approved, approve: true, by: "a", reason: String(repeating: "x", count: 1025))
        }
    }

    /// Receipts are built by the service from the ledger's committed facts and signed by the
    /// enclave: a receipt served later (by id) is byte for byte the one answered at payment time.
    @Test(arguments: LedgerEngine.allCases) func receiptsAreSignedByTheServiceAndStable(engine: LedgerEngine) async throws {
        let f = try await Fixture.make(engine); defer { f.close() }
        let buyer = Buyer(index: 73)
        _ = try await f.fund(buyer, 1_000)
        let (receipt, replayed) = try #require(settledReceipt(try await f.service.verify(f.authorization(buyer, amount: 7, version: .v2))))
        #expect(!replayed && receipt.verify(pinnedEnclaveKey: f.enclave.publicKey))
        #expect(receipt.network == f.configuration.network && receipt.asset == f.configuration.asset)
        #expect(try await f.service.receipt(confirmationId: receipt.confirmationId) == receipt)
        #expect(try await f.service.receipt(confirmationId: receipt.confirmationId.uppercased()) == receipt)
        await expectError(.receiptNotFound) { _ = try await f.service.receipt(confirmationId: "zz") }
        // A dry run (the facilitator's verify) is not signed: nothing was committed.
        guard case .settled(let dry, _) = try await f.service.check(f.authorization(buyer, amount: 7)) else { Issue.record("not settled"); return }
        #expect(dry.signature.isEmpty)
    }

    @Test func quotesRefuseNoncesOver64Bytes() throws {
        let f = try Fixture(); defer { f.close() }
        #expect(throws: NanoPayError.self) { _ = try f.service.quote(nonce: [UInt8](repeating: 1, count: 65)) }
        #expect(try f.service.quote(nonce: [UInt8](repeating: 1, count: 64)).claims.nonce.count == 128)
    }
}
