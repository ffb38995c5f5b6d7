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

    /// Starts nanopayd on a random free-looking port and waits for /health.
    static func start(dataDir: String, environment: [String: String]) async throws -> Daemon {
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...45_000)
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
        let ledger = try Ledger(.init(path: data + "/ledger.sqlite", clock: SystemClock(), signer: enclave))
        defer { ledger.close() }
        for id in answered { #expect(try ledger.receipt(confirmationId: id) != nil, "acknowledged \(id) is missing") }
        let balance = try ledger.balance(buyer.address)
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
        func nanopay(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestBinaries.path("nanopay"))
            p.arguments = args
            let pipe = Pipe()
            p.standardOutput = pipe; p.standardError = pipe
            try p.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: out, as: UTF8.self))
        }
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
