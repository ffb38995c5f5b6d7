/// Hand-written JSON into a byte array, for the answers of the hot path (`/verify` and its batch
/// form, and the receipt the ledger stores per payment). Foundation's `JSONEncoder` cost several
/// microseconds per answer, and appending to a `String` piece by piece cost about as much again in
/// temporaries; bytes go straight into the response buffer. Output matches a `JSONEncoder` with
/// `.sortedKeys` and `.withoutEscapingSlashes` (checked in `ReceiptJSONTests` and
/// `VerifyContractTests`).
public struct JSONWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 1_024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Literal JSON text: punctuation and keys the caller spells out.
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Already-encoded JSON (a stored receipt, another writer's output).
    public mutating func raw(bytes other: [UInt8]) { bytes.append(contentsOf: other) }

    /// A JSON string literal: quotes, backslashes and control characters escaped as
    /// `JSONEncoder` does; everything else, multi-byte UTF-8 included, copied as is.
    public mutating func quoted(_ text: String) {
        bytes.append(0x22)
        var text = text
        text.withUTF8 { utf8 in
            var plainStart = 0
            for (i, b) in utf8.enumerated() where b < 0x20 || b == 0x22 || b == 0x5c {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainStart..<i]))
                appendEscape(b)
                plainStart = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plainStart...]))
        }
        bytes.append(0x22)
    }

    private mutating func appendEscape(_ b: UInt8) {
        bytes.append(0x5c)
        switch b {
        case 0x22: bytes.append(0x22)
        case 0x5c: bytes.append(0x5c)
        case 0x0a: bytes.append(0x6e) // n
        case 0x0d: bytes.append(0x72) // r
        case 0x09: bytes.append(0x74) // t
        case 0x08: bytes.append(0x62) // b
        case 0x0c: bytes.append(0x66) // f
        default:
            bytes.append(contentsOf: [0x75, 0x30, 0x30]) // u00
            bytes.append(Hex.digit(b >> 4))
            bytes.append(Hex.digit(b & 0x0f))
        }
    }

    /// An unsigned integer in decimal.
    public mutating func decimal(_ value: UInt64) {
        let start = bytes.count
        var rest = value
        repeat {
            bytes.append(0x30 + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        bytes[start...].reverse()
    }

    /// A signed integer in decimal.
    public mutating func integer(_ value: Int) {
        if value < 0 { bytes.append(0x2d) }
        decimal(UInt64(value.magnitude))
    }

    /// An amount as the quoted decimal string the API uses.
    public mutating func quoted(_ amount: Amount) {
        bytes.append(0x22)
        if let small = UInt64(exactly: amount.value) { decimal(small) } else { bytes.append(contentsOf: amount.description.utf8) }
        bytes.append(0x22)
    }

    public mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }
}
