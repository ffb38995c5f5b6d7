import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NanoPayClient
import NanoPayCore
import NanoPaySeller

/// The request context: the buyer's address, for `X-Forwarded-For`.
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// nanopay-gateway: a reverse proxy that sells an existing HTTP API per request with x402.
///
/// A paid request is **reserved** at nanopayd (a hold on the buyer's funds), **forwarded**, and
/// **captured** only when the upstream answered below 500 within the time and size limits; only
/// a capture issues the receipt and PAYMENT-RESPONSE. Otherwise the hold is **voided** and the
/// buyer is charged nothing (502/504, `"charged": false`). If the gateway dies in between, the
/// hold expires. Delivered responses are kept (`ReplayCache`) so a buyer whose answer was lost
/// gets the same bytes for the same PAYMENT-SIGNATURE, never a second charge.
public final class Gateway: Sendable {
    private let current: Locked<GatewayConfig>
    public let trust: any ServiceTrust
    let replayCache: ReplayCache
    let slots = UpstreamSlots()
    let receiptCheck: ReceiptCheck
    let ticketCheck = TicketCheck()
    let clock: any NanoClock
    let logger: Logger
    private let clients = Locked<[String: HTTPClient]>([:])
    /// Towards nanopayd: two calls per paid request, so more connections than the shared client's 8.
    let serviceHTTPClient: HTTPClient
    /// Payments being served now (PAYMENT-SIGNATURE digests): a retry while the first attempt is
    /// still in flight is told so, not that its response is lost.
    let inFlight = Locked<Set<[UInt8]>>([])

    public init(config: GatewayConfig, trust: any ServiceTrust, logger: Logger, clock: any NanoClock = SystemClock()) {
        current = Locked(config)
        self.trust = trust; self.logger = logger; self.clock = clock
        replayCache = ReplayCache(maxEntries: config.replayCacheMaxEntries, maxBytes: config.replayCacheMaxBytes,
                                  maxEntryBytes: config.replayCacheMaxEntryBytes, maxAgeSeconds: config.replayCacheMaxAgeSeconds)
        // Receipts are checked when captured; the window covers a capture after a slow upstream.
        // The capture token is unique, so the stateless check is enough; the window covers the
        // longest hold.
        receiptCheck = ReceiptCheck(freshnessWindowSeconds: 3600 + 300)
        var serviceConfiguration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(30)))
        serviceConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        serviceHTTPClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: serviceConfiguration)
        GatewayMetrics.bootstrap()
    }

    /// The config new requests start under.
    public var config: GatewayConfig { current.withLock { $0 } }

    /// Swaps in a checked config; requests in flight keep the one they started with. The replay
    /// cache keeps its first limits until restart.
    public func apply(_ config: GatewayConfig) { current.withLock { $0 = config } }

    public func shutdown() async {
        for client in clients.withLock({ m in defer { m = [:] }; return Array(m.values) }) { try? await client.shutdown() }
        try? await serviceHTTPClient.shutdown()
    }

    /// One client per upstream's settings (AsyncHTTPClient sets timeouts and the pool per client),
    /// with as many connections as the upstream's concurrency limit, so no paid request waits
    /// in the client's queue after its funds were reserved. No redirects followed, no
    /// decompression: the body passes through as the upstream sent it.
    func httpClient(for upstream: GatewayConfig.Upstream) -> HTTPClient {
        let key = "\(upstream.connectTimeoutSeconds)/\(upstream.totalTimeoutSeconds)/\(upstream.maxConcurrentRequests)"
        return clients.withLock { m in
            if let c = m[key] { return c }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                         timeout: .init(connect: .seconds(upstream.connectTimeoutSeconds),
                                                                        read: .seconds(upstream.totalTimeoutSeconds)))
            configuration.decompression = .disabled
            configuration.httpVersion = .http1Only
            configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: upstream.maxConcurrentRequests)
            let c = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            m[key] = c
            return c
        }
    }

    // MARK: - Requests

    public func respond(to request: Request, context: GatewayRequestContext) async -> Response {
        let config = self.config
        let path = request.uri.path
        let method = request.method.rawValue
        if path == GatewayConfig.discoveryPath || path == GatewayConfig.metricsPath, method != "GET" {
            return fail(405, "method_not_allowed", "\(path) is the gateway's own and answers GET only")
        }
        if method == "GET" && path == GatewayConfig.discoveryPath { return Discovery.response(config: config, trust: trust) }
        if method == "GET" && path == GatewayConfig.metricsPath {
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: GatewayMetrics.render())))
        }
        guard Self.isPlainPath(path) else {
            return fail(400, "invalid_path", "the path must be canonical: no dot or empty segments, no `;`, no backslash, and no percent-escape of a character that needs none (or of `/`, `\\`, `.`)")
        }
        guard let route = config.route(method: method, path: path) else {
            GatewayMetrics.request(outcome: "not_found")
            return fail(404, "route_not_found", "no route for \(method) \(path) on this gateway")
        }
        // Nothing is read for an unpaid request to a paid route: its 402 needs no body.
        let paymentHeader = request.headers[HTTPField.Name(X402.paymentSignatureHeader)!]
        let bearer = route.ticket == nil ? nil : request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        if !route.isFree, paymentHeader == nil, bearer == nil {
            GatewayMetrics.request(outcome: "payment_required")
            return paymentRequired(route, config: config, host: request.head.authority, path: path, error: "payment_required",
                                   message: "send an x402 PAYMENT-SIGNATURE for the offer in PAYMENT-REQUIRED")
        }
        let body: [UInt8]
        do {
            body = Array(buffer: try await request.body.collect(upTo: config.maxRequestBodyBytes))
        } catch is NIOTooManyBytesError {
            return fail(413, "payload_too_large", "request body exceeds \(config.maxRequestBodyBytes) bytes")
        } catch {
            return fail(400, "invalid_request", "request body could not be read")
        }
        let pathAndQuery = path + (request.uri.query.map { "?" + $0 } ?? "")
        let incoming = Incoming(method: method, pathAndQuery: pathAndQuery, headers: request.headers, body: body,
                                host: request.head.authority, remote: context.remoteAddress?.ipAddress)
        if route.isFree {
            guard let lease = slots.acquire(route.upstream.name, limit: route.upstream.maxConcurrentRequests) else { return busy(route) }
            GatewayMetrics.request(outcome: "free")
            return await forwardUnpaid(incoming, route: route, lease: lease, proof: nil)
        }
        if let bearer { return await serveTicket(bearer, incoming, route: route, config: config) }
        guard let paymentHeader else { return fail(500, "internal_error", "") } // a paid route without either returned 402 above
        return await servePayment(paymentHeader, incoming, route: route, config: config)
    }

    struct Incoming: Sendable {
        var method: String
        var pathAndQuery: String
        var headers: HTTPFields
        var body: [UInt8]
        var host: String?
        var remote: String?
        var path: String { String(pathAndQuery.prefix { $0 != "?" }) }
    }

    /// Refuses paths an upstream could read as another route than the gateway matched
    /// (`/free/../paid`, `/a//b`, `/a/..;/b`, `%2e%2e`, `%2f`, `/api/%70remium` for `/api/premium`):
    /// only the canonical spelling of a path is priced and forwarded. Percent-escapes are allowed
    /// only for bytes that need them (not unreserved characters, not `/`, `\`, `.`, NUL).
    public static func isPlainPath(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/"), !path.contains("\\"), !path.contains("//"), !path.contains(";") else { return false }
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let byte = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) else { return false }
                let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
                if unreserved || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\\") || byte == 0 { return false }
                i += 3
            } else { i += 1 }
        }
        return !path.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == "." || $0 == ".." }
    }

    // MARK: - Ticket mode

    func serveTicket(_ token: String, _ incoming: Incoming, route: GatewayConfig.Route, config: GatewayConfig) async -> Response {
        guard let trusted = trust.trusted else { return notAttested() }
        guard let terms = route.ticket, let ticketPrice = route.ticketPrice, let payTo = route.payTo else { return fail(500, "internal_error", "") }
        let policy = TicketPolicy(audience: terms.audience, payTo: payTo, minimumAmount: ticketPrice, maxLifetimeSeconds: terms.lifetimeSeconds,
                                  scope: terms.scope, uses: terms.uses)
        // The slot first: a busy upstream must not cost the buyer one of its ticket's uses.
        guard let lease = slots.acquire(route.upstream.name, limit: route.upstream.maxConcurrentRequests) else { return busy(route) }
        let claims: TicketClaims
        do {
            claims = try await ticketCheck.verify(token, trusted: trusted, policy: policy, method: incoming.method, path: incoming.path, now: clock.nowSeconds())
        } catch {
            GatewayMetrics.request(outcome: error.code)
            return paymentRequired(route, config: config, host: incoming.host, path: incoming.path, error: error.code, message: error.message)
        }
        GatewayMetrics.request(outcome: "ticket")
        let xPayment = X402.encodeHeader(TicketPayment(ticket: .init(jti: claims.jti, sub: claims.sub, aud: claims.aud, scope: claims.scope,
                                                                     exp: claims.exp, amt: claims.amt.description)))
        let settlement = X402.encodeHeader(X402.SettleResponse(success: true, transaction: claims.jti, network: trusted.network, payer: claims.sub,
                                                               amount: claims.amt.description))
        return await forwardUnpaid(incoming, route: route, lease: lease, proof: PaymentProof(xPayment: xPayment, xPaymentResponse: settlement, id: claims.jti))
    }

    /// What `X-Payment` carries for a call paid by ticket (the ticket itself, a bearer credential,
    /// is not passed on).
    struct TicketPayment: Encodable {
        struct Ticket: Encodable { var jti: String; var sub: String; var aud: String; var scope: String; var exp: UInt64; var amt: String }
        var x402Version = 2
        var scheme = "ticket"
        var ticket: Ticket
    }

    // MARK: - Paying per request

    func offers(_ route: GatewayConfig.Route, trusted: TrustedService, config: GatewayConfig) -> [X402.PaymentRequirements] {
        guard let price = route.price, let payTo = route.payTo else { return [] }
        let timeout = Int(route.upstream.totalTimeoutSeconds) + Int(config.captureMarginSeconds)
        var result = [X402.PaymentRequirements(network: trusted.network, asset: trusted.asset, amount: price.description, payTo: payTo.raw,
                                               maxTimeoutSeconds: min(timeout, 3600),
                                               extra: ["name": .string("CyberNanoPay"), "enclavePublicKey": .string(Hex.encode(trusted.enclaveKey)),
                                                       "teeEndpoint": .string(config.serviceURL)])]
        if let terms = route.ticket, let ticketPrice = route.ticketPrice {
            let ticket = TicketOffer(endpoint: config.serviceURL + "/tickets", accessTokenEndpoint: config.serviceURL + "/tickets/access-token", terms: terms)
            result.append(X402.PaymentRequirements(network: trusted.network, asset: trusted.asset, amount: ticketPrice.description, payTo: payTo.raw,
                                                   extra: ["name": .string("CyberNanoPay"), "enclavePublicKey": .string(Hex.encode(trusted.enclaveKey)),
                                                           TicketOffer.extraKey: ticket.json]))
        }
        return result
    }

    func servePayment(_ header: String, _ incoming: Incoming, route: GatewayConfig.Route, config: GatewayConfig) async -> Response {
        // A retry of a delivered request gets the delivered bytes, first of all: a price changed
        // by a reload, or nanopayd unreachable now, must not turn a paid retry into a 402.
        let cacheKey = ReplayCache.key(paymentHeader: header)
        let binding = ReplayCache.Binding(method: incoming.method, pathAndQuery: incoming.pathAndQuery, bodySHA256: Sodium.sha256(incoming.body))
        switch replayCache.lookup(key: cacheKey, binding: binding, nowSeconds: clock.nowSeconds()) {
        case .hit(let entry):
            GatewayMetrics.request(outcome: "replayed")
            var headers = HTTPFields()
            for (n, v) in entry.headers { if let name = HTTPField.Name(n) { headers.append(HTTPField(name: name, value: v)) } }
            headers[HTTPField.Name("X-NanoPay-Replayed")!] = "true"
            return Response(status: .init(code: entry.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: entry.body)))
        case .otherRequest:
            GatewayMetrics.request(outcome: "payment_already_used")
            return paymentRequired(route, config: config, host: incoming.host, path: incoming.path, error: "payment_already_used",
                                   message: "this payment was made for another request (method, URL or body); sign a new one")
        case .miss: break
        }
        guard let serving = InFlight(self, cacheKey) else {
            GatewayMetrics.request(outcome: "payment_in_progress")
            return fail(409, "payment_in_progress", "a request with this payment is being served now; retry after it finished to get its response",
                        retryAfter: true)
        }
        guard let trusted = trust.trusted else { return notAttested() }
        let offers = offers(route, trusted: trusted, config: config)
        guard let payload = try? X402.decodeHeader(X402.PaymentPayload.self, from: header), let fields = try? payload.authorizationFields() else {
            return paymentRequired(route, config: config, host: incoming.host, path: incoming.path, error: "invalid_payment", message: "PAYMENT-SIGNATURE is not an x402 payment payload")
        }
        guard let offer = OfferMatch.matching(payload.accepted, in: [offers[0]]), OfferMatch.pays(fields, offer) else {
            GatewayMetrics.request(outcome: "offer_mismatch")
            return paymentRequired(route, config: config, host: incoming.host, path: incoming.path, error: "offer_mismatch",
                                   message: "the payment does not pay this route's offer (scheme, network, asset, amount and payTo must match)")
        }
        let upstream = route.upstream
        guard let lease = slots.acquire(upstream.name, limit: upstream.maxConcurrentRequests) else { return busy(route) }
        // The hold lasts the upstream's time plus a margin for the capture, but never past the
        // authorization's validBefore; the upstream gets what remains.
        let now = clock.nowSeconds()
        let validBefore = UInt64(fields.validBefore) ?? 0
        // Two seconds short of validBefore: nanopayd checks the hold's end in milliseconds, a
        // moment later than this whole-second reading.
        let remaining = validBefore > now + 2 ? validBefore - now - 2 : 0
        let holdSeconds = min(UInt64(upstream.totalTimeoutSeconds) + config.captureMarginSeconds, remaining, 3600)
        guard holdSeconds > config.captureMarginSeconds else {
            return paymentRequired(route, config: config, host: incoming.host, path: incoming.path, error: "authorization_expires_too_soon",
                                   message: "the authorization is valid too briefly for this route; sign a validBefore at least \(config.captureMarginSeconds + 3) s ahead (\(upstream.totalTimeoutSeconds + Int64(config.captureMarginSeconds) + 2) s lets the upstream use its full timeout)")
        }
        let reservations = ReservationClient(baseURL: config.serviceURL, gatewayToken: config.gatewayToken, httpClient: serviceHTTPClient)
        let reserved: ReservationClient.Reserved
        do {
            switch try await reservations.reserve(fields, timeoutSeconds: holdSeconds) {
            case .reserved(let r): reserved = r
            case .held(let id, let expiresAt):
                GatewayMetrics.request(outcome: "approval_required")
                return paymentRequired(route, config: config, host: incoming.host, path: incoming.path, error: "approval_required", message: "held for human approval",
                                       extra: ["approvalId": .string(id), "expiresAt": .number(Double(expiresAt))])
            case .refused(let code, let message, let status):
                GatewayMetrics.request(outcome: code)
                if code == "authorization_in_use" {
                    return fail(409, "replay_unavailable",
                                "this payment is already reserved, settled or held; if your earlier response was lost, this gateway no longer has it (it keeps responses up to \(config.replayCacheMaxEntryBytes) bytes, per gateway instance). Nothing more was charged; sign a new payment")
                }
                if status >= 500 || status == 401 || status == 403 {
                    logger.error("nanopayd refused the reservation", metadata: ["status": "\(status)", "code": "\(code)"])
                    return fail(503, "service_unavailable", "the payment service is unavailable; nothing was charged", retryAfter: true)
                }
                return paymentRequired(route, config: config, host: incoming.host, path: incoming.path, error: code, message: message)
            }
        } catch {
            logger.error("nanopayd unreachable", metadata: ["error": "\(error)"])
            return fail(503, "service_unavailable", "the payment service is unreachable; nothing was charged", retryAfter: true)
        }
        GatewayMetrics.paid(route: route.pattern.path)
        let settlement = X402.encodeHeader(X402.SettleResponse(success: true, transaction: reserved.reservationId, network: trusted.network, payer: fields.from,
                                                               amount: fields.amount, extra: ["status": .string("reserved"),
                                                                                              "expiresAt": .number(Double(reserved.expiresAt))]))
        let proof = PaymentProof(xPayment: header, xPaymentResponse: settlement, id: reserved.reservationId)
        let deadlineSeconds = Int64(holdSeconds - config.captureMarginSeconds)
        let paid = Paid(reserved: reserved, fields: fields, offer: offer, trusted: trusted, reservations: reservations,
                        cacheKey: cacheKey, binding: binding, validBefore: validBefore, serving: serving)
        return await forward(incoming, route: route, lease: lease, proof: proof, deadlineSeconds: deadlineSeconds, paid: paid)
    }

    /// The payment a forwarded request carries to the upstream.
    struct PaymentProof: Sendable {
        var xPayment: String
        var xPaymentResponse: String
        var id: String
    }

    /// A reserved payment waiting on the upstream's answer.
    struct Paid: Sendable {
        var reserved: ReservationClient.Reserved
        var fields: AuthorizationFields
        var offer: X402.PaymentRequirements
        var trusted: TrustedService
        var reservations: ReservationClient
        var cacheKey: [UInt8]
        var binding: ReplayCache.Binding
        var validBefore: UInt64
        /// Held until the response was sent (or kept): a retry meanwhile is `payment_in_progress`.
        var serving: InFlight
    }

    /// A payment being served; the key is released once, when the last reference goes.
    final class InFlight: Sendable {
        let gateway: Gateway
        let key: [UInt8]
        init?(_ gateway: Gateway, _ key: [UInt8]) {
            guard gateway.inFlight.withLock({ $0.insert(key).inserted }) else { return nil }
            self.gateway = gateway; self.key = key
        }
        deinit { _ = gateway.inFlight.withLock { $0.remove(key) } }
    }

    // MARK: - Answers

    func fail(_ status: Int, _ code: String, _ message: String, charged: Bool? = nil, retryAfter: Bool = false) -> Response {
        var body: [String: JSONValue] = ["error": .string(code), "message": .string(message)]
        if let charged { body["charged"] = .bool(charged) }
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        if retryAfter { headers[.retryAfter] = "1" }
        let data = (try? JSONEncoder().encode(body)) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func busy(_ route: GatewayConfig.Route) -> Response {
        GatewayMetrics.request(outcome: "busy")
        return fail(503, "upstream_busy", "upstream \(route.upstream.name) has \(route.upstream.maxConcurrentRequests) requests in flight; nothing was reserved, retry shortly",
                    retryAfter: true)
    }

    func notAttested() -> Response {
        fail(503, "service_not_attested", "the payment service is not attested right now; retry later", retryAfter: true)
    }

    /// The 402 of `route`, built from the config the request started under.
    func paymentRequired(_ route: GatewayConfig.Route, config: GatewayConfig, host: String?, path: String, error: String, message: String? = nil,
                         extra: [String: JSONValue] = [:]) -> Response {
        guard let trusted = trust.trusted else { return notAttested() }
        var extra = extra
        if route.ticket != nil {
            extra["ticket_endpoint"] = .string(config.serviceURL + "/tickets")
            extra["access_token_endpoint"] = .string(config.serviceURL + "/tickets/access-token")
        }
        return PaymentRequiredAnswer.make(host: host, path: path, offers: offers(route, trusted: trusted, config: config),
                                          description: route.description, error: error, message: message, extra: extra)
    }
}
