import Ledger
import NanoPayCore
import NanoPayTestSupport
import Testing

/// Regression for a process crash (null job in swift_job_run) under Swift 6.3 on Linux: an async
/// function returning `AccountBalance` while holding an `Amount` argument and a `??` temporary.
/// It crashed while `Amount` stored a 16-byte-aligned `UInt128`; `Amount` now stores two UInt64.
@Suite struct AsyncAmountRegressionTests {
    @Test func asyncHelperReturningBalancesDoesNotCrash() async throws {
        let f = try Fixture(); defer { f.close() }
        let first = try await f.fund(Buyer(index: 1), 5)
        let second = try await f.fund(Buyer(index: 1), 7, reference: "second")
        #expect(first.available == 5 && second.available == 12)
    }
}
