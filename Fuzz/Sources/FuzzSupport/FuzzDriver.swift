import Foundation

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The input handler of this fuzz binary; set once by `runFuzzer` before libFuzzer starts.
nonisolated(unsafe) private var handler: ((Data) throws -> Void)?

/// Hands control to libFuzzer's driver with `body` as the target. SwiftPM gives every executable
/// its own `main`, so the targets call the driver (`LLVMFuzzerRunDriver`) rather than exporting
/// `LLVMFuzzerTestOneInput` for libFuzzer's `main`. Any input must be answered with a value or an
/// error, never a trap; a check that fails (a broken round trip) crashes here on purpose, so
/// libFuzzer saves the input.
public func runFuzzer(_ body: @escaping (Data) throws -> Void) -> Never {
    handler = body
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv) { start, count in
        do { try handler?(start.map { Data(bytes: $0, count: count) } ?? Data()) } catch {
            fatalError("decoder check failed: \(error)")
        }
        return 0
    }
    exit(status)
}
