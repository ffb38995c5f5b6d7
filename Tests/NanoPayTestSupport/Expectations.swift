import NanoPayCore
import Testing

/// Expects `body` to fail with the operating error `code`.
public func expectError(_ code: ErrorCode, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
    do { try await body(); Issue.record("expected \(code.rawValue)", sourceLocation: sourceLocation) } catch {
        #expect((error as? NanoPayError)?.code == code, "got \(error)", sourceLocation: sourceLocation)
    }
}

/// The receipt and replay flag of a settled outcome.
public func settledReceipt(_ outcome: PaymentOutcome) -> (Receipt, Bool)? {
    if case .settled(let r, let replayed) = outcome { return (r, replayed) }
    return nil
}

/// The approval id of a held outcome.
public func heldId(_ outcome: PaymentOutcome) -> String? {
    if case .held(let id, _) = outcome { return id }
    return nil
}
