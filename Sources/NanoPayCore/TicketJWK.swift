/// The ticket key as a JSON Web Key (RFC 8037: `kty: OKP`, `crv: Ed25519`), as
/// `GET /.well-known/jwks.json` publishes it, with its RFC 7638 thumbprint as `kid`.
public struct TicketJWK: Codable, Equatable, Sendable {
    public var kty: String
    public var crv: String
    public var x: String
    public var kid: String
    public var use: String
    public var alg: String

    public init(publicKey: [UInt8]) {
        kty = "OKP"; crv = "Ed25519"; x = Base64.url(publicKey); use = "sig"; alg = "EdDSA"
        kid = Self.thumbprint(x: x)
    }

    /// RFC 7638: base64url SHA-256 of the required members in lexicographic order, no spaces.
    public static func thumbprint(x: String) -> String {
        Base64.url(Sodium.sha256(Array(#"{"crv":"Ed25519","kty":"OKP","x":"\#(x)"}"#.utf8)))
    }

    public var thumbprint: String { Self.thumbprint(x: x) }

    /// The raw 32-byte key, if `x` is one.
    public var publicKey: [UInt8]? {
        guard let bytes = Base64.decode(x, urlSafeAllowed: true), bytes.count == 32 else { return nil }
        return bytes
    }

    /// `{"keys": [...]}`.
    public struct Set: Codable, Equatable, Sendable {
        public var keys: [TicketJWK]
        public init(keys: [TicketJWK]) { self.keys = keys }
    }
}
