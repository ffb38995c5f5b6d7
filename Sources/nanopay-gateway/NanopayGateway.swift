import ArgumentParser
import Dispatch
import Foundation
import Hummingbird
import Logging
import NanoPayClient
import NanoPayCore
import NanoPayGateway

/// `nanopay-gateway --config gateway.yaml`: puts the configured upstream APIs behind x402.
@main
struct NanopayGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nanopay-gateway",
        abstract: "Reverse proxy that sells any HTTP API per request with x402, paid through CyberNanoPay.",
        subcommands: [Run.self, Skill.self], defaultSubcommand: Run.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The gateway's YAML config (examples/gateway.yaml documents it).") var config: String

    func load() throws -> GatewayConfig {
        do { return try GatewayConfig.load(path: config) } catch { throw ValidationError("config refused: \(error.description)") }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default). SIGHUP reloads the config.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        var logger = Logger(label: "nanopay-gateway")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        let config = try options.load()
        // Attested once at start and kept attested, as the example seller does; receipts and
        // tickets must verify under the keys pinned here.
        let service = try await PinnedService.attest(url: config.serviceURL, pinnedRoot: config.pinnedRoot,
                                                     allowSoftware: config.allowSoftwareAttestation,
                                                     expectedMeasurement: config.expectedMeasurement, logger: logger)
        defer { service.stop() }
        logger.info("attested CyberNanoPay", metadata: ["enclaveKey": "\(Hex.encode(service.enclaveKey))", "platform": "\(service.verified.platform)"])
        let gateway = Gateway(config: config, trust: service, logger: logger)
        let reloader = Reloader(path: options.config, gateway: gateway, logger: logger)
        reloader.start()
        let app = Application(responder: CallbackResponder<GatewayRequestContext> { request, context in
                                  await gateway.respond(to: request, context: context)
                              },
                              server: .http1(configuration: .init(idleTimeout: .seconds(config.idleTimeoutSeconds))),
                              configuration: .init(address: .hostname(config.host, port: config.port), serverName: "nanopay-gateway"),
                              logger: logger)
        try await app.runService()
        await gateway.shutdown()
    }
}

/// SIGHUP: read the config again. A config with an error is refused with a log line and the
/// running one stays; so is one that changes what needs a restart (listen address, nanopayd).
final class Reloader: Sendable {
    let path: String
    let gateway: Gateway
    let logger: Logger
    private let source = Locked<(any DispatchSourceSignal)?>(nil)

    init(path: String, gateway: Gateway, logger: Logger) { self.path = path; self.gateway = gateway; self.logger = logger }

    func start() {
        signal(SIGHUP, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        s.setEventHandler { [self] in reload() }
        s.resume()
        source.withLock { $0 = s }
    }

    func reload() {
        let old = gateway.config
        do {
            let fresh = try GatewayConfig.load(path: path)
            guard fresh.host == old.host, fresh.port == old.port, fresh.serviceURL == old.serviceURL, fresh.pinnedRoot == old.pinnedRoot,
                  fresh.allowSoftwareAttestation == old.allowSoftwareAttestation, fresh.expectedMeasurement == old.expectedMeasurement,
                  fresh.idleTimeoutSeconds == old.idleTimeoutSeconds else {
                logger.error("config reload refused: listen, service.url, service.pinnedRoot, service.allowSoftwareAttestation, service.expectedMeasurement and limits.idleTimeoutSeconds need a restart; the running config stays")
                return
            }
            gateway.apply(fresh)
            logger.notice("config reloaded", metadata: ["routes": "\(fresh.routes.count)", "upstreams": "\(fresh.upstreams.count)"])
        } catch {
            logger.error("config reload refused; the running config stays", metadata: ["error": "\(error.description)"])
        }
    }
}

struct Skill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a SKILL.md (seed 002's format) describing the gateway's paid endpoints.")
    @OptionGroup var options: ConfigOption
    @Flag(help: "Do not ask nanopayd for its network and asset.") var offline = false

    func run() async throws {
        let config = try options.load()
        var network: String?, asset: String?
        if !offline, let quote = try? await ServiceClient(baseURL: config.serviceURL, timeoutSeconds: 5).send(.GET, "/attestation").decode(AttestationQuote.self) {
            network = quote.claims.network; asset = quote.claims.asset
        }
        print(Gateway.skill(config: config, network: network, asset: asset), terminator: "")
    }
}
