import Foundation

/// Names the calling thread for `top -H`, /proc and nanopay-bench's per-thread CPU figures.
/// Foundation's `Thread.name` does not reach the OS on Linux, and `pthread_setname_np` is not
/// visible to Swift there; the kernel keeps 15 characters. Best effort: elsewhere it does nothing.
func nameCurrentThread(_ name: String) {
    #if os(Linux)
    try? String(name.prefix(15)).write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
    #endif
}
