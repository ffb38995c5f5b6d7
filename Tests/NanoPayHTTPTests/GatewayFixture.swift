import AsyncHTTPClient
import Foundation
import NIOCore
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport

/// Everything a gateway test runs, as real processes on 127.0.0.1: nanopayd, the Python test
/// upstream (scripts/gateway-test-upstream.py) and nanopay-gateway, plus a funded buyer.
/// `stop()` ends them all.
final class GatewayFixture: @unchecked Sendable {
    static let hmacSecret = "hmac-secret-0123456789abcdef"
    static let plainSecret = "plain-secret-0123456789abcdef"
    static let signedSecrets = ["signed-secret-new-0123456789", "signed-secret-old-0123456789"]

    let dir = TempDirectory()
    var daemon: DaemonProcessTests.Daemon!
    var upstream: Process!
    var upstreamPort = 0
    var gateway: Process?
    var gatewayURL = ""
    var configPath: String { dir.path + "/gateway.yaml" }
    var daemonURL: String { daemon.url }
    var operatorClient: ServiceClient { ServiceClient(baseURL: daemon.url, operatorToken: "t") }
    let buyer: Buyer
    var root = ""
    var enclaveKey: [UInt8] = []

    init(buyerIndex: Int) { buyer = Buyer(index: buyerIndex) }

    /// Starts nanopayd (funding the buyer with `deposit`), the upstream, and the gateway with
    /// `config(upstreamPort)` as its routes and upstreams.
    static func start(buyerIndex: Int, deposit: String = "100000", totalTimeoutSeconds: Int = 10, captureMarginSeconds: Int = 5,
                      extraConfig: String = "", signingSecrets: [String] = signedSecrets) async throws -> GatewayFixture {
        let f = GatewayFixture(buyerIndex: buyerIndex)
        do {
            try await f.boot(deposit: deposit, totalTimeoutSeconds: totalTimeoutSeconds, captureMarginSeconds: captureMarginSeconds,
                             extraConfig: extraConfig, signingSecrets: signingSecrets)
        } catch {
            f.stop()
            throw error
        }
        return f
    }

    private func boot(deposit: String, totalTimeoutSeconds: Int, captureMarginSeconds: Int, extraConfig: String, signingSecrets: [String]) async throws {
        let f = self
        f.daemon = try await DaemonProcessTests.start(dataDir: f.dir.path + "/data", environment: [
            "NANOPAY_PLATFORM_SECRET": DaemonProcessTests.secretHex, "NANOPAY_OPERATOR_TOKEN": "t"])
        let body = #"{"address":"\#(f.buyer.address.raw)","amount":"\#(deposit)","publicKey":"\#(Hex.encode(f.buyer.keys.publicKey))","reference":"g1"}"#
        guard try await f.operatorClient.send(.POST, "/deposits", json: Data(body.utf8)).status == 200 else { throw ClientError("deposit failed") }
        f.root = try String(contentsOfFile: f.dir.path + "/data/enclave/platform-root.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let health = try await f.operatorClient.send(.GET, "/health").decode([String: String].self)
        f.enclaveKey = Hex.decode(health["enclavePublicKey"] ?? "", byteCount: 32) ?? []
        try f.startUpstream()
        try f.writeConfig(totalTimeoutSeconds: totalTimeoutSeconds, captureMarginSeconds: captureMarginSeconds, extra: extraConfig,
                          signingSecrets: signingSecrets)
        try await f.startGateway()
    }

    func startUpstream() throws {
        let p = Process()
        let portFile = dir.path + "/upstream.port"
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", TestBinaries.repositoryRoot.appendingPathComponent("scripts/gateway-test-upstream.py").path,
                       "--hmac-secret", Self.hmacSecret, "--plain-secret", Self.plainSecret,
                       "--signed-secrets", Self.signedSecrets.joined(separator: ","), "--port-file", portFile]
        let log = dir.path + "/upstream.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: log); p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        upstream = p
        // The port file appears (renamed into place) once the upstream listens.
        for _ in 0..<600 where p.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) { upstreamPort = port; return }
            usleep(50_000)
        }
        throw ClientError("the test upstream did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    /// Upstreams `hmac`, `plain`, `signed` and `open` on the test upstream, `dead` on a closed
    /// port; routes per auth mode, a free route, a ticket route and limits for the failure tests.
    func writeConfig(price: String = "1000", totalTimeoutSeconds: Int = 10, captureMarginSeconds: Int = 5, extra: String = "",
                     signingSecrets: [String] = GatewayFixture.signedSecrets) throws {
        let up = "http://127.0.0.1:\(upstreamPort)"
        let yaml = """
        name: test-gateway
        description: "Gateway under test: echo, slow and failing endpoints"
        service:
          url: \(daemon.url)
          gatewayTokenFile: data/gateway.token
          pinnedRoot: "\(root)"
          allowSoftwareAttestation: true
        payTo: "\(sellerAddress(7).raw)"
        limits:
          captureMarginSeconds: \(captureMarginSeconds)
          replayCacheMaxEntryBytes: 65536
        upstreams:
          hmac: {baseURL: "\(up)", totalTimeoutSeconds: \(totalTimeoutSeconds), auth: {mode: hmac, secrets: ["\(Self.hmacSecret)"]}}
          plain: {baseURL: "\(up)", totalTimeoutSeconds: \(totalTimeoutSeconds), auth: {mode: plaintext, secrets: ["\(Self.plainSecret)"]}}
          signed:
            baseURL: "\(up)"
            totalTimeoutSeconds: \(totalTimeoutSeconds)
            maxResponseBytes: 200000
            auth: {mode: signed, secrets: [\(signingSecrets.map { "\"\($0)\"" }.joined(separator: ", "))]}
          open: {baseURL: "\(up)", auth: {mode: signed, secrets: ["\(Self.signedSecrets[0])"]}}
          narrow: {baseURL: "\(up)", maxConcurrentRequests: 1, auth: {mode: signed, secrets: ["\(Self.signedSecrets[0])"]}}
          dead: {baseURL: "http://127.0.0.1:1", connectTimeoutSeconds: 2, auth: {mode: hmac, secrets: ["\(Self.hmacSecret)"]}}
        routes:
          - {method: GET, path: /signed/premium, upstream: signed, price: "5000", description: "Premium"}
          - {method: GET, path: /signed/report/*, upstream: signed, price: "\(price)", description: "Reports", ticket: {price: "3000", lifetimeSeconds: 60, uses: 3}}
          - {method: GET, path: /hmac/echo, upstream: hmac, price: "\(price)", description: "Echo (hmac)"}
          - {method: GET, path: /plain/echo, upstream: plain, price: "\(price)", description: "Echo (plaintext)"}
          - {method: "*", path: /signed/*, upstream: signed, price: "\(price)", description: "Signed upstream"}
          - {method: GET, path: /open/*, upstream: open, free: true, description: "Free"}
          - {method: GET, path: /narrow/*, upstream: narrow, price: "\(price)"}
          - {method: GET, path: /dead/echo, upstream: dead, price: "\(price)"}
        \(extra)
        """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func startGateway() async throws {
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...32_000)
            var text = try String(contentsOfFile: configPath, encoding: .utf8)
            if let r = text.range(of: "\nlisten:") { text = String(text[..<r.lowerBound]) }
            text += "\nlisten: {host: 127.0.0.1, port: \(port)}\n"
            try text.write(toFile: configPath, atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestBinaries.path("nanopay-gateway"))
            p.arguments = ["--config", configPath]
            let log = dir.path + "/gateway-\(port).log"
            FileManager.default.createFile(atPath: log, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: log); p.standardError = FileHandle(forWritingAtPath: log)
            try p.run()
            let url = "http://127.0.0.1:\(port)"
            for _ in 0..<200 where p.isRunning {
                if (try? await ServiceClient(baseURL: url, timeoutSeconds: 1).send(.GET, "/.well-known/x402"))?.status == 200 {
                    gateway = p; gatewayURL = url
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if p.isRunning { p.terminate(); p.waitUntilExit() }
        }
        throw ClientError("nanopay-gateway did not start: \(gatewayLog)")
    }

    var gatewayLog: String {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix("gateway-") }
            .compactMap { try? String(contentsOfFile: dir.path + "/" + $0, encoding: .utf8) }.joined(separator: "\n")
    }

    func stop() {
        if let upstream, upstream.isRunning { kill(upstream.processIdentifier, SIGKILL); upstream.waitUntilExit() }
        if let daemon, daemon.process.isRunning { daemon.process.terminate(); daemon.process.waitUntilExit() }
        if let gateway, gateway.isRunning { gateway.terminate(); gateway.waitUntilExit() }
        dir.remove()
    }

    var client: X402Buyer {
        X402Buyer(wallet: BuyerWallet(keys: buyer.keys, address: buyer.address), maxAmountPerPayment: 100_000, enclaveKey: enclaveKey)
    }

    func available() async throws -> String {
        try await operatorClient.send(.GET, "/balance/\(buyer.address.raw)").decode([String: String].self)["available"] ?? "?"
    }

    func upstreamHits() async throws -> Int {
        struct Hits: Decodable { var count: Int }
        return try await ServiceClient(baseURL: "http://127.0.0.1:\(upstreamPort)").send(.GET, "/__hits").decode(Hits.self).count
    }

    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var json: [String: JSONValue] { (try? JSONDecoder().decode([String: JSONValue].self, from: Data(body))) ?? [:] }
    }

    /// One request to the gateway, exactly as given.
    func send(_ path: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8] = [],
              using client: HTTPClient = .shared) async throws -> Answer {
        var request = HTTPClientRequest(url: gatewayURL + path)
        request.method = .init(rawValue: method)
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        if !body.isEmpty { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 32 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(buffer: data))
    }

    /// A PAYMENT-SIGNATURE for `path`, from its 402 (offer `index`).
    func paymentHeader(_ path: String, method: String = "GET", offerIndex: Int = 0) async throws -> (header: String, fields: AuthorizationFields) {
        let first = try await send(path, method: method)
        guard first.status == 402, let h = first.header("PAYMENT-REQUIRED") else { throw ClientError("expected 402, got \(first.status): \(first.text)") }
        let required = try X402.decodeHeader(X402.PaymentRequired.self, from: h)
        let offer = required.accepts[offerIndex]
        let fields = try client.authorize(offer, nowSeconds: UInt64(Date().timeIntervalSince1970))
        return (X402.encodeHeader(X402.PaymentPayload(accepted: offer, authorization: fields, resource: required.resource)), fields)
    }

    /// Sends SIGHUP to the gateway and waits for its log to say what happened.
    func reload(expect: String) async throws {
        let before = gatewayLog.components(separatedBy: expect).count
        kill(gateway!.processIdentifier, SIGHUP)
        for _ in 0..<100 {
            if gatewayLog.components(separatedBy: expect).count > before { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClientError("no '\(expect)' after SIGHUP: \(gatewayLog)")
    }
}
