import Foundation
import Ledger
import NanoPayCore
import NanoPayTestSupport
import Testing

/// The ledger under injected storage faults: a failed batch answers every op with
/// `storage_unavailable` and leaves nothing half-applied, including across a restart.
@Suite struct StorageFaultLedgerTests {
    @Test(arguments: StorageFault.allCases)
    func aFailedBatchIsNotAcknowledgedAndNeverAppliedTwice(fault: StorageFault) async throws {
        let f = try Fixture(); defer { f.close() }
        let buyers = (0..<8).map { Buyer(index: 300 + $0) }
        for b in buyers { try await f.fund(b, 1_000) }
        let auths = buyers.map { f.authorization($0, amount: 10) }

        StorageFaultInjection.arm(fault, under: f.directory.path)
        // One batch of eight payments: each is refused; none may be reported as done.
        let results = await f.service.verifyBatch(auths)
        for r in results {
            guard case .failure(let e) = r else { Issue.record("a payment was acknowledged while storage failed: \(r)"); continue }
            #expect(e.code == .storageUnavailable)
        }
        #expect(!f.ledger.isStorageHealthy)
        StorageFaultInjection.clear(under: f.directory.path)

        // A restart (every connection closed, the WAL recovered from disk): whatever the failed
        // batch left in the file is either wholly there or wholly absent, and each payment is
        // applied exactly once when resubmitted.
        try f.reopen()
        #expect(try f.ledger.checkInvariants().isConsistent)
        let settledAfterRestart = f.ledger.totals.paymentsSettled
        #expect(settledAfterRestart == 0 || settledAfterRestart == 8, "a batch was half-applied")
        for (b, a) in zip(buyers, auths) {
            guard case .settled(_, let replayed) = try await f.service.verify(a) else { Issue.record("not settled"); continue }
            #expect(replayed == (settledAfterRestart == 8))
            #expect(try await f.ledger.balance(b.address).available == 990)
        }
        #expect(f.ledger.totals.paymentsSettled == 8)
        #expect(try f.ledger.checkInvariants().isConsistent)
    }

    @Test func aDiskThatStaysFullKeepsRefusingAndReadsStillWork() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 320)
        try await f.fund(buyer, 500)
        StorageFaultInjection.arm(.diskFull, under: f.directory.path)
        defer { StorageFaultInjection.clear(under: f.directory.path) }
        for _ in 0..<3 {
            await #expect(throws: NanoPayError.self) { _ = try await f.service.verify(f.authorization(buyer, amount: 1)) }
        }
        #expect(try await f.ledger.balance(buyer.address).available == 500)
        #expect(f.ledger.storageFaultCount == 3)
    }
}
