/// A TON account address: a workchain and a 32-byte account hash.
///
/// Accepted spellings: raw `workchain:64-hex` and the 48-character user-friendly form (standard
/// base64 or base64url; bounceable, non-bounceable and testnet flags; CRC16-XMODEM checked).
/// Every spelling of one address maps to one canonical raw form (`0:abcd…`, lowercase), which is
/// the key the ledger uses, so `EQ…`, `UQ…` and `0:…` can never be three different accounts.
public struct TONAddress: Hashable, Sendable, CustomStringConvertible {
    public let workchain: Int32
    public let hash: [UInt8]
    /// Canonical raw form: `workchain:lowercase-hex`. Computed once: it is the ledger's key and
    /// is read several times per payment.
    public let raw: String

    public init(workchain: Int32, hash: [UInt8]) {
        self.init(workchain: workchain, hash: hash, raw: "\(workchain):\(Hex.encode(hash))")
    }

    private init(workchain: Int32, hash: [UInt8], raw: String) {
        precondition(hash.count == 32, "TON account hash is 32 bytes")
        self.workchain = workchain
        self.hash = hash
        self.raw = raw
    }

    // Equality and hashing over the address itself; `raw` is derived from it.
    public static func == (lhs: TONAddress, rhs: TONAddress) -> Bool { lhs.workchain == rhs.workchain && lhs.hash == rhs.hash }
    public func hash(into hasher: inout Hasher) { hasher.combine(workchain); hasher.combine(hash) }

    /// Why a string is not a TON address.
    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case malformed(String)
        case badChecksum
        case unknownFlags(UInt8)

        public var description: String {
            switch self {
            case .malformed(let why): return "malformed TON address: \(why)"
            case .badChecksum: return "TON address checksum (CRC16) does not match"
            case .unknownFlags(let f): return "TON address has unknown flag byte 0x\(Hex.encode([f]))"
            }
        }
    }

    /// Parses either spelling.
    public init(parsing text: String) throws(ParseError) {
        if text.utf8.contains(0x3a) { // ':'
            try self.init(raw: text)
        } else {
            try self.init(friendly: text)
        }
    }

    /// Parses `workchain:hex` over the UTF-8 bytes (every payment parses two addresses). Text
    /// already in canonical form (lowercase hex) becomes `raw` as is.
    private init(raw text: String) throws(ParseError) {
        let utf8 = text.utf8
        guard let colon = utf8.firstIndex(of: 0x3a), !utf8[utf8.index(after: colon)...].contains(0x3a) else {
            throw .malformed("expected workchain:hex")
        }
        let wcText = utf8[..<colon], hexText = utf8[utf8.index(after: colon)...]
        guard !wcText.isEmpty, wcText.count <= 11 else { throw .malformed("bad workchain") }
        let negative = wcText.first == 0x2d // '-'
        let digits = negative ? wcText.dropFirst() : wcText
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw .malformed("workchain must be a decimal integer")
        }
        guard digits.count == 1 || digits.first != 0x30 else { throw .malformed("workchain has leading zeros") }
        var magnitude: Int64 = 0
        for d in digits { magnitude = magnitude * 10 + Int64(d - 0x30) } // at most 11 digits: no overflow
        guard let wc = Int32(exactly: negative ? -magnitude : magnitude), !(wc == 0 && negative) else {
            throw .malformed("workchain out of range")
        }
        guard let hash = Hex.decode(utf8: hexText, byteCount: 32) else {
            throw .malformed("account hash must be 64 hex characters")
        }
        let canonical = !hexText.contains(where: { $0 >= 0x41 && $0 <= 0x46 })
        self.init(workchain: wc, hash: hash, raw: canonical ? text : "\(wc):\(Hex.encode(hash))")
    }

    private init(friendly text: String) throws(ParseError) {
        guard text.utf8.count == 48 else { throw .malformed("user-friendly form is 48 characters") }
        guard let bytes = Base64.decode(text, urlSafeAllowed: true), bytes.count == 36 else {
            throw .malformed("user-friendly form is not valid base64")
        }
        let crc = CRC16.xmodem(bytes[0..<34])
        guard bytes[34] == UInt8(crc >> 8), bytes[35] == UInt8(crc & 0xff) else { throw .badChecksum }
        let flags = bytes[0] & 0x7f // 0x80 marks testnet-only
        guard flags == 0x11 || flags == 0x51 else { throw .unknownFlags(bytes[0]) }
        self.init(workchain: Int32(Int8(bitPattern: bytes[1])), hash: Array(bytes[2..<34]))
    }

    public var description: String { raw }

    /// The 48-character user-friendly form (base64url). Only for workchains that fit a byte.
    public func friendly(bounceable: Bool = true, testnet: Bool = false, urlSafe: Bool = true) -> String? {
        guard let wc = Int8(exactly: workchain) else { return nil }
        var bytes: [UInt8] = [(bounceable ? 0x11 : 0x51) | (testnet ? 0x80 : 0), UInt8(bitPattern: wc)]
        bytes += hash
        let crc = CRC16.xmodem(bytes[...])
        bytes += [UInt8(crc >> 8), UInt8(crc & 0xff)]
        return Base64.encode(bytes, urlSafe: urlSafe)
    }
}

extension TONAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(raw)
    }
}

/// CRC-16/XMODEM (poly 0x1021, init 0), as TON user-friendly addresses use.
public enum CRC16 {
    public static func xmodem(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
