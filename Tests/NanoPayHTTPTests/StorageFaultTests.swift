import Foundation
import Ledger
import NanoPayCore
import NanoPayTestSupport
import Testing

/// Disk full, write errors and failed fsyncs, injected under the server's data directory by the
/// ledger's SQLite VFS, against a live server on 127.0.0.1.
@Suite struct StorageFaultTests {
    @Test(arguments: StorageFault.allCases)
    func writesAnswer503ReadsKeepWorkingAndTheServiceRecoversByItself(fault: StorageFault) async throws {
        try await withLiveServer { s in
            let f = s.fixture
            let buyer = Buyer(index: 31)
            #expect(try await s.deposit(buyer, "1000").status == 200)
            let first = try await s.verify(f.authorization(buyer, amount: 100))
            #expect(first.status == 200)
            let confirmationId = try #require(first["confirmationId"] as? String)
            let injectedBefore = StorageFaultInjection.injectedCount

            StorageFaultInjection.arm(fault, under: f.directory.path)
            let auth = f.authorization(buyer, amount: 50)
            let refused = try await s.verify(auth)
            expectError(refused, 503, "storage_unavailable")
            expectError(try await s.deposit(buyer, "5"), 503, "storage_unavailable")
            expectError(try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","maxAmount":"10"}"#), 503, "storage_unavailable")
            let batch = try await s.send(.post, "/verify/batch", json: ["authorizations": [f.authorization(buyer, amount: 7)]])
            #expect(batch.status == 200)
            #expect(((batch["results"] as? [[String: Any]])?.first?["status"] as? Int) == 503)
            #expect(StorageFaultInjection.injectedCount > injectedBefore, "the fault was never hit")

            // Reads keep working and show only what was committed; health says why writes fail.
            let balance = try await s.send(.get, "/balance/\(buyer.address.raw)")
            #expect(balance.status == 200 && balance["available"] as? String == "900")
            #expect(try await s.send(.get, "/receipts/\(confirmationId)").status == 200)
            let health = try await s.send(.get, "/health")
            #expect(health.status == 503 && health["storage"] as? String == "unavailable")

            // Writing works again: the same authorization is applied now, once, with no restart.
            StorageFaultInjection.clear(under: f.directory.path)
            let retried = try await s.verify(auth)
            #expect(retried.status == 200, "\(retried.text)")
            if fault != .fsyncError {
                #expect(retried["replayed"] as? Bool == false, "a payment refused on a failed write must not have been applied")
            }
            // After a failed fsync the batch's WAL frames may still be in the file and count after
            // recovery; the answer was 503 (not acknowledged) and the retry is applied at most once.
            #expect(retried["remainingBalance"] as? String == "850")
            #expect(try await s.verify(auth)["replayed"] as? Bool == true)
            #expect(try await s.send(.get, "/health").status == 200)
            let report = try f.ledger.checkInvariants()
            #expect(report.isConsistent, "\(report)")
            #expect(f.ledger.totals.paymentsSettled == 2)
        }
    }
}
