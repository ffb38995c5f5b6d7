import Foundation
import Hummingbird
import NIOCore
import NanoPayClient
import NanoPayCore

/// What buyers and agents read before paying: `GET /.well-known/x402` (JSON) and the SKILL.md of
/// `nanopay-gateway skill` (seed 002's format: YAML front matter, then how to pay).
enum Discovery {
    struct Resource: Encodable {
        var resource: String
        var method: String
        var path: String
        var description: String
        /// Atomic units per request; nil on a free route.
        var price: String?
        var network: String?
        var asset: String?
        var payTo: String?
        var ticket: Ticket?
        struct Ticket: Encodable { var price: String; var lifetimeSeconds: UInt64; var uses: UInt32?; var scope: String; var endpoint: String }
    }

    struct Document: Encodable {
        var x402Version = 2
        var name: String
        var version: String
        var description: String
        var baseURL: String
        var facilitator: String
        var enclavePublicKey: String?
        var resources: [Resource]
    }

    static func document(config: GatewayConfig, trusted: TrustedService?) -> Document {
        let resources = config.routes.map { r in
            Resource(resource: config.publicURL + r.pattern.path, method: r.pattern.method, path: r.pattern.path, description: r.description,
                     price: r.price?.description, network: r.isFree ? nil : trusted?.network, asset: r.isFree ? nil : trusted?.asset,
                     payTo: r.payTo?.raw,
                     ticket: ticket(r, config))
        }
        return Document(name: config.name, version: config.version, description: config.description, baseURL: config.publicURL,
                        facilitator: config.serviceURL, enclavePublicKey: trusted.map { Hex.encode($0.enclaveKey) }, resources: resources)
    }

    static func ticket(_ r: GatewayConfig.Route, _ config: GatewayConfig) -> Resource.Ticket? {
        guard let terms = r.ticket, let price = r.ticketPrice else { return nil }
        return Resource.Ticket(price: price.description, lifetimeSeconds: terms.lifetimeSeconds, uses: terms.uses,
                               scope: terms.scope.description, endpoint: config.serviceURL + "/tickets")
    }

    static func response(config: GatewayConfig, trust: any ServiceTrust) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(document(config: config, trusted: trust.trusted))) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "max-age=60"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// SKILL.md: front matter an agent framework parses, then a short guide. Values are quoted
    /// YAML strings so descriptions with colons stay one value.
    static func skill(config: GatewayConfig, network: String?, asset: String?) -> String {
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        var out = "---\nname: \(q(config.name))\nbase_url: \(q(config.publicURL))\nversion: \(q(config.version))\ndescription: \(q(config.description))\n"
        out += "endpoints:\n"
        for r in config.routes {
            out += "  - path: \(q(r.pattern.path))\n    method: \(q(r.pattern.method))\n    price: \(q(r.price?.description ?? "0"))\n"
            out += "    description: \(q(r.description))\n"
            if let t = r.ticket, let p = r.ticketPrice {
                out += "    ticket: {price: \(q(p.description)), lifetime_seconds: \(t.lifetimeSeconds)\(t.uses.map { ", uses: \($0)" } ?? "")}\n"
            }
        }
        out += "---\n\n# \(config.name)\n\n\(config.description)\n\n## How to pay\n\n"
        out += """
        Every paid endpoint answers an unpaid request with HTTP 402 and an x402 v2 `PAYMENT-REQUIRED` header \
        (scheme `exact`\(network.map { ", network `\($0)`" } ?? "")\(asset.map { ", asset `\($0)`" } ?? "")). Prices are in the asset's atomic units.

        1. Call the endpoint. Read the offer from `PAYMENT-REQUIRED` (base64 JSON, `accepts[0]`).
        2. Sign a CyberNanoPay authorization for exactly that amount to its `payTo`, valid for at least `maxTimeoutSeconds`, \
        and send it again with the `PAYMENT-SIGNATURE` header (`nanopay pay URL` or any x402 v2 client does both steps).
        3. The answer carries `PAYMENT-RESPONSE` with a receipt signed by the attested CyberNanoPay enclave (\(config.serviceURL)/attestation).

        You are charged only when the API delivers: if it fails (502/504, `"charged": false`) the payment is released. \
        If an answer is lost, retry the same request with the same `PAYMENT-SIGNATURE`: you get the same response \
        (`X-NanoPay-Replayed: true`) and are not charged again.

        Endpoints with a `ticket` also accept `Authorization: Bearer <ticket>`: buy one at \(config.serviceURL)/tickets \
        with the ticket offer (`accepts[1]`), then call every endpoint in its scope until it expires.

        Discovery: \(config.publicURL)\(GatewayConfig.discoveryPath)

        """
        return out
    }
}

extension Gateway {
    /// The SKILL.md for `config` (network and asset from nanopayd's quote when known).
    public static func skill(config: GatewayConfig, network: String?, asset: String?) -> String {
        Discovery.skill(config: config, network: network, asset: asset)
    }
}
