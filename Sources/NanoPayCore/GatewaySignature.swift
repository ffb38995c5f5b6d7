/// The `signed` upstream auth mode of nanopay-gateway (docs/GATEWAY.md).
///
/// Seed 004's HMAC covers only the two payment headers: a captured request can be replayed at
/// any time, to any path, with any body. This signature binds the method, the path and query, the
/// SHA-256 of the body, a timestamp and the payment's id, so an upstream can refuse a request
/// that was altered, replayed elsewhere, or is older than `maxAgeSeconds`.
///
/// Headers the gateway sets (and strips from buyers):
/// - `X-NanoPay-Timestamp`: unix seconds when the gateway forwarded the request;
/// - `X-NanoPay-Payment-Id`: the reservation id (`res_…`), the ticket's `jti`, or empty on a free route;
/// - `X-NanoPay-Request-Id`: 32 random hex digits, new for every forwarded request (an upstream
///   that remembers them for `maxAgeSeconds` refuses every replay, free and ticket calls included);
/// - `X-NanoPay-Signature`: `v1=` + base64(HMAC-SHA256(secret, canonical)), where canonical is
///   `"nanopay-gateway-v1\n" + METHOD + "\n" + pathAndQuery + "\n" + hex(sha256(body)) + "\n" + timestamp + "\n" + paymentId + "\n" + requestId`.
public enum GatewaySignature {
    public static let timestampHeader = "X-NanoPay-Timestamp"
    public static let paymentIdHeader = "X-NanoPay-Payment-Id"
    public static let requestIdHeader = "X-NanoPay-Request-Id"
    public static let signatureHeader = "X-NanoPay-Signature"
    public static let maxAgeSeconds: UInt64 = 300

    public static func canonical(method: String, pathAndQuery: String, body: [UInt8], timestamp: UInt64, paymentId: String, requestId: String) -> [UInt8] {
        Array("nanopay-gateway-v1\n\(method)\n\(pathAndQuery)\n\(Hex.encode(Sodium.sha256(body)))\n\(timestamp)\n\(paymentId)\n\(requestId)".utf8)
    }

    /// The `X-NanoPay-Signature` value for one request, with `secret`.
    public static func sign(secret: [UInt8], method: String, pathAndQuery: String, body: [UInt8], timestamp: UInt64, paymentId: String,
                            requestId: String) -> String {
        "v1=" + Base64.encode(Sodium.hmacSHA256(key: secret, message: canonical(method: method, pathAndQuery: pathAndQuery, body: body,
                                                                                 timestamp: timestamp, paymentId: paymentId, requestId: requestId)))
    }

    /// The upstream's check: true when `signature` was made with one of `secrets` (current first,
    /// then the previous ones during a rotation) over this very request, at most `maxAgeSeconds`
    /// from `now` either way. Compared in constant time.
    public static func verify(secrets: [[UInt8]], method: String, pathAndQuery: String, body: [UInt8], timestamp: String?,
                              paymentId: String?, requestId: String?, signature: String?, now: UInt64, maxAgeSeconds: UInt64 = maxAgeSeconds) -> Bool {
        guard let timestamp, let t = UInt64(timestamp), let signature, signature.hasPrefix("v1="),
              let mac = Base64.decode(String(signature.dropFirst(3))), max(t, now) - min(t, now) <= maxAgeSeconds else { return false }
        let message = canonical(method: method, pathAndQuery: pathAndQuery, body: body, timestamp: t, paymentId: paymentId ?? "", requestId: requestId ?? "")
        // Every secret is tried, so timing does not tell which one matched.
        var matched = false
        for secret in secrets where Sodium.constantTimeEqual(Sodium.hmacSHA256(key: secret, message: message), mac) { matched = true }
        return matched
    }
}
