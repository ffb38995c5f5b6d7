import Foundation

/// `POST /policy`: fields present are set, `null` clears, absent keeps. With `signature` and
/// `validBefore` it is a payer-signed tightening (`PolicyTightening`), otherwise an operator's.
public struct PolicyRequest: Sendable, Equatable {
    public var address: TONAddress
    public var maxAmount: FieldUpdate<Amount>
    public var rateLimit: FieldUpdate<UInt32>
    public var rateBurst: FieldUpdate<UInt32>
    public var dailyCap: FieldUpdate<Amount>
    /// The payer's signature, its deadline and the policy version it was signed against, when
    /// the body carries a signature.
    public var payerSignature: (signature: [UInt8], validBefore: UInt64, version: UInt64)?

    public static func == (a: PolicyRequest, b: PolicyRequest) -> Bool {
        a.address == b.address && a.maxAmount == b.maxAmount && a.rateLimit == b.rateLimit && a.rateBurst == b.rateBurst
            && a.dailyCap == b.dailyCap && a.payerSignature?.signature == b.payerSignature?.signature
            && a.payerSignature?.validBefore == b.payerSignature?.validBefore && a.payerSignature?.version == b.payerSignature?.version
    }

    public static let rateMax: Double = 1_000_000

    public static func parse(_ data: Data) throws(NanoPayError) -> PolicyRequest {
        let body: [String: JSONValue]
        do { body = try JSONDecoder().decode([String: JSONValue].self, from: data) } catch {
            throw .invalid("body must be a JSON object")
        }
        guard case .string(let addressText)? = body["address"] else { throw .invalid("missing field address") }
        let address: TONAddress
        do { address = try TONAddress(parsing: addressText) } catch { throw .invalid("address: \(error.description)") }
        func amountUpdate(_ key: String) throws(NanoPayError) -> FieldUpdate<Amount> {
            switch body[key] {
            case nil: return .keep
            case .null?: return .clear
            case .string(let s)?:
                do { return .set(try Amount(parsing: s, allowZero: true)) } catch { throw .invalid("\(key): \(error.description)") }
            default: throw .invalid("\(key) must be a decimal string or null")
            }
        }
        func countUpdate(_ key: String) throws(NanoPayError) -> FieldUpdate<UInt32> {
            switch body[key] {
            case nil: return .keep
            case .null?: return .clear
            case .number(let n)?:
                guard n.rounded() == n, n >= 1, n <= rateMax else { throw .invalid("\(key) must be an integer from 1 to 1000000") }
                return .set(UInt32(n))
            default: throw .invalid("\(key) must be an integer or null")
            }
        }
        var request = PolicyRequest(address: address, maxAmount: try amountUpdate("maxAmount"), rateLimit: try countUpdate("rateLimit"),
                                    rateBurst: try countUpdate("rateBurst"), dailyCap: try amountUpdate("dailyCap"), payerSignature: nil)
        if let signatureValue = body["signature"] {
            guard case .string(let sigText) = signatureValue, let signature = Hex.decode(sigText, byteCount: 64) else {
                throw .invalid("signature must be 128 hex characters")
            }
            guard case .number(let vb)? = body["validBefore"], vb.rounded() == vb, vb >= 0, vb < 1.8e19 else {
                throw .invalid("validBefore must be an integer (unix seconds)")
            }
            guard case .number(let version)? = body["version"], version.rounded() == version, version >= 0, version < 9.0e15 else {
                throw .invalid("version must be the integer version of the policy the request was signed against (0 if none is set)")
            }
            request.payerSignature = (signature, UInt64(vb), UInt64(version))
        }
        return request
    }
}
