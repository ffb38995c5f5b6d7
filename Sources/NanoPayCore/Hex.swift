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
        decode(utf8: text.utf8, byteCount: byteCount)
    }

    /// The same over UTF-8 code units (a substring's, without copying it into a String first).
    /// Signatures, nonces and addresses of every request pass through here.
    @inlinable
    public static func decode(utf8: some Collection<UInt8>, byteCount: Int? = nil) -> [UInt8]? {
        // Native strings are contiguous UTF-8: decode over the buffer, not through the view's index.
        if let fast = utf8.withContiguousStorageIfAvailable({ decode(buffer: $0, byteCount: byteCount) }) { return fast }
        return decode(buffer: Array(utf8), byteCount: byteCount)
    }

    @inlinable
    static func decode(buffer utf8: some Collection<UInt8>, byteCount: Int?) -> [UInt8]? {
        let count = utf8.count
        guard count % 2 == 0 else { return nil }
        if let byteCount, count != byteCount * 2 { return nil }
        var valid = true
        let out = [UInt8](unsafeUninitializedCapacity: count / 2) { buffer, initialized in
            var i = 0, high: UInt8 = 0, isHigh = true
            for c in utf8 {
                guard let v = nibble(c) else { valid = false; break }
                if isHigh { high = v } else { buffer[i] = high << 4 | v; i += 1 }
                isHigh.toggle()
            }
            initialized = i
        }
        return valid ? out : nil
    }

    /// The value of one hex digit (either case).
    @inlinable
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }
}
