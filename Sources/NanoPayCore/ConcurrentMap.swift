import Foundation

extension Array where Element: Sendable {
    /// `map` on every core: one chunk per core, each item's result written into its own slot of
    /// a preallocated buffer, returned in order. Chunks are only formed when each gets at least
    /// `minimumPerChunk` items; smaller inputs are mapped on the caller's thread. (Collecting
    /// `(index, result)` pairs from a task group crashed release builds with large result enums,
    /// hence the buffer.)
    public func concurrentMap<Result: Sendable>(minimumPerChunk: Int = 1,
                                                _ transform: @escaping @Sendable (Element) -> Result) async -> [Result] {
        let chunks = Swift.max(1, Swift.min(count / Swift.max(minimumPerChunk, 1), ProcessInfo.processInfo.activeProcessorCount))
        guard chunks > 1 else { return map(transform) }
        let slots = Locked<[Result?]>(Swift.Array(repeating: nil, count: count))
        await withTaskGroup(of: Void.self) { group in
            for c in 0..<chunks {
                group.addTask {
                    for i in stride(from: c, to: self.count, by: chunks) {
                        let r = transform(self[i])
                        slots.withLock { $0[i] = r }
                    }
                }
            }
        }
        return slots.withLock { $0.map { $0! } }
    }
}
