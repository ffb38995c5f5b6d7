/// Lowercase hexadecimal encoding and strict decoding.
public enum Hex {
    /// Encodes bytes as lowercase hex. Inlinable so callers in other modules get a specialized
    /// loop: receipts and confirmation ids hex-encode several fields on the ledger's writer thread.
    @inlinable
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digit(byte >> 4))
            out.append(digit(byte & 0x0f))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The lowercase hex digit of a nibble.
    @inlinable
    static func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }

    /// Decodes hex (either case). Returns nil for odd length or a non-hex character.
    /// `byteCount`, when given, is the exact length required.
    public static func decode(_ text: String, byteCount: Int? = nil) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count % 2 == 0 else { return nil }
        if let byteCount, utf8.count != byteCount * 2 { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8 = 0
        var isHigh = true
        for c in utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: return nil
            }
            if isHigh { high = v } else { out.append(high << 4 | v) }
            isHigh.toggle()
        }
        return out
    }
}
