/// Builds the deterministic byte strings that get hashed or signed (never JSON text).
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func ascii(_ s: String) { bytes.append(contentsOf: s.utf8) }
    public mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xff)) }
    public mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    public mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    public mutating func amount(_ a: Amount) { raw(a.bigEndianBytes) }
    /// A length-prefixed field (u16 big-endian length, then the bytes).
    public mutating func field(_ b: [UInt8]) {
        precondition(b.count <= Int(UInt16.max))
        u16(UInt16(b.count)); raw(b)
    }
    public mutating func field(_ s: String) { field(Array(s.utf8)) }
}
