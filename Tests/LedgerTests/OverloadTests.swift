import Foundation
import Ledger
import NanoPayCore
import NanoPayTestSupport
import Synchronization
import Testing

/// The writer's queue is bounded: when it is full, new writes are refused at once with
/// `overloaded` (503, Retry-After) instead of the process growing without limit.
@Suite struct OverloadTests {
    /// Holds the writer inside its first payment commit until released.
    final class Gate: Sendable {
        let entered = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        func hook(_ point: CommitPoint) {
            guard point == .assembled, !entered.exchange(true, ordering: .relaxed) else { return }
            release.wait()
        }
    }

    @Test func aFullWriteQueueAnswersOverloadedAndLosesNothing() async throws {
        let f = try Fixture(); defer { f.close() }
        let gate = Gate()
        let ledger = try Ledger(.init(path: f.directory.path + "/bounded.sqlite", clock: f.clock,
                                      batchSizeMax: 2, queueLimit: 4, commitHook: { gate.hook($0) }))
        defer { ledger.close() }
        let buyer = Buyer(index: 410)
        _ = try await ledger.deposit(address: buyer.address, amount: 1_000, publicKey: buyer.keys.publicKey, reference: "d")
        func request() -> PaymentRequest {
            let auth = PaymentAuthorization.sign(keyPair: buyer.keys, from: buyer.address, to: sellerAddress(), amount: 1,
                                                 validBefore: f.nowSeconds + 60)
            return PaymentRequest(authorization: auth, digest: auth.digest(domain: nil), verifiedPublicKey: buyer.keys.publicKey)
        }
        // The first payment holds the writer; four more fill the queue.
        let first = Task { try await ledger.recordPayment(request(), holdTimeoutSeconds: 300) }
        while !gate.entered.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
        let queued = (0..<4).map { _ in Task { try await ledger.recordPayment(request(), holdTimeoutSeconds: 300) } }
        while ledger.writerQueueDepth < 4 { try await Task.sleep(for: .milliseconds(5)) }

        let refused = await #expect(throws: NanoPayError.self) { _ = try await ledger.recordPayment(request(), holdTimeoutSeconds: 300) }
        #expect(refused?.code == .overloaded && refused?.retryAfterSeconds == 1)
        let batch = await ledger.recordPayments([request()], holdTimeoutSeconds: 300)
        #expect((try? batch[0].get()) == nil)

        gate.release.signal()
        for task in [first] + queued { _ = try await task.value }
        #expect(try await ledger.balance(buyer.address).available == 995, "exactly the five queued payments were applied")
        #expect(try ledger.checkInvariants().isConsistent)
    }
}
