import Hummingbird
import Logging
import NanoPayCore
import NanoPayService

/// Builds the nanopayd HTTP application over a `PaymentService`.
public enum NanoPayServer {
    static let routeList: [(HTTPRequest.Method, String)] = [
        (.post, "/verify"), (.post, "/verify/batch"), (.get, "/balance/{address}"), (.get, "/stats"),
        (.get, "/attestation"), (.post, "/policy"), (.get, "/policy/{address}"), (.get, "/approvals"),
        (.get, "/approvals/{id}"), (.post, "/approvals/{id}/approve"), (.post, "/approvals/{id}/reject"),
        (.post, "/deposits"), (.post, "/withdrawals"), (.post, "/keys/rotate"), (.get, "/receipts/{confirmationId}"),
        (.get, "/health"), (.get, "/metrics"), (.post, "/x402/verify"), (.post, "/x402/settle"), (.get, "/x402/supported"),
    ]

    public static func makeRouter(service: PaymentService, operatorToken: OperatorToken, metrics: HTTPMetrics = HTTPMetrics()) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ContractMiddleware(routeTable: RouteTable(routeList), metrics: metrics))
        Routes(service: service, operatorToken: operatorToken).register(on: router)
        X402Routes(facilitator: X402Facilitator(service: service)).register(on: router)
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.render(service: service))))
        }
        return router
    }

    public static func makeApplication(service: PaymentService, operatorToken: OperatorToken, host: String, port: Int,
                                       logger: Logger) -> some ApplicationProtocol {
        Application(router: makeRouter(service: service, operatorToken: operatorToken),
                    configuration: .init(address: .hostname(host, port: port), serverName: "nanopayd"),
                    logger: logger)
    }
}
