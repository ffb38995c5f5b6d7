import DequeModule
import Foundation

/// The single writer with group commit. Ops that arrive while a commit is in flight queue up
/// and go into the next transaction together, so one fsync serves many payments; each caller
/// is answered only after the transaction holding its op is durable. No lock is held across a
/// commit: the queue lock guards only the queue.
final class GroupCommitWriter: @unchecked Sendable {
    private let condition = NSCondition()
    /// A deque: taking a batch off the front is O(batch), not O(queue) as `removeFirst(n)` on
    /// an array is (the queue may hold `queueLimit` ops under overload).
    private var queue = Deque<PendingOp>()
    private var closing = false
    private let done = DispatchSemaphore(value: 0)
    private let batchSizeMax: Int
    private let queueLimit: Int
    private let process: ([PendingOp]) -> Void

    init(batchSizeMax: Int, queueLimit: Int, process: @escaping ([PendingOp]) -> Void) {
        self.batchSizeMax = batchSizeMax
        self.queueLimit = queueLimit
        self.process = process
    }

    func start() {
        let thread = Thread { [self] in
            nameCurrentThread("np-ledger-write")
            loop()
        }
        thread.start()
    }

    /// Queues ops together, so the writer takes them into the same transaction when they fit in
    /// one batch. All or none: a refusal queues nothing.
    func enqueue(_ ops: [PendingOp]) throws(EnqueueRefusal) {
        condition.lock()
        defer { condition.unlock() }
        if closing { throw .closing }
        if queue.count + ops.count > queueLimit { throw .full }
        queue.append(contentsOf: ops)
        condition.signal()
    }

    var queueDepth: Int { condition.lock(); defer { condition.unlock() }; return queue.count }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closing { condition.wait() }
            if queue.isEmpty && closing {
                condition.unlock()
                break
            }
            let take = min(queue.count, batchSizeMax)
            let batch = Array(queue.prefix(take))
            queue.removeFirst(take)
            condition.unlock()
            process(batch)
        }
        done.signal()
    }

    /// Stops taking ops, finishes everything queued (the last commit included), then returns.
    func close() {
        condition.lock()
        let wasClosing = closing
        closing = true
        condition.broadcast()
        condition.unlock()
        if !wasClosing { done.wait() }
    }
}
