import Enclave
import Foundation
import Ledger
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import Testing

/// The real `nanopayd` process: start-up defaults, the generated operator token, and graceful
/// shutdown on SIGTERM with nothing acknowledged lost.
@Suite struct DaemonProcessTests {
    static let secretHex = String(repeating: "42", count: 32)

    struct Daemon {
        let process: Process
        let port: Int
        let log: String
        var url: String { "http://127.0.0.1:\(port)" }
    }

    /// Starts nanopayd on a random port below Linux's ephemeral range (32768+, where client
    /// sockets of parallel tests live) and waits for /health; another port if it cannot bind.
    static func start(dataDir: String, environment: [String: String]) async throws -> Daemon {
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...32_000)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestBinaries.path("nanopayd"))
            p.arguments = ["--data-dir", dataDir, "--port", String(port)]
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let log = dataDir + "-\(port).log"
            FileManager.default.createFile(atPath: log, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: log)
            p.standardOutput = FileHandle(forWritingAtPath: log)
            try p.run()
            let client = ServiceClient(baseURL: "http://127.0.0.1:\(port)", timeoutSeconds: 2)
            for _ in 0..<100 {
                if !p.isRunning { break }
                if let a = try? await client.send(.GET, "/health"), a.status == 200 { return Daemon(process: p, port: port, log: log) }
                try await Task.sleep(for: .milliseconds(50))
            }
            if p.isRunning { p.terminate(); p.waitUntilExit() }
        }
        throw ClientError("nanopayd did not start")
    }

    @Test func generatedOperatorTokenIsPrivateAndNeverLogged() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        var env = ["NANOPAY_PLATFORM_SECRET": Self.secretHex]
        env["NANOPAY_OPERATOR_TOKEN"] = nil
        let daemon = try await Self.start(dataDir: data, environment: env)
        defer { if daemon.process.isRunning { daemon.process.terminate() } }
        let tokenPath = data + "/operator.token"
        let attributes = try FileManager.default.attributesOfItem(atPath: tokenPath)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        let token = try String(contentsOfFile: tokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.count == 64)
        let answer = try await ServiceClient(baseURL: daemon.url, operatorToken: token).send(.GET, "/approvals")
        #expect(answer.status == 200)
        // The gateway's token is generated beside it, private too, and opens reservations only.
        let gatewayPath = data + "/gateway.token"
        #expect(try FileManager.default.attributesOfItem(atPath: gatewayPath)[.posixPermissions] as? Int == 0o600)
        let gateway = try String(contentsOfFile: gatewayPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(gateway.count == 64 && gateway != token)
        #expect(try await ServiceClient(baseURL: daemon.url, operatorToken: gateway).send(.GET, "/approvals").status == 403)
        #expect(try await ServiceClient(baseURL: daemon.url, operatorToken: gateway).send(.POST, "/reservations", json: Data("{}".utf8)).status == 400)
        #expect(try await ServiceClient(baseURL: daemon.url, operatorToken: token).send(.POST, "/reservations", json: Data("{}".utf8)).status == 403)
        daemon.process.terminate()
        daemon.process.waitUntilExit()
        let log = try String(contentsOfFile: daemon.log, encoding: .utf8)
        #expect(log.contains(tokenPath) && !log.contains(token))
        #expect(!log.contains(Self.secretHex))
    }

    @Test func sigtermDrainsInFlightPaymentsAndExitsZero() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        let daemon = try await Self.start(dataDir: data, environment: ["NANOPAY_PLATFORM_SECRET": Self.secretHex, "NANOPAY_OPERATOR_TOKEN": "t"])
        // Short timeout: requests still queued in the client's pool when the server is gone keep
        // retrying refused connections until their deadline.
        let client = ServiceClient(baseURL: daemon.url, operatorToken: "t", timeoutSeconds: 2)
        let buyer = Buyer(index: 1)
        let deposit = #"{"address":"\#(buyer.address.raw)","amount":"1000000","publicKey":"\#(Hex.encode(buyer.keys.publicKey))","reference":"d1"}"#
        #expect(try await client.send(.POST, "/deposits", json: Data(deposit.utf8)).status == 200)
        let now = UInt64(Date().timeIntervalSince1970)
        let auths = (0..<200).map { _ in
            AuthorizationFields(PaymentAuthorization.sign(keyPair: buyer.keys, from: buyer.address, to: sellerAddress(), amount: 1, validBefore: now + 600))
        }
        // Fire the payments, and SIGTERM while they are in flight.
        let answered = await withTaskGroup(of: String?.self) { group in
            for auth in auths {
                group.addTask {
                    guard let a = try? await client.send(.POST, "/verify", json: JSONEncoder().encode(auth)), a.status == 200,
                          let body = try? JSONSerialization.jsonObject(with: a.body) as? [String: Any] else { return nil }
                    return body["confirmationId"] as? String
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
            kill(daemon.process.processIdentifier, SIGTERM)
            var ids: [String] = []
            for await id in group { if let id { ids.append(id) } }
            return ids
        }
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationReason == .exit && daemon.process.terminationStatus == 0)
        #expect(!answered.isEmpty, "no payment was in flight when SIGTERM came")
        // Every acknowledged payment is in the ledger with its receipt, and the books balance.
        let secret = try PlatformSecret(hex: Self.secretHex)
        let enclave = try Enclave(.init(directory: data + "/enclave", secret: secret, clock: SystemClock()))
        let ledger = try Ledger(.init(path: data + "/ledger.sqlite", clock: SystemClock()))
        defer { ledger.close() }
        for id in answered { #expect(try await ledger.settledPayment(confirmationId: id) != nil, "acknowledged \(id) is missing") }
        let balance = try await ledger.balance(buyer.address)
        #expect(balance.totalSpent.value >= UInt128(answered.count))
        #expect(try ledger.checkInvariants().isConsistent)
    }
}

extension DaemonProcessTests {
    /// The seller's commands against the real daemon: `attest root` reads the pinned root from the
    /// data directory, `attest verify --url` checks a fresh quote for a random nonce.
    @Test func attestCommandsAgainstTheDaemon() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        let daemon = try await Self.start(dataDir: data, environment: ["NANOPAY_PLATFORM_SECRET": Self.secretHex, "NANOPAY_OPERATOR_TOKEN": "t"])
        defer { daemon.process.terminate(); daemon.process.waitUntilExit() }
        func nanopay(_ args: [String]) throws -> (Int32, String) { try runProcess(TestBinaries.path("nanopay"), args) }
        let (rootStatus, rootOut) = try nanopay(["attest", "root", "--data-dir", data])
        let root = rootOut.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(rootStatus == 0 && root.count == 194)
        let (ok, out) = try nanopay(["attest", "verify", "--url", daemon.url, "--root", root, "--allow-software"])
        #expect(ok == 0, "\(out)")
        #expect(out.contains("enclave key:") && out.contains("measurement:") && out.contains("NO HARDWARE ISOLATION"))
        let (refused, why) = try nanopay(["attest", "verify", "--url", daemon.url, "--root", root])
        #expect(refused == 2 && why.contains("'platform'"))
        let otherRoot = Hex.encode(try SoftwareAttestationProvider(secret: PlatformSecret(bytes: [UInt8](repeating: 3, count: 32))).rootPublicKey)
        let (wrongRoot, whyRoot) = try nanopay(["attest", "verify", "--url", daemon.url, "--root", otherRoot, "--allow-software"])
        #expect(wrongRoot == 2 && whyRoot.contains("'root'"))
    }
}

extension DaemonProcessTests {
    /// Runs nanopayd until it exits by itself (a refused start); returns its status and output.
    static func runToExit(dataDir: String, environment: [String: String], timeoutSeconds: Double = 30) async throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestBinaries.path("nanopayd"))
        p.arguments = ["--data-dir", dataDir, "--port", String(Int.random(in: 20_000...32_000))]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); return (-1, "still running after \(timeoutSeconds) s") }
        return (p.terminationStatus, String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    /// A backup of DATA is not the enclave: the secret lives under the user's config directory,
    /// so the same DATA started under another HOME refuses to start and makes no new identity.
    @Test func aCopyOfDataStartedUnderAnotherHomeRefusesToStart() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data", copy = dir.path + "/data-copy"
        func env(_ home: String) -> [String: String] {
            ["HOME": dir.path + "/" + home, "XDG_CONFIG_HOME": dir.path + "/" + home + "/.config", "NANOPAY_OPERATOR_TOKEN": "t"]
        }
        let daemon = try await Self.start(dataDir: data, environment: env("home1"))
        let health = try await ServiceClient(baseURL: daemon.url).send(.GET, "/health")
        daemon.process.terminate(); daemon.process.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: dir.path + "/home1/.config/cybernanopay/platform.secret"))
        #expect(!FileManager.default.fileExists(atPath: data + "/platform.secret"))
        try FileManager.default.copyItem(atPath: data, toPath: copy)
        let sealed = try Data(contentsOf: URL(fileURLWithPath: copy + "/enclave/identity.sealed"))
        let (status, output) = try await Self.runToExit(dataDir: copy, environment: env("home2"))
        #expect(status != 0 && output.contains("platform secret") && output.contains("refusing to start"), "\(output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy + "/enclave/identity.sealed")) == sealed)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/home2/.config/cybernanopay/platform.secret"))
        // With the original secret the copy is the same enclave (a restore is possible).
        let restored = try await Self.start(dataDir: copy, environment: env("home1"))
        defer { restored.process.terminate(); restored.process.waitUntilExit() }
        let again = try await ServiceClient(baseURL: restored.url).send(.GET, "/health")
        #expect(try again.decode([String: String].self)["enclavePublicKey"] == (try health.decode([String: String].self))["enclavePublicKey"])
    }

    /// An older data directory with DATA/platform.secret: moved out on first start, logged.
    @Test func aLegacySecretInDataIsMovedOutWithALogLine() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        _ = try PlatformSecret.create(path: data + "/platform.secret")
        let daemon = try await Self.start(dataDir: data, environment: ["HOME": dir.path + "/home", "XDG_CONFIG_HOME": dir.path + "/home/.config",
                                                                       "NANOPAY_OPERATOR_TOKEN": "t"])
        daemon.process.terminate(); daemon.process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: data + "/platform.secret"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/home/.config/cybernanopay/platform.secret"))
        #expect(try String(contentsOfFile: daemon.log, encoding: .utf8).contains("moved the platform secret out of the data directory"))
    }
}

extension DaemonProcessTests {
    /// NANOPAY_REFUSE_V1 takes 1, true or yes; anything unrecognised refuses to start.
    @Test func refuseV1AcceptsOneTrueAndYes() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let buyer = Buyer(index: 2)
        for (i, value) in ["yes", "TRUE", "1"].enumerated() {
            let daemon = try await Self.start(dataDir: dir.path + "/data\(i)", environment: ["NANOPAY_PLATFORM_SECRET": Self.secretHex,
                                                                                        "NANOPAY_OPERATOR_TOKEN": "t", "NANOPAY_REFUSE_V1": value])
            defer { daemon.process.terminate(); daemon.process.waitUntilExit() }
            let client = ServiceClient(baseURL: daemon.url, operatorToken: "t")
            let deposit = #"{"address":"\#(buyer.address.raw)","amount":"100","publicKey":"\#(Hex.encode(buyer.keys.publicKey))","reference":"d"}"#
            #expect(try await client.send(.POST, "/deposits", json: Data(deposit.utf8)).status == 200)
            let v1 = AuthorizationFields(PaymentAuthorization.sign(keyPair: buyer.keys, from: buyer.address, to: sellerAddress(), amount: 1,
                                                                   validBefore: UInt64(Date().timeIntervalSince1970) + 300))
            let answer = try await client.send(.POST, "/verify", json: JSONEncoder().encode(v1))
            #expect(answer.status == 400 && answer.text.contains("unsupported_version"), "NANOPAY_REFUSE_V1=\(value): \(answer.text)")
        }
        let (status, output) = try await Self.runToExit(dataDir: dir.path + "/bad", environment: ["NANOPAY_PLATFORM_SECRET": Self.secretHex,
                                                                                                  "NANOPAY_REFUSE_V1": "maybe"])
        #expect(status != 0 && output.contains("NANOPAY_REFUSE_V1"), "\(output)")
    }
}
