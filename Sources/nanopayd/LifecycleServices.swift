import NanoPayService
import ServiceLifecycle

/// The ledger as a service of nanopayd's `ServiceGroup`. It is listed first, so it is shut down
/// last: after the HTTP server has drained its in-flight requests and the maintenance sweep has
/// stopped, it finishes the last commit and closes the database.
struct LedgerLifecycle: Service {
    let service: PaymentService

    func run() async throws {
        // Wait for the group's graceful shutdown (or cancellation), then close.
        try? await gracefulShutdown()
        service.close()
    }
}

/// The periodic upkeep (hold expiry every second, nonce pruning hourly), stopped by graceful
/// shutdown before the ledger closes.
struct MaintenanceLifecycle: Service {
    let service: PaymentService

    func run() async throws {
        await cancelWhenGracefulShutdown { await service.runMaintenance() }
    }
}
