import Foundation
import NanoPayCore
import NanoPayGateway
import NanoPayTestSupport
import Testing

/// The gateway's parts that need no processes: the signed mode (and its Python verifier), the
/// config checks, the replay cache's bounds and the path check.
@Suite struct GatewayUnitTests {
    let secret = Array("signed-secret-new-0123456789".utf8), previous = Array("signed-secret-old-0123456789".utf8)

    @Test func theSignedModeBindsMethodPathBodyTimeAndPaymentAndRotates() {
        let now: UInt64 = 1_800_000_000
        let sig = GatewaySignature.sign(secret: secret, method: "POST", pathAndQuery: "/a?b=1", body: [1, 2], timestamp: now, paymentId: "res_1",
                                        requestId: "r1")
        func ok(_ secrets: [[UInt8]], method: String = "POST", path: String = "/a?b=1", body: [UInt8] = [1, 2], t: String = "1800000000",
                id: String = "res_1", request: String = "r1", signature: String? = nil, at: UInt64 = now) -> Bool {
            GatewaySignature.verify(secrets: secrets, method: method, pathAndQuery: path, body: body, timestamp: t, paymentId: id,
                                    requestId: request, signature: signature ?? sig, now: at)
        }
        #expect(ok([secret]))
        #expect(ok([Array("another-secret-0123456789".utf8), secret]), "the previous secret still verifies during a rotation")
        #expect(!ok([previous]))
        #expect(!ok([secret], method: "GET") && !ok([secret], path: "/a?b=2") && !ok([secret], body: [1, 3]))
        #expect(!ok([secret], id: "res_2") && !ok([secret], t: "1800000001") && !ok([secret], request: "r2"))
        #expect(!ok([secret], at: now + 301) && !ok([secret], at: now - 301) && ok([secret], at: now + 300))
        #expect(!ok([secret], signature: String(sig.dropFirst(3))) && !ok([secret], signature: "v1=!!"))
    }

    @Test func thePythonVerifierInTheDocsAgreesWithTheGateway() throws {
        let now = UInt64(Date().timeIntervalSince1970)
        let sig = GatewaySignature.sign(secret: previous, method: "PUT", pathAndQuery: "/x/y?z=%20", body: Array("body".utf8), timestamp: now, paymentId: "res_9",
                                        requestId: "0f0f")
        let folder = TestBinaries.repositoryRoot.appendingPathComponent("examples/upstream").path
        func python(_ path: String, _ body: String) throws -> String {
            let script = """
            import sys; sys.path.insert(0, \(String(reflecting: folder)))
            from verify_gateway_signature import verify_gateway_signature as v
            h = {"X-NanoPay-Timestamp": "\(now)", "X-NanoPay-Payment-Id": "res_9", "X-NanoPay-Request-Id": "0f0f", "X-NanoPay-Signature": \(String(reflecting: sig))}
            print(v([b"signed-secret-new-0123456789", b"signed-secret-old-0123456789"], "PUT", \(String(reflecting: path)), \(String(reflecting: body)).encode(), h))
            """
            return try runProcess("python3", ["-c", script]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try python("/x/y?z=%20", "body") == "res_9")
        #expect(try python("/x/y?z=%21", "body") == "None")
        #expect(try python("/x/y?z=%20", "bodY") == "None")
        let lines = try String(contentsOfFile: folder + "/verify_gateway_signature.py", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count <= 30, "the documented verifier stays at most 30 lines")
    }

    func load(_ yaml: String) throws -> GatewayConfig {
        let dir = TempDirectory()
        defer { dir.remove() }
        try "gateway-token-0123456789abcdef".write(toFile: dir.path + "/token", atomically: true, encoding: .utf8)
        try yaml.write(toFile: dir.path + "/g.yaml", atomically: true, encoding: .utf8)
        return try GatewayConfig.load(path: dir.path + "/g.yaml")
    }

    static let base = """
    service: {url: "http://127.0.0.1:4030", gatewayTokenFile: token, pinnedRoot: "abcd"}
    payTo: "0:0000000000000000000000000000000000000000000000000000000000000001"
    upstreams:
      api: {baseURL: "http://127.0.0.1:9000", auth: {mode: signed, secrets: ["0123456789abcdef0123"]}}

    """

    @Test func theExampleConfigLoadsWithItsDefaults() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var text = try String(contentsOfFile: TestBinaries.repositoryRoot.appendingPathComponent("examples/gateway.yaml").path, encoding: .utf8)
        text = text.replacingOccurrences(of: "PASTE-THE-ROOT-HEX-HERE", with: "abcd").replacingOccurrences(of: "data/gateway.token", with: "token")
        try "gateway-token-0123456789abcdef".write(toFile: dir.path + "/token", atomically: true, encoding: .utf8)
        try text.write(toFile: dir.path + "/g.yaml", atomically: true, encoding: .utf8)
        let config = try GatewayConfig.load(path: dir.path + "/g.yaml")
        #expect(config.routes.count == 3 && config.upstreams["weather"]?.totalTimeoutSeconds == 600)
        #expect(config.upstreams["weather"]?.maxResponseBytes == 10 << 20 && config.upstreams["weather"]?.authMode == .signed)
        #expect(config.route(method: "GET", path: "/forecast/paris")?.price?.description == "1000")
        #expect(config.route(method: "GET", path: "/forecast/paris")?.ticket?.uses == 50)
        #expect(config.route(method: "POST", path: "/forecast/paris") == nil && config.route(method: "GET", path: "/alerts") == nil)
        #expect(config.route(method: "GET", path: "/health")?.isFree == true)
        #expect(config.gatewayToken == "gateway-token-0123456789abcdef")
    }

    @Test(arguments: [
        ("routes: []", "routes: list at least one route"),
        ("routes: [{method: GET, path: /a, upstream: nope, price: \"1\"}]", "no upstream named nope"),
        ("routes: [{method: GET, path: /a, upstream: api}]", "set either price or free: true"),
        ("routes: [{method: GET, path: /a, upstream: api, price: \"1\", free: true}]", "set either price or free: true"),
        ("routes: [{method: GET, path: /a, upstream: api, price: \"0\"}]", "routes[0].price"),
        ("routes: [{method: GET, path: /a, upstream: api, price: \"1.5\"}]", "routes[0].price"),
        ("routes: [{method: GET, path: a, upstream: api, free: true}]", "routes[0]"),
        ("routes: [{method: GET, path: /metrics, upstream: api, free: true}]", "answered by the gateway itself"),
        ("routes: [{method: GET, path: /.well-known/*, upstream: api, free: true}]", "answered by the gateway itself"),
        ("routes: [{method: GET, path: /a, upstream: api, free: true}, {method: GET, path: /a, upstream: api, free: true}]", "listed twice"),
        ("routes: [{method: GET, path: /a, upstream: api, free: true, ticket: {price: \"1\"}}]", "a free route sells no tickets"),
        ("routes: [{method: GET, path: /a, upstream: api, price: \"1\", ticket: {price: \"1\", lifetimeSeconds: 7200}}]", "routes[0].ticket"),
        ("routes: [{method: GET, path: /a, upstream: api, price: \"1\", payTo: nope}]", "routes[0].payTo"),
        ("routes: [{method: GET, path: /a, upstream: api, price: \"1\"}]\nlimits: {captureMarginSeconds: 0}", "captureMarginSeconds"),
        ("routes: [oops", "not valid YAML"),
        ("route: []", "missing key routes"),
    ])
    func aBrokenConfigIsRefusedNamingTheKey(_ tail: String, _ message: String) throws {
        #expect(throws: GatewayConfigError.self) { try load(Self.base + tail) }
        do { _ = try load(Self.base + tail); Issue.record("accepted: \(tail)") } catch { #expect("\(error)".contains(message), "\(error)") }
    }

    @Test(arguments: [
        ("{baseURL: \"ftp://x\", auth: {secrets: [\"0123456789abcdef0123\"]}}", "baseURL"),
        ("{baseURL: \"http://x\", auth: {mode: magic, secrets: [\"0123456789abcdef0123\"]}}", "auth.mode"),
        ("{baseURL: \"http://x\", auth: {mode: hmac}}", "at least one secret"),
        ("{baseURL: \"http://x\", auth: {secrets: [\"short\"]}}", "at least 16"),
        ("{baseURL: \"http://x\", totalTimeoutSeconds: 0, auth: {secrets: [\"0123456789abcdef0123\"]}}", "totalTimeoutSeconds"),
        ("{baseURL: \"http://x\", maxResponseBytes: 0, auth: {secrets: [\"0123456789abcdef0123\"]}}", "maxResponseBytes"),
        ("{baseURL: \"http://x\", maxConcurrentRequests: 0, auth: {secrets: [\"0123456789abcdef0123\"]}}", "maxConcurrentRequests"),
    ])
    func aBrokenUpstreamIsRefused(_ upstream: String, _ message: String) throws {
        let yaml = Self.base.replacingOccurrences(of: "  api: {baseURL: \"http://127.0.0.1:9000\", auth: {mode: signed, secrets: [\"0123456789abcdef0123\"]}}",
                                                  with: "  api: \(upstream)") + "routes: [{method: GET, path: /a, upstream: api, free: true}]"
        do { _ = try load(yaml); Issue.record("accepted: \(upstream)") } catch { #expect("\(error)".contains(message), "\(error)") }
    }

    @Test func theReplayCacheIsBoundedAndBindsTheRequest() {
        let cache = ReplayCache(maxEntries: 3, maxBytes: 1000, maxEntryBytes: 400)
        let binding = ReplayCache.Binding(method: "GET", pathAndQuery: "/a", bodySHA256: Sodium.sha256([]))
        func entry(_ size: Int, validBefore: UInt64 = 200) -> ReplayCache.Entry {
            ReplayCache.Entry(binding: binding, validBefore: validBefore, status: 200, headers: [], body: [UInt8](repeating: 1, count: size))
        }
        #expect(!cache.insert(key: [1], entry(401), nowSeconds: 100), "over the per-entry limit")
        #expect(cache.insert(key: [1], entry(300, validBefore: 150), nowSeconds: 100))
        #expect(cache.insert(key: [2], entry(300), nowSeconds: 100) && cache.insert(key: [3], entry(300), nowSeconds: 100))
        #expect(cache.insert(key: [4], entry(300), nowSeconds: 100))
        #expect(cache.count == 3 && cache.totalBytes <= 1000, "the oldest entry went first")
        if case .miss = cache.lookup(key: [1], binding: binding, nowSeconds: 100) {} else { Issue.record("key 1 should be gone") }
        if case .hit = cache.lookup(key: [4], binding: binding, nowSeconds: 100) {} else { Issue.record("key 4 should be there") }
        var other = binding; other.pathAndQuery = "/a?x"
        if case .otherRequest = cache.lookup(key: [4], binding: other, nowSeconds: 100) {} else { Issue.record("another URL") }
        if case .miss = cache.lookup(key: [4], binding: binding, nowSeconds: 200) {} else { Issue.record("expired at validBefore") }
        #expect(!ReplayCache(maxEntries: 0, maxBytes: 10, maxEntryBytes: 10).insert(key: [1], entry(1), nowSeconds: 1))
        // A far validBefore buys no priority, and no entry outlives maxAgeSeconds.
        let fifo = ReplayCache(maxEntries: 2, maxBytes: 1000, maxEntryBytes: 400, maxAgeSeconds: 600)
        fifo.insert(key: [1], entry(10, validBefore: 1_000_000_000), nowSeconds: 100)
        fifo.insert(key: [2], entry(10, validBefore: 200), nowSeconds: 100)
        fifo.insert(key: [3], entry(10, validBefore: 200), nowSeconds: 100)
        if case .miss = fifo.lookup(key: [1], binding: binding, nowSeconds: 100) {} else { Issue.record("the oldest goes, whatever its validBefore") }
        fifo.insert(key: [4], entry(10, validBefore: 1_000_000_000), nowSeconds: 100)
        if case .hit = fifo.lookup(key: [4], binding: binding, nowSeconds: 699) {} else { Issue.record("kept for maxAgeSeconds") }
        if case .miss = fifo.lookup(key: [4], binding: binding, nowSeconds: 700) {} else { Issue.record("not kept past maxAgeSeconds") }
    }

    @Test func theMostSpecificRouteWinsWhateverTheOrder() throws {
        let config = try load(Self.base + """
        routes:
          - {method: "*", path: /api/*, upstream: api, price: "1"}
          - {method: GET, path: /api/premium, upstream: api, price: "100"}
          - {method: GET, path: /api/premium/*, upstream: api, price: "50"}
          - {method: POST, path: /api/*, upstream: api, price: "2"}
        """)
        #expect(config.route(method: "GET", path: "/api/premium")?.price?.description == "100")
        #expect(config.route(method: "GET", path: "/api/premium/")?.price?.description == "100", "one trailing slash is the same resource")
        #expect(config.route(method: "GET", path: "/api/premium/x")?.price?.description == "50")
        #expect(config.route(method: "GET", path: "/api/other")?.price?.description == "1")
        #expect(config.route(method: "POST", path: "/api/other")?.price?.description == "2", "a named method before *")
        #expect(config.route(method: "GET", path: "/apiary") == nil)
    }

    @Test(arguments: [("/a/b", true), ("/", true), ("/search/new%20york", true), ("/a%C3%A9", true), ("/a/%70remium", false), ("/a/%7e", false),
                      ("/a/..;/b", false), ("/a;x=1", false), ("/a%2", false), ("/a%zz", false), ("/a/../b", false), ("/a/./b", false), ("/a//b", false),
                      ("/a/%2e%2e/b", false), ("/a/%2E/b", false), ("/a%2fb", false), ("/a%5Cb", false), ("/a\\b", false), ("/..", false), ("a", false)])
    func pathsAnUpstreamCouldReadDifferentlyAreRefused(_ path: String, _ plain: Bool) {
        #expect(Gateway.isPlainPath(path) == plain)
    }
}
