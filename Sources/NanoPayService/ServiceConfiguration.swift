import NanoPayCore

/// Trust-relevant settings of one deployment. Their canonical bytes are hashed into the
/// attestation quote (`configHash`), so a seller can tell two configurations apart.
public struct ServiceConfiguration: Sendable {
    /// CAIP-2 network id, e.g. `tvm:-239`.
    public var network: String
    public var asset: String
    public var approvalTimeoutSeconds: UInt64
    /// Refuse v1 authorizations (which do not bind network or service).
    public var refuseV1: Bool
    /// Most authorizations in one `POST /verify/batch`.
    public var batchItemsMax: Int

    public init(network: String = "tvm:-239", asset: String = "USDT", approvalTimeoutSeconds: UInt64 = 300,
                refuseV1: Bool = false, batchItemsMax: Int = 256) {
        self.network = network; self.asset = asset; self.approvalTimeoutSeconds = approvalTimeoutSeconds
        self.refuseV1 = refuseV1; self.batchItemsMax = batchItemsMax
    }

    /// Maps the accepted spellings to CAIP-2: `ton-mainnet` -> `tvm:-239`, `ton-testnet` -> `tvm:-3`.
    public static func canonicalNetwork(_ name: String) -> String? {
        switch name {
        case "ton-mainnet", "mainnet": return "tvm:-239"
        case "ton-testnet", "testnet": return "tvm:-3"
        default:
            let parts = name.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, (3...8).contains(parts[0].count), (1...32).contains(parts[1].count),
                  parts[0].allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }),
                  parts[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            else { return nil }
            return name
        }
    }

    /// Canonical bytes of what the quote vouches for.
    public func canonicalBytes() -> [UInt8] {
        var w = ByteWriter()
        w.field("CyberNanoPay:config:v1")
        w.field(network); w.field(asset); w.u64(approvalTimeoutSeconds); w.u8(refuseV1 ? 1 : 0); w.u32(UInt32(batchItemsMax))
        return w.bytes
    }

    public var configHash: [UInt8] { Sodium.sha256(canonicalBytes()) }
}
