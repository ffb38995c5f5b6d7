import Foundation
import Ledger
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

@Suite struct DurabilityTests {
    @Test func everythingSurvivesReopen() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 20)
        try await f.fund(buyer, 5_000)
        _ = try await f.ledger.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(Amount(1_000)), rateLimit: .set(100)), authority: .operator("t"))
        let paid = f.authorization(buyer, amount: 100)
        let (receipt, _) = try #require(settledReceipt(try await f.service.verify(paid)))
        let held = f.authorization(buyer, amount: 2_000)
        let id = try #require(heldId(try await f.service.verify(held)))
        let before = (try await f.ledger.balance(buyer.address), try await f.ledger.policy(buyer.address), try await f.ledger.approval(id: id).0, f.ledger.totals)
        try f.reopen()
        #expect(try await f.ledger.balance(buyer.address) == before.0)
        #expect(try await f.ledger.policy(buyer.address) == before.1)
        #expect(try await f.ledger.approval(id: id).0 == before.2)
        #expect(f.ledger.totals == before.3)
        #expect(try await f.service.receipt(confirmationId: receipt.confirmationId) == receipt)
        // Nonces survive: the replay is recognised, the hold is the same hold.
        #expect(settledReceipt(try await f.service.verify(paid))?.1 == true)
        #expect(try heldId(await f.service.verify(held)) == id)
        _ = try await f.ledger.decideHold(approvalId: id, approve: true, by: "op", reason: nil)
        try f.reopen()
        #expect(try await f.ledger.approval(id: id).0.status == .approved)
        #expect(try f.ledger.checkInvariants().isConsistent)
    }

    @Test func sixtyFourConcurrentSubmissionsDebitOnce() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 21)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 10)
        let service = f.service
        let results = await withTaskGroup(of: Bool?.self) { group in
            for _ in 0..<64 { group.addTask { try? settledReceipt(await service.verify(auth))?.1 } }
            var out: [Bool?] = []
            for await r in group { out.append(r) }
            return out
        }
        #expect(results.count == 64 && results.allSatisfy { $0 != nil })
        #expect(results.filter { $0 == false }.count == 1) // exactly one fresh, 63 replays
        #expect(try await f.ledger.balance(buyer.address).available == Amount(990))
    }

    @Test func concurrentDifferentPaymentsNeverOverdraw() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 22)
        try await f.fund(buyer, 1_000)
        let auths = (0..<100).map { _ in f.authorization(buyer, amount: 37) }
        let service = f.service
        let ok = await withTaskGroup(of: Bool.self) { group in
            for a in auths { group.addTask { (try? await service.verify(a)) != nil } }
            var n = 0
            for await r in group where r { n += 1 }
            return n
        }
        #expect(ok == 1_000 / 37)
        #expect(try await f.ledger.balance(buyer.address).available == Amount(UInt128(1_000 - 37 * ok)))
        #expect(try f.ledger.checkInvariants().isConsistent)
    }
}

/// The WAL is copied back by the background checkpointer and rewound by the writer's inline
/// checkpoint, so it stays bounded under sustained writes.
@Suite struct CheckpointTests {
    @Test func walStaysBoundedUnderSustainedWrites() async throws {
        let f = try Fixture(); defer { f.close() }
        var configuration = Ledger.Configuration(path: f.directory.path + "/wal.sqlite", clock: f.clock)
        configuration.walCheckpointPages = (8, 64)
        let ledger = try Ledger(configuration)
        defer { ledger.close() }
        let buyers = (0..<16).map { Buyer(index: 600 + $0) }
        for b in buyers {
            _ = try await ledger.deposit(address: b.address, amount: 1_000_000, publicKey: b.keys.publicKey, reference: "d\(b.address.raw)")
        }
        var largestWALBytes = 0
        for round in 0..<40 {
            let requests = buyers.map { b in
                let auth = PaymentAuthorization.sign(keyPair: b.keys, from: b.address, to: sellerAddress(), amount: 1, validBefore: f.nowSeconds + 60)
                return PaymentRequest(authorization: auth, digest: auth.digest(domain: nil), verifiedPublicKey: b.keys.publicKey)
            }
            for r in await ledger.recordPayments(requests, holdTimeoutSeconds: 300) { _ = try r.get() }
            let wal = (try? FileManager.default.attributesOfItem(atPath: configuration.path + "-wal")[.size] as? Int) ?? 0
            largestWALBytes = max(largestWALBytes, wal)
            if round == 39 { #expect(wal > 0) }
        }
        // 64 pages of 4 KiB plus one batch's worth of frames, not 40 batches' worth.
        #expect(largestWALBytes < 1_000_000, "the WAL grew to \(largestWALBytes) bytes")
        let db = (try FileManager.default.attributesOfItem(atPath: configuration.path)[.size] as? Int) ?? 0
        #expect(db > 100_000, "nothing was checkpointed into the database file")
        #expect(ledger.checkpointFailures == 0)
        #expect(try ledger.checkInvariants().isConsistent)
        #expect(ledger.totals.paymentsSettled == 640)
    }

    /// The background thread must do the copying. Its first version opened a connection that had
    /// not read the database yet, so every checkpoint copied nothing (SQLite answers OK, -1
    /// frames) and the inline checkpoint did all the work on the writer, stalling commits for
    /// 50-90 ms every ~0.6 s at 6k payments/s (the p99).
    @Test func backgroundCheckpointerCopiesFrames() async throws {
        let f = try Fixture(); defer { f.close() }
        var configuration = Ledger.Configuration(path: f.directory.path + "/bg.sqlite", clock: f.clock)
        configuration.walCheckpointPages = (8, 1_000_000) // the writer never checkpoints inline
        let ledger = try Ledger(configuration)
        defer { ledger.close() }
        let buyers = (0..<16).map { Buyer(index: 700 + $0) }
        for b in buyers {
            _ = try await ledger.deposit(address: b.address, amount: 1_000_000, publicKey: b.keys.publicKey, reference: "d\(b.address.raw)")
        }
        for _ in 0..<10 {
            let requests = buyers.map { b in
                let auth = PaymentAuthorization.sign(keyPair: b.keys, from: b.address, to: sellerAddress(), amount: 1, validBefore: f.nowSeconds + 60)
                return PaymentRequest(authorization: auth, digest: auth.digest(domain: nil), verifiedPublicKey: b.keys.publicKey)
            }
            for r in await ledger.recordPayments(requests, holdTimeoutSeconds: 300) { _ = try r.get() }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ledger.backgroundCheckpointFrames == 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(ledger.backgroundCheckpointFrames > 0, "the background checkpointer copied no frames")
        #expect(ledger.checkpointFailures == 0)
    }

    /// The background checkpointer is woken once per `background` pages of WAL growth, not after
    /// every commit: hot pages written by many commits are then copied once per step.
    @Test func checkpointsAreRequestedOncePerStep() async throws {
        let f = try Fixture(); defer { f.close() }
        let path = f.directory.path + "/step.sqlite"
        var configuration = Ledger.Configuration(path: path, clock: f.clock)
        configuration.walCheckpointPages = (16, 1_000_000) // the writer never checkpoints inline
        let ledger = try Ledger(configuration)
        defer { ledger.close() }
        let buyer = Buyer(index: 900)
        for i in 0..<120 { // one commit each
            _ = try await ledger.deposit(address: buyer.address, amount: 1, publicKey: buyer.keys.publicKey, reference: "step-\(i)")
        }
        // The WAL may start over whenever the background has caught up; each generation asks for
        // a checkpoint once per 16 pages it grows, so never more than frames / 16 in all.
        let frames = ledger.walFramesWritten
        #expect(frames >= 120, "each commit wrote at least one frame")
        #expect(ledger.backgroundCheckpointRequests >= 1)
        #expect(ledger.backgroundCheckpointRequests <= frames / 16, "\(ledger.backgroundCheckpointRequests) requests for \(frames) frames")
    }
}
