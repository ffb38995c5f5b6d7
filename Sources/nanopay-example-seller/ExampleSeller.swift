import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NanoPayClient
import NanoPayCore
import NanoPaySeller

/// An example seller, after the c402 demo: `/api/time` and `/status` are free, `/api/premium`
/// costs 1000 units and `/api/joke` 500, paid through CyberNanoPay. `/api/report/{day}` is in
/// ticket mode: one ticket (2000 units) buys every report for `--ticket-lifetime-seconds`, called
/// directly with `Authorization: Bearer`. At start-up it attests the service with a fresh nonce
/// and pins its enclave key and ticket key; every receipt and ticket must verify under them.
@main
struct ExampleSeller: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nanopay-example-seller", abstract: "Example x402 seller paid through CyberNanoPay.")

    @Option(help: "Listen port.") var port: Int = 4021
    @Option(help: "Listen address.") var host: String = "127.0.0.1"
    @Option(help: "nanopayd base URL.") var serviceURL: String = "http://127.0.0.1:4030"
    @Option(help: "Address that receives the payments.") var payTo: String
    @Option(help: "Pinned platform root (hex), as `nanopay attest root` prints it.") var root: String
    @Flag(help: "Accept the service's software attestation (no hardware isolation).") var allowSoftware = false
    @Option(help: "Refuse receipts signed more than this many seconds from this machine's clock.") var receiptWindowSeconds: UInt64 = 60
    @Option(help: "How long a report ticket lasts (1-3600 s).") var ticketLifetimeSeconds: UInt64 = 300
    @Option(help: "Price of a report ticket (atomic units).") var ticketPrice: String = "2000"

    static let prices: [(path: String, amount: String, description: String)] = [
        ("/api/premium", "1000", "Premium content"),
        ("/api/joke", "500", "A random joke"),
    ]
    static let jokes = ["I would tell you a UDP joke, but you might not get it.",
                        "There are 10 kinds of people: those who read binary and those who don't.",
                        "A nano-payment walks into a bar. The bartender barely notices."]

    func run() async throws {
        let logger = Logger(label: "example-seller")
        let payee: TONAddress
        do { payee = try TONAddress(parsing: payTo) } catch { throw ValidationError("--pay-to: \(error.description)") }
        let service = try await PinnedService.attest(url: serviceURL, pinnedRoot: root, allowSoftware: allowSoftware, logger: logger)
        defer { service.stop() }
        logger.info("attested CyberNanoPay", metadata: ["enclaveKey": "\(Hex.encode(service.enclaveKey))", "platform": "\(service.verified.platform)"])

        let router = Router(context: NanoPayRequestContext.self)
        // One seen-payments store for every paid route of this process.
        let receiptCheck = ReceiptCheck(freshnessWindowSeconds: receiptWindowSeconds)
        router.get("/api/time") { _, _ -> [String: String] in
            ["time": ISO8601DateFormatter().string(from: Date()), "unix": String(Int(Date().timeIntervalSince1970))]
        }
        router.get("/status") { _, _ -> Status in
            Status(prices: Dictionary(uniqueKeysWithValues: Self.prices.map { ($0.path, $0.amount) }),
                   tickets: ["/api/report/*": ticketPrice], payTo: payee.raw,
                   serviceURL: service.client.baseURL, enclavePublicKey: Hex.encode(service.enclaveKey),
                   network: service.verified.network, asset: service.verified.asset)
        }
        for (path, amount, description) in Self.prices {
            router.group()
                .add(middleware: try RequirePaymentMiddleware<NanoPayRequestContext>(
                    offers: [service.offer(amount: amount, payTo: payee)], verifier: service.verifier,
                    trust: service, receiptCheck: receiptCheck, description: description))
                .get(RouterPath(stringLiteral: path)) { _, context -> Paid in
                    let payment = context.payment!
                    let data = path == "/api/joke" ? Self.jokes.randomElement()! : "Premium content"
                    return Paid(data: data, confirmationId: payment.confirmationId, payer: payment.payer, amount: payment.amount.description)
                }
        }
        // Ticket mode: buyers pay nanopayd's ticket endpoint once, then call the reports directly.
        let ticket = TicketOffer(endpoint: service.client.baseURL + "/tickets", accessTokenEndpoint: service.client.baseURL + "/tickets/access-token",
                                 terms: TicketTerms(audience: payee.raw, scope: try TicketScope(parsing: "GET:/api/report/*"),
                                                    lifetimeSeconds: ticketLifetimeSeconds))
        let price: Amount
        do { price = try Amount(parsing: ticketPrice, allowZero: false) } catch { throw ValidationError("--ticket-price: \(error.description)") }
        router.group("/api/report")
            .add(middleware: try RequireTicketMiddleware<NanoPayRequestContext>(price: price, payTo: payee, ticket: ticket, trust: service,
                                                                               description: "Daily reports (ticket)"))
            .get("{day}") { _, context -> Report in
                let claims = context.ticket!
                return Report(day: context.parameters.get("day") ?? "", data: "Report for \(context.parameters.get("day") ?? "")",
                              ticket: claims.jti, payer: claims.sub, expiresAt: claims.exp)
            }
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "nanopay-example-seller"),
                              logger: logger)
        try await app.runService()
    }

    struct Status: ResponseCodable {
        var prices: [String: String]
        /// Ticket-mode routes and the price of one ticket.
        var tickets: [String: String]
        var payTo: String
        var serviceURL: String
        var enclavePublicKey: String
        var network: String
        var asset: String
    }

    struct Report: ResponseCodable {
        var day: String
        var data: String
        var ticket: String
        var payer: String
        var expiresAt: UInt64
    }

    struct Paid: ResponseCodable {
        var data: String
        var confirmationId: String
        var payer: String
        var amount: String
    }
}
