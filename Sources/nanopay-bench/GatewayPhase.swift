import Foundation
import NanoPayCore
#if canImport(Glibc)
import Glibc
#endif

/// The gateway phase: paid GETs through nanopay-gateway to a trivial upstream, compared with
/// paying nanopayd's `/verify` directly. Each paid request costs the gateway one reserve and one
/// capture at nanopayd (two requests, two commits) where `/verify` is one.
extension NanoPayBench {
    struct GatewayFigures {
        var result: LoadRun.Result
        /// Payments made directly at /verify for the one-connection comparison.
        var extraDirectItems: UInt64
        var report: [String: Any]
    }

    func gatewayPhase(binary: String, server: ServerProcess, work: String, count: Int, direct: LoadRun.Result,
                      directCPUMicros: Double) throws -> GatewayFigures {
        let upstream = try TrivialUpstream()
        defer { upstream.stop() }
        let port = try ServerProcess.freePort()
        let root = try String(contentsOfFile: work + "/data/enclave/platform-root.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let config = """
        listen: {host: 127.0.0.1, port: \(port)}
        service: {url: "http://127.0.0.1:\(server.port)", gatewayTokenFile: data/gateway.token, pinnedRoot: "\(root)", allowSoftwareAttestation: true}
        payTo: "\(Self.seller.raw)"
        limits: {captureMarginSeconds: 5}
        upstreams:
          trivial: {baseURL: "http://127.0.0.1:\(upstream.port)", totalTimeoutSeconds: 30, maxConcurrentRequests: 10000,
                    auth: {mode: signed, secrets: ["bench-secret-0123456789abcdef"]}}
        routes:
          - {method: GET, path: /bench, upstream: trivial, price: "1"}
        """
        try config.write(toFile: work + "/gateway.yaml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", work + "/gateway.yaml"]
        process.environment = ProcessInfo.processInfo.environment.merging(["LOG_LEVEL": "warning"]) { $1 }
        _ = FileManager.default.createFile(atPath: work + "/gateway.log", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: work + "/gateway.log")
        process.standardError = FileHandle(forWritingAtPath: work + "/gateway.log")
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGTERM); process.waitUntilExit() } }
        try ServerProcess.waitUntilAnswering(process, port: port, path: "/.well-known/x402", name: "nanopay-gateway", log: work + "/gateway.log")
        log("signing \(count) authorizations for the gateway…")
        let requests = try Self.sign(count: count, accounts: accounts).map { json -> [UInt8] in
            let fields = try JSONDecoder().decode(AuthorizationFields.self, from: Data(json.utf8))
            let header = X402.encodeHeader(X402.PaymentPayload(accepted: nil, authorization: fields))
            return Array("GET /bench HTTP/1.1\r\nHost: bench\r\nPAYMENT-SIGNATURE: \(header)\r\n\r\n".utf8)
        }
        // Unloaded: one connection each, so the figure is the latency the gateway adds, not queueing.
        let quietSeconds = min(duration, 2)
        let quiet = Self.sign(count: Int(quietSeconds * 4_000) + 2, accounts: accounts)
        let quietDirect = quiet[..<(quiet.count / 2)].map {
            Array("POST /verify HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: \($0.utf8.count)\r\n\r\n\($0)".utf8)
        }
        let quietGateway = try quiet[(quiet.count / 2)...].map { json -> [UInt8] in
            let fields = try JSONDecoder().decode(AuthorizationFields.self, from: Data(json.utf8))
            return Array("GET /bench HTTP/1.1\r\nHost: bench\r\nPAYMENT-SIGNATURE: \(X402.encodeHeader(X402.PaymentPayload(accepted: nil, authorization: fields)))\r\n\r\n".utf8)
        }
        let ok = Array("ok".utf8)
        let oneDirect = try LoadRun(requests: quietDirect).run(port: server.port, connections: 1, seconds: quietSeconds)
        try Self.require(oneDirect, "one connection, direct")
        let oneGateway = try LoadRun(requests: quietGateway).run(port: port, connections: 1, seconds: quietSeconds) { $0 == ok }
        try Self.require(oneGateway, "one connection, gateway")
        log(String(format: "one connection: /verify p50 %.2f ms p99 %.2f ms; through the gateway p50 %.2f ms p99 %.2f ms (adds %.2f ms at p50)",
                   oneDirect.latency.quantileMilliseconds(0.5), oneDirect.latency.quantileMilliseconds(0.99),
                   oneGateway.latency.quantileMilliseconds(0.5), oneGateway.latency.quantileMilliseconds(0.99),
                   oneGateway.latency.quantileMilliseconds(0.5) - oneDirect.latency.quantileMilliseconds(0.5)))

        let pid = process.processIdentifier
        func gatewayCPU() -> Double { ServerProcess.readStat("/proc/\(pid)/stat")?.cpuSeconds ?? 0 }
        let gw0 = gatewayCPU(), np0 = server.cpuSeconds
        let run = try LoadRun(requests: requests).run(port: port, connections: concurrency, seconds: duration) { $0 == ok }
        let gatewayMicros = (gatewayCPU() - gw0) / Double(max(run.items, 1)) * 1e6
        let nanopaydMicros = (server.cpuSeconds - np0) / Double(max(run.items, 1)) * 1e6
        try Self.require(run, "gateway")
        let rate = Double(run.items) / run.seconds, directRate = Double(direct.items) / direct.seconds
        log(String(format: "GET through nanopay-gateway (closed, %d conns): %.0f payments/s (%.2fx direct /verify)  p50 %.2f ms  p99 %.2f ms  (+%.2f / +%.2f ms over /verify)",
                   concurrency, rate, rate / directRate, run.latency.quantileMilliseconds(0.5), run.latency.quantileMilliseconds(0.99),
                   run.latency.quantileMilliseconds(0.5) - direct.latency.quantileMilliseconds(0.5),
                   run.latency.quantileMilliseconds(0.99) - direct.latency.quantileMilliseconds(0.99)))
        log(String(format: "  CPU per paid request: gateway %.0f us, nanopayd %.0f us (reserve + capture; %.0f us for one /verify)",
                   gatewayMicros, nanopaydMicros, directCPUMicros))
        var combined = run
        combined.items += oneGateway.items
        return GatewayFigures(result: combined, extraDirectItems: oneDirect.items, report: [
            "oneConnection": ["directP50ms": oneDirect.latency.quantileMilliseconds(0.5), "directP99ms": oneDirect.latency.quantileMilliseconds(0.99),
                              "gatewayP50ms": oneGateway.latency.quantileMilliseconds(0.5), "gatewayP99ms": oneGateway.latency.quantileMilliseconds(0.99)],
            "perSecond": rate, "ratioToDirectVerify": rate / directRate,
            "p50ms": run.latency.quantileMilliseconds(0.5), "p99ms": run.latency.quantileMilliseconds(0.99),
            "addedP50ms": run.latency.quantileMilliseconds(0.5) - direct.latency.quantileMilliseconds(0.5),
            "addedP99ms": run.latency.quantileMilliseconds(0.99) - direct.latency.quantileMilliseconds(0.99),
            "gatewayCPUMicrosPerRequest": gatewayMicros, "nanopaydCPUMicrosPerRequest": nanopaydMicros,
            "nanopaydCPUMicrosPerDirectVerify": directCPUMicros,
        ])
    }
}
