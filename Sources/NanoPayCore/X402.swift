import Foundation

/// x402 version 2 messages and their header codec: standard base64 of UTF-8 JSON, camelCase keys.
public enum X402 {
    public static let version = 2
    public static let scheme = "ton-nanopay"
    public static let paymentRequiredHeader = "PAYMENT-REQUIRED"
    public static let paymentSignatureHeader = "PAYMENT-SIGNATURE"
    public static let paymentResponseHeader = "PAYMENT-RESPONSE"
    /// Headers above this are refused before decoding (x402-conformance errors above 16 KB).
    public static let headerLimitBytes = 16 * 1024

    public struct ResourceInfo: Codable, Hashable, Sendable {
        public var url: String
        public var description: String?
        public var mimeType: String?
        public init(url: String, description: String? = nil, mimeType: String? = nil) {
            self.url = url; self.description = description; self.mimeType = mimeType
        }
    }

    /// One offer in `accepts`. `to` repeats `payTo` for the existing CyberNanoPay buyer SDK.
    public struct PaymentRequirements: Codable, Hashable, Sendable {
        public var scheme: String
        public var network: String
        public var asset: String
        public var amount: String
        public var payTo: String
        public var to: String?
        public var maxTimeoutSeconds: Int
        public var extra: [String: JSONValue]?
        public init(scheme: String = X402.scheme, network: String, asset: String, amount: String, payTo: String,
                    maxTimeoutSeconds: Int = 300, extra: [String: JSONValue]? = nil) {
            self.scheme = scheme; self.network = network; self.asset = asset; self.amount = amount
            self.payTo = payTo; self.to = payTo; self.maxTimeoutSeconds = maxTimeoutSeconds; self.extra = extra
        }
    }

    /// PAYMENT-REQUIRED, sent with a 402.
    public struct PaymentRequired: Codable, Hashable, Sendable {
        public var x402Version: Int
        public var error: String?
        public var resource: ResourceInfo?
        public var accepts: [PaymentRequirements]
        public init(error: String? = nil, resource: ResourceInfo?, accepts: [PaymentRequirements]) {
            self.x402Version = X402.version; self.error = error; self.resource = resource; self.accepts = accepts
        }
    }

    /// PAYMENT-SIGNATURE. `payload.authorization` carries the authorization; the CyberNanoPay
    /// SDK's form, with `authorization` at the top level, is accepted too.
    public struct PaymentPayload: Codable, Hashable, Sendable {
        public var x402Version: Int
        public var accepted: PaymentRequirements?
        public var payload: JSONValue?
        public var resource: ResourceInfo?
        public var authorization: AuthorizationFields?
        /// x402 extensions the client echoes or adds, e.g. `payment-identifier`. Not signed.
        public var extensions: [String: JSONValue]?
        public init(accepted: PaymentRequirements?, authorization: AuthorizationFields, resource: ResourceInfo? = nil,
                    extensions: [String: JSONValue]? = nil) {
            self.x402Version = X402.version
            self.accepted = accepted
            self.resource = resource
            self.extensions = extensions
            let data = (try? JSONEncoder().encode(["authorization": authorization])) ?? Data()
            self.payload = try? JSONDecoder().decode(JSONValue.self, from: data)
            self.authorization = nil
        }

        /// The authorization, from `payload.authorization` or the top-level SDK form.
        public func authorizationFields() throws(NanoPayError) -> AuthorizationFields {
            if let authorization { return authorization }
            guard let inner = payload?["authorization"] else {
                throw .invalid("payload.authorization is missing")
            }
            do {
                let data = try JSONEncoder().encode(inner)
                return try JSONDecoder().decode(AuthorizationFields.self, from: data)
            } catch {
                throw .invalid("payload.authorization: \(JSONErrors.describe(error))")
            }
        }
    }

    /// PAYMENT-RESPONSE, sent with the paid answer (and the facilitator's /settle answer).
    public struct SettleResponse: Codable, Hashable, Sendable {
        public var success: Bool
        public var transaction: String
        public var network: String
        public var payer: String?
        public var amount: String?
        public var errorReason: String?
        public var errorMessage: String?
        public var extra: [String: JSONValue]?
        public var extensions: [String: JSONValue]?
        public init(success: Bool, transaction: String, network: String, payer: String? = nil, amount: String? = nil,
                    errorReason: String? = nil, errorMessage: String? = nil, extra: [String: JSONValue]? = nil,
                    extensions: [String: JSONValue]? = nil) {
            self.success = success; self.transaction = transaction; self.network = network; self.payer = payer
            self.amount = amount; self.errorReason = errorReason; self.errorMessage = errorMessage; self.extra = extra
            self.extensions = extensions
        }
    }

    /// Facilitator `POST /verify` and `POST /settle` body.
    public struct FacilitatorRequest: Codable, Hashable, Sendable {
        public var x402Version: Int
        public var paymentPayload: PaymentPayload
        public var paymentRequirements: PaymentRequirements
        public init(paymentPayload: PaymentPayload, paymentRequirements: PaymentRequirements) {
            self.x402Version = X402.version; self.paymentPayload = paymentPayload; self.paymentRequirements = paymentRequirements
        }
    }

    /// Facilitator `POST /verify` answer (always HTTP 200; failures are `isValid: false`).
    public struct VerifyResponse: Codable, Hashable, Sendable {
        public var isValid: Bool
        public var invalidReason: String?
        public var invalidMessage: String?
        public var payer: String?
        public init(isValid: Bool, invalidReason: String? = nil, invalidMessage: String? = nil, payer: String? = nil) {
            self.isValid = isValid; self.invalidReason = invalidReason; self.invalidMessage = invalidMessage; self.payer = payer
        }
    }

    /// Facilitator `GET /supported` answer.
    public struct SupportedResponse: Codable, Hashable, Sendable {
        public struct Kind: Codable, Hashable, Sendable {
            public var x402Version: Int
            public var scheme: String
            public var network: String
            public var extra: [String: JSONValue]?
            public init(x402Version: Int, scheme: String, network: String, extra: [String: JSONValue]? = nil) {
                self.x402Version = x402Version; self.scheme = scheme; self.network = network; self.extra = extra
            }
        }
        public var kinds: [Kind]
        public var extensions: [String]
        public var signers: [String: [String]]
        public init(kinds: [Kind], extensions: [String] = [], signers: [String: [String]] = [:]) {
            self.kinds = kinds; self.extensions = extensions; self.signers = signers
        }
    }

    /// Encodes a message as a header value (standard base64, padded, of compact JSON).
    public static func encodeHeader<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return data.base64EncodedString()
    }

    /// Decodes a header value; accepts standard or URL-safe base64, padding optional.
    public static func decodeHeader<T: Decodable>(_ type: T.Type, from header: String) throws(NanoPayError) -> T {
        guard header.utf8.count <= headerLimitBytes else { throw .invalid("header exceeds \(headerLimitBytes) bytes") }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let bytes = Base64.decode(trimmed, urlSafeAllowed: true) else { throw .invalid("header is not base64") }
        do {
            let value = try JSONDecoder().decode(T.self, from: Data(bytes))
            return value
        } catch {
            throw .invalid("header JSON: \(JSONErrors.describe(error))")
        }
    }
}

/// Human text for Foundation decoding errors, naming the field, without echoing input bytes.
public enum JSONErrors {
    /// `droppingPathPrefix` leaves out the first coding-path components, so an element of a
    /// container is described as if it had been decoded alone.
    public static func describe(_ error: any Error, droppingPathPrefix: Int = 0) -> String {
        guard let error = error as? DecodingError else { return "malformed JSON" }
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.dropFirst(droppingPathPrefix).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "body" : p
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            let parent = path(ctx)
            return "missing field \(parent == "body" ? key.stringValue : parent + "." + key.stringValue)"
        case .typeMismatch(let type, let ctx): return "\(path(ctx)) has the wrong type (expected \(type))"
        case .valueNotFound(let type, let ctx): return "\(path(ctx)) is null (expected \(type))"
        case .dataCorrupted(let ctx):
            if ctx.codingPath.count <= droppingPathPrefix { return "malformed JSON" }
            return "\(path(ctx)): \(ctx.debugDescription)"
        @unknown default: return "malformed JSON"
        }
    }

    /// Whether a decoding error is about `key` of the top-level object (missing, null or of the
    /// wrong type), rather than about the body as a whole.
    public static func concerns(_ error: DecodingError, key: String) -> Bool {
        switch error {
        case .keyNotFound(let k, let ctx): return ctx.codingPath.isEmpty && k.stringValue == key
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
            return ctx.codingPath.first?.stringValue == key
        @unknown default: return false
        }
    }
}
