/// The JSON shape of an authorization as buyers send it (`POST /verify`, x402 payloads):
/// `{from, to, amount, validBefore, nonce, signature}` plus optional `publicKey` and `version`.
/// Decoding is lenient about types so that validation can name the exact bad field.
public struct AuthorizationFields: Codable, Sendable, Hashable {
    public var from: String
    public var to: String
    public var amount: String
    public var validBefore: UInt64
    public var nonce: String
    public var signature: String
    public var publicKey: String?
    public var version: Int?

    public init(from: String, to: String, amount: String, validBefore: UInt64, nonce: String,
                signature: String, publicKey: String? = nil, version: Int? = nil) {
        self.from = from; self.to = to; self.amount = amount; self.validBefore = validBefore
        self.nonce = nonce; self.signature = signature; self.publicKey = publicKey; self.version = version
    }

    public init(_ auth: PaymentAuthorization, publicKey: [UInt8]? = nil) {
        self.init(from: auth.from.raw, to: auth.to.raw, amount: auth.amount.description,
                  validBefore: auth.validBefore, nonce: Hex.encode(auth.nonce),
                  signature: Hex.encode(auth.signature), publicKey: publicKey.map { Hex.encode($0) },
                  version: auth.version == .v1 ? nil : auth.version.rawValue)
    }

    /// Validates every field and builds the typed authorization. Errors are `invalid_request`
    /// naming the field, or `unsupported_version`.
    public func validated() throws(NanoPayError) -> (authorization: PaymentAuthorization, publicKey: [UInt8]?) {
        let fromAddress: TONAddress, toAddress: TONAddress
        do { fromAddress = try TONAddress(parsing: from) } catch { throw .invalid("from: \(error.description)") }
        do { toAddress = try TONAddress(parsing: to) } catch { throw .invalid("to: \(error.description)") }
        let parsedAmount: Amount
        do { parsedAmount = try Amount(parsing: amount, allowZero: false) } catch { throw .invalid("amount: \(error.description)") }
        guard let nonceBytes = Hex.decode(nonce, byteCount: 32) else { throw .invalid("nonce must be 64 hex characters (32 bytes)") }
        guard let sigBytes = Hex.decode(signature, byteCount: 64) else { throw .invalid("signature must be 128 hex characters (64 bytes)") }
        var key: [UInt8]? = nil
        if let publicKey {
            guard let k = Hex.decode(publicKey, byteCount: 32) else { throw .invalid("publicKey must be 64 hex characters (32 bytes)") }
            key = k
        }
        guard fromAddress != toAddress else { throw .invalid("from and to must be different accounts") }
        let v: PaymentAuthorization.Version
        switch version {
        case nil, 1: v = .v1
        case 2: v = .v2
        default: throw NanoPayError(.unsupportedVersion, "version must be 1 or 2")
        }
        return (PaymentAuthorization(from: fromAddress, to: toAddress, amount: parsedAmount, validBefore: validBefore,
                                     nonce: nonceBytes, signature: sigBytes, version: v), key)
    }
}
