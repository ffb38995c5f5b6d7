import HTTPTypes
import NIOHTTP1

/// Which headers cross the gateway, each way.
///
/// Towards the upstream, the buyer can never set what proves payment or origin: every
/// `X-Payment*`, `Payment-*`, `sigwei-*`, `X-NanoPay-*` and `X-Forwarded-*`/`Forwarded` header
/// is dropped before the gateway adds its own, as are URL and method overrides (`X-Original-URL`,
/// `X-HTTP-Method-Override`, …) and hop-by-hop headers (RFC 9110 §7.6.1),
/// `Host` and `Content-Length` (set for the forwarded request itself).
enum ForwardHeaders {
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                                        "te", "trailer", "transfer-encoding", "upgrade"]
    static let strippedPrefixes = ["x-payment", "payment-", "sigwei-", "x-nanopay-", "x-forwarded-", "proxy-"]
    /// Headers some frameworks read as the real URL or method (IIS, Symfony, Express, Laravel):
    /// a free `GET /public` must not become a paid `/premium` or a `DELETE` upstream.
    static let rewriting: Set<String> = ["x-original-url", "x-rewrite-url", "x-http-method-override", "x-http-method", "x-method-override",
                                         "x-original-method", "x-forwarded-uri", "x-forwarded-path"]

    /// The buyer's headers that may reach the upstream. `dropAuthorization` removes a ticket the
    /// gateway consumed.
    static func towardsUpstream(_ fields: HTTPFields, dropAuthorization: Bool) -> HTTPHeaders {
        let named = connectionNamed(fields)
        var out = HTTPHeaders()
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || named.contains(name) || name == "host" || name == "content-length" || name == "forwarded" { continue }
            if strippedPrefixes.contains(where: { name.hasPrefix($0) }) || rewriting.contains(name) { continue }
            if dropAuthorization && name == "authorization" { continue }
            out.add(name: field.name.rawName, value: field.value)
        }
        return out
    }

    /// The upstream's headers that reach the buyer: hop-by-hop and framing headers go (the
    /// gateway frames its own response), and payment headers are the gateway's alone.
    static func towardsBuyer(_ headers: HTTPHeaders) -> HTTPFields {
        let named = Set(headers["connection"].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        var out = HTTPFields()
        for (name, value) in headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || named.contains(lower) || lower == "content-length" { continue }
            if lower == "payment-response" || lower == "payment-required" || lower == "x-nanopay-replayed" { continue }
            if let n = HTTPField.Name(name) { out.append(HTTPField(name: n, value: value)) }
        }
        return out
    }

    static func connectionNamed(_ fields: HTTPFields) -> Set<String> {
        Set(fields[values: .connection].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    }
}
