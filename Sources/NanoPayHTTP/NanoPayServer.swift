import Hummingbird
import Logging
import Metrics
import Prometheus
import NanoPayCore
import NanoPayService

/// Builds the nanopayd HTTP application over a `PaymentService`.
public enum NanoPayServer {
    static let routeList: [(HTTPRequest.Method, String)] = [
        (.post, "/verify"), (.post, "/verify/batch"), (.get, "/balance/{address}"), (.get, "/stats"),
        (.get, "/attestation"), (.post, "/policy"), (.get, "/policy/{address}"), (.get, "/approvals"),
        (.get, "/approvals/{id}"), (.post, "/approvals/{id}/approve"), (.post, "/approvals/{id}/reject"),
        (.get, "/accounts/{address}/payments"), (.post, "/deposits"), (.post, "/withdrawals"), (.post, "/keys/rotate"), (.get, "/receipts/{confirmationId}"),
        (.get, "/health"), (.get, "/.well-known/jwks.json"), (.get, "/metrics"), (.post, "/x402/verify"), (.post, "/x402/settle"), (.get, "/x402/supported"),
    ]

    /// Middleware order: the contract (JSON errors, 404/405) outside, metrics inside it, so a
    /// refused request is counted with the status it got. Requests are counted by route pattern
    /// (`hb_requests`, `http_server_request_duration` from Hummingbird's `MetricsMiddleware`).
    /// `console: false` (`nanopayd --no-console`) leaves `/console` unrouted: 404 like any unknown path.
    /// Without `gatewayToken` the reservation routes are not served (404).
    public static func makeRouter(service: PaymentService, operatorToken: OperatorToken, gatewayToken: BearerToken? = nil,
                                  console: Bool = true) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ContractMiddleware(routeTable: RouteTable(routeList + TicketRoutes.routeList + (gatewayToken != nil ? ReservationRoutes.routeList : []) + (console ? ConsoleRoutes.routeList : []))))
        router.add(middleware: MetricsMiddleware())
        Routes(service: service, operatorToken: operatorToken).register(on: router)
        if console { ConsoleRoutes().register(on: router) }
        X402Routes(facilitator: X402Facilitator(service: service)).register(on: router)
        TicketRoutes(service: service).register(on: router)
        if let gatewayToken { ReservationRoutes(service: service, gatewayToken: gatewayToken).register(on: router) }
        let levels = ScrapeGauges()
        router.get("/metrics") { _, _ in
            levels.update(from: service)
            var text: [UInt8] = []
            NanoPayMetrics.registry.emit(into: &text)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        return router
    }

    /// Levels read when /metrics is scraped (they are states, not events).
    struct ScrapeGauges: Sendable {
        let queueDepth = NanoPayMetrics.registry.makeGauge(name: "nanopay_ledger_writer_queue_depth", help: "Ops waiting for the ledger writer.")
        let meanBatch = NanoPayMetrics.registry.makeGauge(name: "nanopay_ledger_mean_commit_batch", help: "Mean ops per committed transaction since start.")
        let healthy = NanoPayMetrics.registry.makeGauge(name: "nanopay_storage_healthy", help: "1 if the last commit succeeded.")
        let accounts = NanoPayMetrics.registry.makeGauge(name: "nanopay_ledger_accounts", help: "Accounts in the ledger.")
        let holds = NanoPayMetrics.registry.makeGauge(name: "nanopay_holds_pending", help: "Payments held for human approval, not yet resolved.")
        let settled = NanoPayMetrics.registry.makeGauge(name: "nanopay_ledger_payments_settled", help: "Payments settled since the ledger was created.")

        func update(from service: PaymentService) {
            let storage = service.storageStatus, totals = service.totals
            queueDepth.set(Double(storage.writerQueueDepth))
            meanBatch.set(storage.meanBatchSize)
            healthy.set(storage.isHealthy ? 1.0 : 0.0)
            accounts.set(Double(totals.accounts))
            holds.set(Double(totals.paymentsHeld))
            settled.set(Double(totals.paymentsSettled))
        }
    }

    public static func makeApplication(service: PaymentService, operatorToken: OperatorToken, gatewayToken: BearerToken? = nil,
                                       host: String, port: Int, console: Bool = true, logger: Logger) -> some ApplicationProtocol {
        Application(router: makeRouter(service: service, operatorToken: operatorToken, gatewayToken: gatewayToken, console: console),
                    configuration: .init(address: .hostname(host, port: port), serverName: "nanopayd"),
                    logger: logger)
    }
}
