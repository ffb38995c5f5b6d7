import CSodium

/// Secret bytes in libsodium guarded memory: guard pages around the buffer, locked out of swap,
/// read-only once written, and zeroed when freed. No API hands the bytes out; callers get a
/// scoped pointer for the duration of one operation.
final class GuardedBytes: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let pointer: UnsafeMutableRawPointer
    let count: Int

    /// Copies `bytes` into guarded memory and wipes the caller's array copy it was given.
    init(copying bytes: inout [UInt8]) throws(EnclaveError) {
        guard sodium_init() >= 0, let p = sodium_malloc(bytes.count) else {
            throw EnclaveError(.crypto, "guarded memory is unavailable")
        }
        pointer = p
        count = bytes.count
        bytes.withUnsafeBytes { src in p.copyMemory(from: src.baseAddress!, byteCount: src.count) }
        bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        sodium_mprotect_readonly(p)
    }

    /// Gives read access for the duration of `body`. The memory stays read-only.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    var description: String { "GuardedBytes(\(count) bytes, redacted)" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

    deinit {
        sodium_free(pointer) // zeroes before unmapping
    }
}
