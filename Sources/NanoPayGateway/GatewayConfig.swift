import Foundation
import NanoPayCore
import Yams

/// `gateway.yaml`, as written (examples/gateway.yaml documents every key). `GatewayConfig.load`
/// decodes it and checks it whole: a config with any error is refused, never half applied.
public struct GatewayConfigFile: Decodable, Sendable {
    public struct Listen: Decodable, Sendable {
        public var host: String?
        public var port: Int?
    }

    public struct Service: Decodable, Sendable {
        public var url: String
        /// File holding nanopayd's gateway token (nanopayd writes DATA/gateway.token).
        public var gatewayTokenFile: String
        /// The platform root to pin (hex), as `nanopay attest root` prints it.
        public var pinnedRoot: String
        public var allowSoftwareAttestation: Bool?
        public var expectedMeasurement: String?
    }

    public struct Limits: Decodable, Sendable {
        public var maxRequestBodyBytes: Int?
        public var replayCacheMaxEntries: Int?
        public var replayCacheMaxBytes: Int?
        public var replayCacheMaxEntryBytes: Int?
        /// Added to an upstream's total timeout for the reservation's lifetime, so a capture after
        /// the longest allowed answer still finds its hold.
        public var captureMarginSeconds: UInt64?
        /// A buyer connection with nothing to read or write for this long is closed.
        public var idleTimeoutSeconds: Int64?
        /// Longest a delivered response is kept for a lost-response retry.
        public var replayCacheMaxAgeSeconds: UInt64?
    }

    public struct Auth: Decodable, Sendable {
        public var mode: String?
        /// Newest first: the gateway signs with the first; upstreams accept any during a rotation.
        public var secrets: [String]?
        /// Or read them from a file, one per line (kept out of the config).
        public var secretsFile: String?
    }

    public struct Upstream: Decodable, Sendable {
        public var baseURL: String
        public var connectTimeoutSeconds: Int64?
        public var totalTimeoutSeconds: Int64?
        public var maxResponseBytes: Int?
        public var maxConcurrentRequests: Int?
        public var auth: Auth?
    }

    public struct Ticket: Decodable, Sendable {
        public var price: String
        public var lifetimeSeconds: UInt64?
        public var uses: UInt32?
    }

    public struct Route: Decodable, Sendable {
        public var method: String
        public var path: String
        public var upstream: String
        public var price: String?
        public var free: Bool?
        public var payTo: String?
        public var description: String?
        /// Ticket mode: the route also accepts a ticket bought at nanopayd (`Authorization: Bearer`).
        public var ticket: Ticket?
    }

    public var name: String?
    public var version: String?
    public var description: String?
    /// The URL buyers reach the gateway at (for discovery and SKILL.md).
    public var publicURL: String?
    public var listen: Listen?
    public var service: Service
    public var payTo: String?
    public var limits: Limits?
    public var upstreams: [String: Upstream]
    public var routes: [Route]
}

/// Why a config is refused: each message names the key.
public struct GatewayConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// The checked config the gateway runs on. Immutable: a reload builds a new one and swaps it in,
/// so a request in flight finishes under the config it started with.
public struct GatewayConfig: Sendable {
    public enum AuthMode: String, Sendable { case hmac, plaintext, signed }

    public struct Upstream: Sendable {
        public var name: String
        /// scheme://host[:port] plus an optional path prefix, without a trailing slash.
        public var baseURL: String
        public var connectTimeoutSeconds: Int64
        public var totalTimeoutSeconds: Int64
        public var maxResponseBytes: Int
        public var maxConcurrentRequests: Int
        public var authMode: AuthMode
        public var secrets: [[UInt8]]
    }

    public struct Route: Sendable {
        public var pattern: TicketScope.Entry
        public var upstream: Upstream
        /// nil: a free route.
        public var price: Amount?
        public var payTo: TONAddress?
        public var description: String
        public var ticket: TicketTerms?
        public var ticketPrice: Amount?
        public var isFree: Bool { price == nil }
    }

    public var name: String
    public var version: String
    public var description: String
    public var publicURL: String
    public var host: String
    public var port: Int
    public var serviceURL: String
    public var gatewayToken: String
    public var pinnedRoot: String
    public var allowSoftwareAttestation: Bool
    public var expectedMeasurement: String?
    public var maxRequestBodyBytes: Int
    public var replayCacheMaxEntries: Int
    public var replayCacheMaxBytes: Int
    public var replayCacheMaxEntryBytes: Int
    public var captureMarginSeconds: UInt64
    public var idleTimeoutSeconds: Int64
    public var replayCacheMaxAgeSeconds: UInt64
    public var upstreams: [String: Upstream]
    public var routes: [Route]

    /// Paths the gateway answers itself; no route may claim them.
    public static let discoveryPath = "/.well-known/x402"
    public static let metricsPath = "/metrics"

    /// Reads and checks `path`. Relative file names inside it are relative to its folder.
    public static func load(path: String) throws(GatewayConfigError) -> GatewayConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw GatewayConfigError("\(path): cannot be read (\(error.localizedDescription))") }
        let file: GatewayConfigFile
        do { file = try YAMLDecoder().decode(GatewayConfigFile.self, from: text) } catch {
            throw GatewayConfigError("\(path): \(Self.describe(error))")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try GatewayConfig(file, relativeTo: folder)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let c): return "missing key \((c.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
            return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        default: return "not valid YAML (\(error))"
        }
    }

    public init(_ file: GatewayConfigFile, relativeTo folder: String) throws(GatewayConfigError) {
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : folder + "/" + p }
        func readFile(_ p: String, _ key: String) throws(GatewayConfigError) -> String {
            do { return try String(contentsOfFile: resolve(p), encoding: .utf8) } catch { throw GatewayConfigError("\(key): \(resolve(p)) cannot be read") }
        }
        name = file.name ?? "nanopay-gateway"
        version = file.version ?? "1.0.0"
        description = file.description ?? "An HTTP API paid per request with x402 through CyberNanoPay"
        host = file.listen?.host ?? "127.0.0.1"
        port = file.listen?.port ?? 8402
        guard (0...65535).contains(port) else { throw GatewayConfigError("listen.port must be 0 to 65535") }
        publicURL = Self.trimSlash(file.publicURL ?? "http://\(host):\(port)")
        serviceURL = Self.trimSlash(file.service.url)
        guard Self.isHTTPURL(serviceURL) else { throw GatewayConfigError("service.url must be an http(s) URL") }
        gatewayToken = try readFile(file.service.gatewayTokenFile, "service.gatewayTokenFile").trimmingCharacters(in: .whitespacesAndNewlines)
        guard gatewayToken.utf8.count >= 16 else { throw GatewayConfigError("service.gatewayTokenFile: the token is shorter than 16 characters") }
        guard let root = Hex.decode(file.service.pinnedRoot), !root.isEmpty else {
            throw GatewayConfigError("service.pinnedRoot must be the hex root `nanopay attest root` prints")
        }
        pinnedRoot = file.service.pinnedRoot
        allowSoftwareAttestation = file.service.allowSoftwareAttestation ?? false
        expectedMeasurement = file.service.expectedMeasurement
        let limits = file.limits
        maxRequestBodyBytes = limits?.maxRequestBodyBytes ?? 1 << 20
        replayCacheMaxEntries = limits?.replayCacheMaxEntries ?? 10_000
        replayCacheMaxBytes = limits?.replayCacheMaxBytes ?? 64 << 20
        replayCacheMaxEntryBytes = limits?.replayCacheMaxEntryBytes ?? 1 << 20
        captureMarginSeconds = limits?.captureMarginSeconds ?? 10
        idleTimeoutSeconds = limits?.idleTimeoutSeconds ?? 60
        replayCacheMaxAgeSeconds = limits?.replayCacheMaxAgeSeconds ?? 600
        guard (1...3600).contains(idleTimeoutSeconds) else { throw GatewayConfigError("limits.idleTimeoutSeconds must be 1 to 3600") }
        guard (1...86_400).contains(replayCacheMaxAgeSeconds) else { throw GatewayConfigError("limits.replayCacheMaxAgeSeconds must be 1 to 86400") }
        guard maxRequestBodyBytes >= 0, maxRequestBodyBytes <= 1 << 30 else { throw GatewayConfigError("limits.maxRequestBodyBytes must be 0 to 1 GiB") }
        guard replayCacheMaxEntries >= 0, replayCacheMaxBytes >= 0, replayCacheMaxEntryBytes >= 0 else {
            throw GatewayConfigError("limits.replayCache* must not be negative")
        }
        guard (1...300).contains(captureMarginSeconds) else { throw GatewayConfigError("limits.captureMarginSeconds must be 1 to 300") }

        var upstreams: [String: Upstream] = [:]
        for (name, u) in file.upstreams {
            let key = "upstreams.\(name)"
            let base = Self.trimSlash(u.baseURL)
            guard Self.isHTTPURL(base), !base.contains("?"), !base.contains("#") else { throw GatewayConfigError("\(key).baseURL must be an http(s) URL without query") }
            let connect = u.connectTimeoutSeconds ?? 10, total = u.totalTimeoutSeconds ?? 600
            guard (1...600).contains(connect) else { throw GatewayConfigError("\(key).connectTimeoutSeconds must be 1 to 600") }
            guard (1...3000).contains(total) else { throw GatewayConfigError("\(key).totalTimeoutSeconds must be 1 to 3000") }
            let maxResponse = u.maxResponseBytes ?? 10 << 20
            guard (1...(1 << 30)).contains(maxResponse) else { throw GatewayConfigError("\(key).maxResponseBytes must be 1 to 1 GiB") }
            let concurrency = u.maxConcurrentRequests ?? 64
            guard (1...100_000).contains(concurrency) else { throw GatewayConfigError("\(key).maxConcurrentRequests must be 1 to 100000") }
            guard let mode = AuthMode(rawValue: u.auth?.mode ?? "hmac") else { throw GatewayConfigError("\(key).auth.mode must be hmac, plaintext or signed") }
            var secrets = u.auth?.secrets ?? []
            if let f = u.auth?.secretsFile {
                secrets += try readFile(f, "\(key).auth.secretsFile").split(whereSeparator: \.isNewline)
                    .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            guard !secrets.isEmpty else { throw GatewayConfigError("\(key).auth needs at least one secret (secrets or secretsFile)") }
            guard secrets.allSatisfy({ $0.utf8.count >= 16 && $0.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f } }) else {
                throw GatewayConfigError("\(key).auth: every secret must be at least 16 printable ASCII characters (they travel in a header in plaintext mode)")
            }
            upstreams[name] = Upstream(name: name, baseURL: base, connectTimeoutSeconds: connect, totalTimeoutSeconds: total,
                                       maxResponseBytes: maxResponse, maxConcurrentRequests: concurrency, authMode: mode,
                                       secrets: secrets.map { Array($0.utf8) })
        }
        self.upstreams = upstreams

        let defaultPayTo: TONAddress?
        do { defaultPayTo = try file.payTo.map { try TONAddress(parsing: $0) } } catch { throw GatewayConfigError("payTo: \(error)") }
        var routes: [Route] = []
        for (i, r) in file.routes.enumerated() {
            let key = "routes[\(i)]"
            let scope: TicketScope
            do { scope = try TicketScope(parsing: "\(r.method.uppercased()):\(r.path)") } catch { throw GatewayConfigError("\(key): \(error.message)") }
            let pattern = scope.entries[0]
            guard scope.entries.count == 1 else { throw GatewayConfigError("\(key): one method and one path per route") }
            for own in [Self.discoveryPath, Self.metricsPath] where pattern.covers(method: pattern.method == "*" ? "GET" : pattern.method, path: own) {
                throw GatewayConfigError("\(key).path: \(own) is answered by the gateway itself")
            }
            guard let upstream = upstreams[r.upstream] else { throw GatewayConfigError("\(key).upstream: no upstream named \(r.upstream)") }
            var route = Route(pattern: pattern, upstream: upstream, price: nil, payTo: nil, description: r.description ?? "", ticket: nil, ticketPrice: nil)
            switch (r.price, r.free ?? false) {
            case (nil, true): break
            case (let p?, false):
                do { route.price = try Amount(parsing: p, allowZero: false) } catch { throw GatewayConfigError("\(key).price: \(error)") }
                do { route.payTo = try r.payTo.map { try TONAddress(parsing: $0) } ?? defaultPayTo } catch { throw GatewayConfigError("\(key).payTo: \(error)") }
                guard route.payTo != nil else { throw GatewayConfigError("\(key): a paid route needs payTo (on the route or at the top)") }
            default: throw GatewayConfigError("\(key): set either price or free: true")
            }
            if let t = r.ticket {
                guard let payTo = route.payTo else { throw GatewayConfigError("\(key).ticket: a free route sells no tickets") }
                do {
                    route.ticketPrice = try Amount(parsing: t.price, allowZero: false)
                    route.ticket = try TicketTerms(audience: payTo.raw, scope: scope, lifetimeSeconds: t.lifetimeSeconds ?? TicketTerms.defaultLifetimeSeconds,
                                                   uses: t.uses).validated()
                } catch { throw GatewayConfigError("\(key).ticket: \(error)") }
            }
            guard !routes.contains(where: { $0.pattern == pattern }) else { throw GatewayConfigError("\(key): \(r.method) \(r.path) is listed twice") }
            routes.append(route)
        }
        guard !routes.isEmpty else { throw GatewayConfigError("routes: list at least one route") }
        self.routes = routes
    }

    /// The most specific route that covers the request, whatever the config's order: an exact
    /// path before any prefix, a longer prefix before a shorter one, a named method before `*`.
    /// An exact path also covers itself with one trailing slash (`/api/premium/`), which many
    /// upstreams serve as the same resource: it must not fall to a cheaper `/api/*`.
    public func route(method: String, path: String) -> Route? {
        var best: (route: Route, rank: (Int, Int, Int))?
        for route in routes {
            let p = route.pattern
            let exact = !p.path.hasSuffix("*")
            let covers = p.covers(method: method, path: path) || (exact && path == p.path + "/" && p.covers(method: method, path: p.path))
            // Methods are case-sensitive (RFC 9110): `get` is not GET, and is not forwarded as one.
            guard covers, p.method == "*" || p.method == method else { continue }
            let rank = (exact ? 1 : 0, p.path.count, p.method == "*" ? 0 : 1)
            if best == nil || rank > best!.rank { best = (route, rank) }
        }
        return best?.route
    }

    static func trimSlash(_ s: String) -> String { s.hasSuffix("/") ? String(s.dropLast()) : s }
    static func isHTTPURL(_ s: String) -> Bool {
        guard let u = URL(string: s), let scheme = u.scheme, scheme == "http" || scheme == "https", u.host != nil else { return false }
        return true
    }
}
