/// A token amount in atomic units: an unsigned 128-bit integer, never a float.
///
/// In JSON an amount is a decimal string in canonical form only: ASCII digits, no sign, no
/// leading zeros, not empty, at most 2^128-1. `"010"`, `"+1"`, `"1.0"`, `"-1"`, `" 1"` and
/// overflowing values are refused, so two spellings can never denote one amount.
public struct Amount: Hashable, Comparable, Sendable, CustomStringConvertible {
    // Stored as two 64-bit halves rather than a UInt128: UInt128 is 16-byte aligned, and with
    // Swift 6.3 on Linux an async function returning a struct of them (AccountBalance) crashed
    // the process (a null job in swift_job_run; see CrashReproTests). 8-byte alignment avoids it.
    @usableFromInline var high: UInt64
    @usableFromInline var low: UInt64

    /// The amount as a 128-bit integer.
    public var value: UInt128 {
        get { UInt128(high) << 64 | UInt128(low) }
        set { high = UInt64(truncatingIfNeeded: newValue >> 64); low = UInt64(truncatingIfNeeded: newValue) }
    }

    public init(_ value: UInt128) {
        high = UInt64(truncatingIfNeeded: value >> 64)
        low = UInt64(truncatingIfNeeded: value)
    }

    public static let zero = Amount(0)
    public static let max = Amount(UInt128.max)

    /// Why a decimal string is not a canonical amount.
    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case empty
        case notDigits
        case leadingZero
        case overflow
        case zeroNotAllowed

        public var description: String {
            switch self {
            case .empty: return "amount is empty"
            case .notDigits: return "amount must contain only the digits 0-9 (no sign, point, space or exponent)"
            case .leadingZero: return "amount must not have leading zeros"
            case .overflow: return "amount exceeds 2^128-1"
            case .zeroNotAllowed: return "amount must be greater than zero"
            }
        }
    }

    /// Parses a canonical decimal string. `allowZero: false` is for payment amounts.
    public init(parsing text: String, allowZero: Bool = true) throws(ParseError) {
        let utf8 = text.utf8
        guard let first = utf8.first else { throw .empty }
        guard utf8.count <= 39 else {
            // 2^128-1 has 39 digits; anything longer is either not digits or overflows.
            for c in utf8 where c < 0x30 || c > 0x39 { throw .notDigits }
            if first == 0x30 { throw .leadingZero }
            throw .overflow
        }
        var result: UInt128 = 0
        for c in utf8 {
            guard c >= 0x30 && c <= 0x39 else { throw .notDigits }
            let (m, o1) = result.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt128(c - 0x30))
            if o1 || o2 { throw .overflow }
            result = s
        }
        if first == 0x30 && utf8.count > 1 { throw .leadingZero }
        if result == 0 && !allowZero { throw .zeroNotAllowed }
        self.init(result)
    }

    public var description: String { String(value) }

    public static func < (lhs: Amount, rhs: Amount) -> Bool { lhs.value < rhs.value }

    /// Sum, or nil on overflow.
    public func adding(_ other: Amount) -> Amount? {
        let (r, o) = value.addingReportingOverflow(other.value)
        return o ? nil : Amount(r)
    }

    /// Difference, or nil if it would go below zero.
    public func subtracting(_ other: Amount) -> Amount? {
        let (r, o) = value.subtractingReportingOverflow(other.value)
        return o ? nil : Amount(r)
    }

    /// 16 bytes, big-endian: the encoding used in signed messages and in storage (sorts like the number).
    /// Inlinable, like the two below: the ledger converts seven amounts per payment on its single
    /// writer thread, and an unspecialized generic loop across the module boundary cost ~3 µs.
    @inlinable
    public var bigEndianBytes: [UInt8] { withBigEndianBytes { Array($0) } }

    /// Lends the 16 big-endian bytes without allocating (binding a statement parameter).
    @inlinable
    public func withBigEndianBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { try body($0) }
    }

    /// Reads 16 big-endian bytes.
    @inlinable
    public init?(bigEndianBytes bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        var i = 0
        for b in bytes {
            if i < 8 { high = high << 8 | UInt64(b) } else { low = low << 8 | UInt64(b) }
            i += 1
        }
        self.init(UInt128(high) << 64 | UInt128(low))
    }
}

extension Amount: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: UInt64) { self.init(UInt128(value)) }
}

extension Amount: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
