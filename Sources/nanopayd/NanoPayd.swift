import ArgumentParser
import Enclave
import Foundation
import Hummingbird
import Ledger
import Logging
import PostgresLedger
import NanoPayCore
import NanoPayHTTP
import NanoPayService
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// `nanopayd`: the service, the only program inside the trust boundary. Starts with no
/// arguments on its embedded default (`./data`, `127.0.0.1:4030`). Every flag also has a
/// `NANOPAY_*` environment variable; a flag wins over the environment.
@main
struct NanoPayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nanopayd", abstract: "CyberNanoPay verification and balance service.")

    @Option(help: "Data directory (NANOPAY_DATA_DIR, default ./data).") var dataDir: String?
    @Option(help: "Listen address (NANOPAY_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Listen port (NANOPAY_PORT, default 4030).") var port: Int?
    @Option(help: "CAIP-2 network, or ton-mainnet / ton-testnet (NANOPAY_NETWORK, default tvm:-239).") var network: String?
    @Option(help: "Asset name (NANOPAY_ASSET, default USDT).") var asset: String?
    @Option(help: "Seconds a held payment waits for approval (NANOPAY_APPROVAL_TIMEOUT_SECONDS, default 300).") var approvalTimeoutSeconds: UInt64?
    @Option(help: "File holding the operator token (NANOPAY_OPERATOR_TOKEN_FILE); NANOPAY_OPERATOR_TOKEN gives it directly.") var operatorTokenFile: String?
    @Option(help: "File holding the token a paying gateway uses for reservations (NANOPAY_GATEWAY_TOKEN_FILE; default DATA/gateway.token, generated); NANOPAY_GATEWAY_TOKEN gives it directly.") var gatewayTokenFile: String?
    @Option(help: "File holding the platform secret, outside DATA (NANOPAY_PLATFORM_SECRET_FILE; default $XDG_CONFIG_HOME/cybernanopay/platform.secret or ~/.config/cybernanopay/platform.secret); NANOPAY_PLATFORM_SECRET gives it as hex.") var platformSecretFile: String?
    @Option(help: "PostgreSQL ledger shared by replicas, postgres://USER[:PASSWORD]@HOST[:PORT]/DB (NANOPAY_DATABASE_URL; default: embedded SQLite in DATA).") var databaseURL: String?
    @Flag(help: "Refuse v1 authorizations (NANOPAY_REFUSE_V1=1, true or yes).") var refuseV1 = false
    @Flag(help: "Do not serve the operator console at /console (NANOPAY_NO_CONSOLE=1, true or yes).") var noConsole = false

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: env["NANOPAY_LOG_LEVEL"] ?? "info") ?? .info
            return handler
        }
        let logger = Logger(label: "nanopayd")

        let dataDir = self.dataDir ?? env["NANOPAY_DATA_DIR"] ?? "./data"
        let host = self.host ?? env["NANOPAY_HOST"] ?? "127.0.0.1"
        guard let port = self.port ?? env["NANOPAY_PORT"].flatMap({ Int($0) }) ?? Optional(4030), (0...65535).contains(port) else {
            throw ValidationError("port must be 0-65535")
        }
        let networkName = self.network ?? env["NANOPAY_NETWORK"] ?? "tvm:-239"
        guard let network = ServiceConfiguration.canonicalNetwork(networkName) else {
            throw ValidationError("network must be CAIP-2 (e.g. tvm:-239) or ton-mainnet / ton-testnet")
        }
        let asset = self.asset ?? env["NANOPAY_ASSET"] ?? "USDT"
        guard !asset.isEmpty, asset.utf8.count <= 128 else { throw ValidationError("asset must be 1-128 bytes") }
        guard let timeout = self.approvalTimeoutSeconds ?? env["NANOPAY_APPROVAL_TIMEOUT_SECONDS"].flatMap({ UInt64($0) }) ?? Optional(300),
              (1...604_800).contains(timeout) else { throw ValidationError("approval timeout must be 1-604800 seconds") }
        let refuseV1 = try self.refuseV1 || Self.flag(env["NANOPAY_REFUSE_V1"], name: "NANOPAY_REFUSE_V1")
        let console = try !(self.noConsole || Self.flag(env["NANOPAY_NO_CONSOLE"], name: "NANOPAY_NO_CONSOLE"))

        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let clock = SystemClock()
        let secret = try Self.platformSecret(env: env, file: platformSecretFile, dataDir: dataDir, logger: logger)
        let ledger: any LedgerStore
        let enclave: Enclave
        let databaseURLText = self.databaseURL ?? env["NANOPAY_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 })
        // It may carry a password: out of the environment children and crash reports would see.
        unsetenv("NANOPAY_DATABASE_URL")
        if let urlText = databaseURLText {
            let url: DatabaseURL
            do { url = try DatabaseURL(parsing: urlText) } catch { throw ValidationError(error.description) }
            logger.info("opening the PostgreSQL ledger", metadata: ["database": "\(url.redacted)"])
            let postgres = try await PostgresLedger.open(.init(url: url, clock: clock, logger: Logger(label: "nanopay.postgres")))
            // One identity for the cluster: the first replica's sealed key is stored, every
            // later one opens it with the same platform secret (or refuses to start).
            let sealed = try await postgres.clusterIdentity(storingIfAbsent: Enclave.sealNewIdentity(secret: secret))
            do {
                var enclaveConfiguration = Enclave.Configuration(directory: dataDir + "/enclave", secret: secret, clock: clock)
                enclaveConfiguration.sealedIdentity = sealed
                enclave = try Enclave(enclaveConfiguration)
            } catch {
                postgres.close()
                throw error
            }
            ledger = postgres
        } else {
            enclave = try Enclave(.init(directory: dataDir + "/enclave", secret: secret, clock: clock))
            let crashPoint = try Self.crashPoint(env: env, logger: logger)
            ledger = try Ledger(.init(path: dataDir + "/ledger.sqlite", clock: clock, commitHook: crashPoint.map(Self.killAt)))
        }
        // Public: what a seller pins (`nanopay attest root`).
        try (Hex.encode(enclave.attestation.rootPublicKey) + "\n").write(toFile: dataDir + "/enclave/platform-root.pub", atomically: true, encoding: .utf8)
        let config = ServiceConfiguration(network: network, asset: asset, approvalTimeoutSeconds: timeout, refuseV1: refuseV1)
        let service = try PaymentService(configuration: config, ledger: ledger, enclave: enclave, clock: clock, logger: logger)
        let token = try Self.token(role: "operator", env: env, file: operatorTokenFile, dataDir: dataDir, logger: logger)
        let gatewayToken = try Self.token(role: "gateway", env: env, file: gatewayTokenFile, dataDir: dataDir, logger: logger)

        if enclave.attestation.platform == "software" {
            logger.warning("attestation platform is 'software': NO HARDWARE ISOLATION; sellers must opt in with --allow-software")
        }
        logger.info("nanopayd starting", metadata: [
            "address": "\(host):\(port)", "dataDir": "\(dataDir)", "network": "\(network)", "asset": "\(asset)",
            "enclavePublicKey": "\(Hex.encode(enclave.publicKey))", "measurement": "\(Hex.encode(enclave.measurement))",
            "acceptsV1": "\(!refuseV1)", "console": "\(console ? "http://\(host):\(port)/console" : "off")",
        ])
        let app = NanoPayServer.makeApplication(service: service, operatorToken: token, gatewayToken: gatewayToken, host: host, port: port,
                                                console: console, logger: logger)
        // SIGTERM/SIGINT shut the services down in reverse order: the server drains in-flight
        // requests, the sweep stops, then the ledger finishes its last commit and closes.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: LedgerLifecycle(service: service)), .init(service: MaintenanceLifecycle(service: service)),
                       .init(service: app)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("nanopayd stopped cleanly")
    }

    /// The platform secret, kept outside DATA (`PlatformSecretSource`). It is held only until the
    /// enclave is made: the enclave derives its keys and keeps none of it, and
    /// `NANOPAY_PLATFORM_SECRET` is removed from the environment once read.
    static func platformSecret(env: [String: String], file: String?, dataDir: String, logger: Logger) throws -> PlatformSecret {
        let origin: PlatformSecretSource.Origin
        if let hex = env["NANOPAY_PLATFORM_SECRET"] {
            origin = .hex(hex)
            unsetenv("NANOPAY_PLATFORM_SECRET")
        } else if let path = file ?? env["NANOPAY_PLATFORM_SECRET_FILE"] ?? PlatformSecretSource.defaultPath(environment: env) {
            origin = .file(path: path)
        } else {
            throw ValidationError("no platform secret: set NANOPAY_PLATFORM_SECRET_FILE (or HOME / XDG_CONFIG_HOME for the default location)")
        }
        let source = PlatformSecretSource(origin: origin, dataDirectory: dataDir)
        return try source.resolve { note in logger.notice("\(note)") }
    }

    /// A boolean environment variable: 1, true or yes turn it on; unset, empty, 0, false or no
    /// leave it off; anything else is refused rather than guessed.
    static func flag(_ value: String?, name: String) throws -> Bool {
        switch value?.lowercased() {
        case nil, "", "0", "false", "no": return false
        case "1", "true", "yes": return true
        default: throw ValidationError("\(name) must be 1, true or yes (or 0, false, no)")
        }
    }

    /// `NANOPAY_TEST_CRASH_AT=<commit point>`: crash tests make the process kill itself
    /// (SIGKILL, no cleanup) at that step of the first commit holding a payment. Never set in
    /// production; the process says so loudly when it is.
    static func crashPoint(env: [String: String], logger: Logger) throws -> CommitPoint? {
        guard let name = env["NANOPAY_TEST_CRASH_AT"], !name.isEmpty else { return nil }
        guard let point = CommitPoint(rawValue: name) else {
            throw ValidationError("NANOPAY_TEST_CRASH_AT must be one of \(CommitPoint.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        logger.warning("TEST HOOK: this process will kill itself at commit point '\(name)' of the first payment batch")
        return point
    }

    static func killAt(_ target: CommitPoint) -> @Sendable (CommitPoint) -> Void {
        { point in if point == target { kill(getpid(), SIGKILL) } }
    }

    /// Token from NANOPAY_OPERATOR_TOKEN, a token file, or one generated at first start into
    /// DATA/operator.token (0600). The path is logged, never the token.
    /// A role's bearer token: `NANOPAY_<ROLE>_TOKEN`, else the file (`--<role>-token-file`,
    /// `NANOPAY_<ROLE>_TOKEN_FILE`, default `DATA/<role>.token`), generated 0600 on first start.
    static func token(role: String, env: [String: String], file: String?, dataDir: String, logger: Logger) throws -> BearerToken {
        let prefix = "NANOPAY_\(role.uppercased())_TOKEN"
        if let token = env[prefix], !token.isEmpty { return BearerToken(token, role: role) }
        let path = file ?? env[prefix + "_FILE"] ?? dataDir + "/\(role).token"
        if let data = FileManager.default.contents(atPath: path),
           let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
            return BearerToken(text, role: role)
        }
        guard file == nil, env[prefix + "_FILE"] == nil else {
            throw ValidationError("\(role) token file \(path) is missing or empty")
        }
        let token = Hex.encode(Sodium.randomBytes(32))
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(role) token file \(path)") }
        let line = token + "\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        fsync(fd)
        close(fd)
        logger.notice("generated a \(role) token", metadata: ["path": "\(path)"])
        return BearerToken(token, role: role)
    }
}
