import NanoPayCore
import PostgresNIO

extension PostgresLedger {
    public func recordPayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64) async throws -> PaymentRecord {
        try paymentRecord(await submit(request, mode: .pay, holdTimeoutSeconds: holdTimeoutSeconds).get(), request)
    }

    public func checkPayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64) async throws -> PaymentRecord {
        try paymentRecord(await submit(request, mode: .check, holdTimeoutSeconds: holdTimeoutSeconds).get(), request)
    }

    /// All items are queued at once, so they share group commits.
    public func recordPayments(_ requests: [PaymentRequest], holdTimeoutSeconds: UInt64) async -> [Result<PaymentRecord, NanoPayError>] {
        guard !requests.isEmpty else { return [] }
        let rows = await withCheckedContinuation { (continuation: CheckedContinuation<[Result<RecordedRow, NanoPayError>], Never>) in
            let collected = Locked((results: [Result<RecordedRow, NanoPayError>?](repeating: nil, count: requests.count), remaining: requests.count))
            let items = requests.enumerated().map { i, request in
                PaymentQueue.Item(request: request, mode: .pay, holdTimeoutSeconds: holdTimeoutSeconds) { result in
                    let finished: [Result<RecordedRow, NanoPayError>]? = collected.withLock { c in
                        c.results[i] = result
                        c.remaining -= 1
                        return c.remaining == 0 ? c.results.map { $0! } : nil
                    }
                    if let finished { continuation.resume(returning: finished) }
                }
            }
            enqueueOrRefuse(items)
        }
        return zip(rows, requests).map { row, request in
            row.flatMap { r in Result { () throws(NanoPayError) in try self.paymentRecord(r, request) } }
        }
    }

    public func reservePayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64, reservationTimeoutSeconds: UInt64,
                               captureTokenHash: [UInt8]) async throws -> ReservationRecord {
        let row = try await submit(request, mode: .reserve, holdTimeoutSeconds: holdTimeoutSeconds,
                                   reservationTimeoutSeconds: reservationTimeoutSeconds, captureTokenHash: captureTokenHash).get()
        switch row.outcome {
        case "reserved": return .reserved(id: row.reference ?? "", expiresAtMilliseconds: UInt64(clamping: row.expiresAtMilliseconds ?? 0))
        case "held": return .held(approvalId: row.reference ?? "", expiresAtMilliseconds: UInt64(clamping: row.expiresAtMilliseconds ?? 0))
        default: throw NanoPayError(.internalError, "a reservation came back as \(row.outcome ?? "nothing")")
        }
    }

    private func submit(_ request: PaymentRequest, mode: PaymentQueue.Mode, holdTimeoutSeconds: UInt64, reservationTimeoutSeconds: UInt64 = 0,
                        captureTokenHash: [UInt8] = []) async -> Result<RecordedRow, NanoPayError> {
        await withCheckedContinuation { continuation in
            enqueueOrRefuse([PaymentQueue.Item(request: request, mode: mode, holdTimeoutSeconds: holdTimeoutSeconds,
                                               reservationTimeoutSeconds: reservationTimeoutSeconds, captureTokenHash: captureTokenHash) {
                continuation.resume(returning: $0)
            }])
        }
    }

    private func enqueueOrRefuse(_ items: [PaymentQueue.Item]) {
        do throws(NanoPayError) {
            if try queue.enqueue(items) { Task { await self.drain() } }
        } catch {
            for item in items { item.done(.failure(error)) }
        }
    }

    /// Runs batches until the queue is empty.
    private func drain() async {
        while let batch = queue.take(configuration.batchSizeMax) {
            let results = await commit(batch)
            batchCount.add(1, ordering: .relaxed)
            batchedOps.add(batch.count, ordering: .relaxed)
            for (item, result) in zip(batch, results) { item.done(result) }
        }
    }

    /// One group commit: `np_record` over the whole batch, retried whole on a deadlock or
    /// serialization failure between replicas (nothing of a failed attempt was committed).
    private func commit(_ batch: [PaymentQueue.Item]) async -> [Result<RecordedRow, NanoPayError>] {
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let writer = writerId, logger = self.logger
        let modes = batch.map(\.mode.rawValue)
        let payers = batch.map { $0.request.authorization.from.raw }
        let nonces = batch.map { ByteBuffer(bytes: $0.request.authorization.nonce) }
        let payees = batch.map { $0.request.authorization.to.raw }
        let amounts = batch.map { $0.request.authorization.amount.description }
        let validBefores = batch.map { Int64(clamping: $0.request.authorization.validBefore) }
        let digests = batch.map { ByteBuffer(bytes: $0.request.digest) }
        let keys = batch.map { ByteBuffer(bytes: $0.request.verifiedPublicKey) }
        let identifiers = batch.map { $0.request.paymentIdentifier ?? "" }
        let audiences = batch.map { $0.request.ticketTerms?.audience ?? "" }
        let scopes = batch.map { $0.request.ticketTerms?.scope.description ?? "" }
        let lifetimes = batch.map { Int64(clamping: $0.request.ticketTerms?.lifetimeSeconds ?? 0) }
        let uses = batch.map { Int64($0.request.ticketTerms?.uses ?? 0) }
        let holdTimeouts = batch.map { Int64(clamping: $0.holdTimeoutSeconds) }
        let reserveTimeouts = batch.map { Int64(clamping: $0.reservationTimeoutSeconds) }
        let tokens = batch.map { ByteBuffer(bytes: $0.captureTokenHash) }
        do {
            let rows = try await withConnection { connection in
                var attempt = 0
                while true {
                    do {
                        var out: [RecordedRow] = []
                        out.reserveCapacity(batch.count)
                        let rows = try await connection.send("""
                            SELECT o_code, o_message, o_outcome, o_replayed, o_ref, o_expires_at, o_remaining::text, o_confirmed_at, o_retry_after
                            FROM np_record(\(now), \(writer), \(holdTimeouts), \(modes), \(payers), \(nonces), \(payees), \(amounts)::numeric[],
                                           \(validBefores), \(digests), \(keys), \(identifiers), \(audiences), \(scopes), \(lifetimes), \(uses),
                                           \(reserveTimeouts), \(tokens))
                            """, logger: logger)
                        for try await (code, message, outcome, replayed, ref, expires, remaining, confirmed, retry) in rows.decode(
                            (String?, String?, String?, Bool?, String?, Int64?, String?, Int64?, Int64?).self) {
                            out.append(RecordedRow(code: code, message: message, outcome: outcome, replayed: replayed ?? false, reference: ref,
                                                   expiresAtMilliseconds: expires, remaining: remaining, confirmedAtSeconds: confirmed,
                                                   retryAfterSeconds: retry))
                        }
                        // The last row carries the cluster's counters (outcome 'totals').
                        guard out.count == batch.count + 1, let last = out.popLast(), last.outcome == "totals" else {
                            throw NanoPayError(.internalError, "np_record answered \(out.count) rows for \(batch.count) payments")
                        }
                        if let totals = Self.totals(csv: last.message ?? "") { self.publish(totals) }
                        return out
                    } catch where Self.isRetryable(error) && attempt < 4 {
                        attempt += 1
                        try await Task.sleep(for: .milliseconds(Int64.random(in: 1...(5 << attempt))))
                    }
                }
            }
            return rows.map { row in
                guard let code = row.code else { return .success(row) }
                return .failure(NanoPayError(ErrorCode(rawValue: code) ?? .internalError, row.message ?? code,
                                             retryAfterSeconds: row.retryAfterSeconds.map { UInt64(clamping: $0) }))
            }
        } catch {
            // An error that is not about the database being away (a value PostgreSQL refused, say)
            // must not fail the batch's other payments: each goes again on its own.
            if batch.count > 1, error.code != .storageUnavailable && error.code != .overloaded {
                logger.warning("a group commit failed; committing its payments one by one", metadata: ["code": "\(error.code.rawValue)"])
                var results: [Result<RecordedRow, NanoPayError>] = []
                for item in batch { results += await commit([item]) }
                return results
            }
            return Array(repeating: .failure(error), count: batch.count)
        }
    }

    /// A row of `np_record` as the domain's record; the facts not in the row are the request's
    /// own (an identical resubmission has the same digest, so the same payer, payee, amount,
    /// nonce and validBefore).
    func paymentRecord(_ row: RecordedRow, _ request: PaymentRequest) throws(NanoPayError) -> PaymentRecord {
        switch row.outcome {
        case "settled":
            let auth = request.authorization
            guard let id = row.reference.flatMap({ Hex.decode($0, byteCount: 16) }), let remaining = row.remaining else {
                throw NanoPayError(.internalError, "a settled payment came back without its facts")
            }
            return .settled(SettledPayment(confirmationId: id, from: auth.from, to: auth.to, amount: auth.amount, nonce: auth.nonce,
                                           validBefore: auth.validBefore, remainingBalance: try Self.amount(remaining),
                                           confirmedAtSeconds: UInt64(clamping: row.confirmedAtSeconds ?? 0), authorizationDigest: request.digest),
                            replayed: row.replayed)
        case "held":
            return .held(approvalId: row.reference ?? "", expiresAtMilliseconds: UInt64(clamping: row.expiresAtMilliseconds ?? 0))
        default:
            throw NanoPayError(.internalError, "a payment came back as \(row.outcome ?? "nothing")")
        }
    }
}
