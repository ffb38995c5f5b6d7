import Foundation
import Hummingbird
import Ledger
import NanoPayCore
import NanoPayService

/// The HTTP contract (see `openapi.yaml`). Handlers parse, call the domain and map errors;
/// no business rule lives here.
struct Routes: Sendable {
    let service: PaymentService
    let operatorToken: OperatorToken

    static let referenceLengthMax = 256
    static let reasonLengthMax = 1024

    func register(on router: Router<BasicRequestContext>) {
        router.post("/verify") { request, _ in await self.verify(request) }
        router.post("/verify/batch") { request, _ in await self.verifyBatch(request) }
        router.get("/balance/{address}") { _, context in self.handle { () throws(NanoPayError) in
            let address = try Self.address(context.parameters.get("address") ?? "", field: "address")
            return JSONResponse.make(try service.ledger.balance(address))
        } }
        router.get("/stats") { _, _ in self.stats() }
        router.get("/attestation") { request, _ in self.handle { () throws(NanoPayError) in
            let text = request.uri.queryParameters.get("nonce") ?? ""
            guard let nonce = Hex.decode(text), nonce.count <= 64 else {
                throw NanoPayError.invalid("nonce must be hex of at most 64 bytes")
            }
            return JSONResponse.make(try service.quote(nonce: nonce))
        } }
        router.post("/policy") { request, _ in await self.handleAsync { () async throws in try await self.postPolicy(request) } }
        router.get("/policy/{address}") { _, context in self.handle { () throws(NanoPayError) in
            let address = try Self.address(context.parameters.get("address") ?? "", field: "address")
            guard let policy = try service.ledger.policy(address) else {
                throw NanoPayError(.policyNotFound, "no policy for \(address.raw)")
            }
            return JSONResponse.make(PolicyBody(policy))
        } }
        router.get("/approvals") { request, _ in self.handle { () throws(NanoPayError) in
            _ = try operatorToken.authorize(request)
            let text = request.uri.queryParameters.get("status") ?? "pending"
            guard let status = ApprovalStatus(rawValue: text) else {
                throw NanoPayError.invalid("status must be pending, approved, rejected or expired")
            }
            let list = try service.ledger.approvals(status: status).map { ApprovalBody($0) }
            return JSONResponse.make(["approvals": list])
        } }
        router.get("/approvals/{id}") { request, context in self.handle { () throws(NanoPayError) in
            _ = try operatorToken.authorize(request)
            let (approval, receipt) = try service.ledger.approval(id: context.parameters.get("id") ?? "")
            return JSONResponse.make(ApprovalBody(approval, receipt: receipt))
        } }
        router.post("/approvals/{id}/approve") { request, context in await self.decide(request, context, approve: true) }
        router.post("/approvals/{id}/reject") { request, context in await self.decide(request, context, approve: false) }
        router.post("/deposits") { request, _ in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let body = try await BodyReader.decode(DepositRequest.self, from: request)
            let address = try Self.address(body.address, field: "address")
            let amount = try Self.amount(body.amount, field: "amount")
            let reference = try Self.reference(body.reference)
            var key: [UInt8]? = nil
            if let text = body.publicKey {
                guard let k = Hex.decode(text, byteCount: 32) else { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
                key = k
            }
            return JSONResponse.make(try await service.ledger.deposit(address: address, amount: amount, publicKey: key, reference: reference))
        } }
        router.post("/withdrawals") { request, _ in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let body = try await BodyReader.decode(WithdrawalRequest.self, from: request)
            let address = try Self.address(body.address, field: "address")
            let amount = try Self.amount(body.amount, field: "amount")
            let reference = try Self.reference(body.reference)
            return JSONResponse.make(try await service.ledger.withdraw(address: address, amount: amount, reference: reference))
        } }
        router.post("/keys/rotate") { request, _ in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let body = try await BodyReader.decode(KeyRotationRequest.self, from: request)
            let address = try Self.address(body.address, field: "address")
            guard let key = Hex.decode(body.publicKey, byteCount: 32) else { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
            try await service.ledger.rotateKey(address: address, publicKey: key)
            return JSONResponse.make(try service.ledger.balance(address))
        } }
        router.get("/receipts/{confirmationId}") { _, context in self.handle { () throws(NanoPayError) in
            let id = context.parameters.get("confirmationId") ?? ""
            guard Hex.decode(id, byteCount: 16) != nil, let receipt = try service.ledger.receipt(confirmationId: id.lowercased()) else {
                throw NanoPayError(.receiptNotFound, "no receipt with confirmation id \(id.prefix(64))")
            }
            return JSONResponse.make(receipt)
        } }
        router.get("/health") { _, _ in
            let healthy = service.ledger.isStorageHealthy
            return JSONResponse.make(HealthBody(status: healthy ? "ok" : "degraded", storage: healthy ? "ok" : "unavailable",
                                                enclavePublicKey: Hex.encode(service.enclave.publicKey),
                                                network: service.configuration.network, asset: service.configuration.asset),
                                     status: healthy ? .ok : .serviceUnavailable)
        }
    }

    // MARK: - Handlers

    func verify(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let response = await handleAsync { () async throws in
            let fields = try await BodyReader.decode(AuthorizationFields.self, from: request)
            return Self.response(for: .success(try await service.verify(fields)))
        }
        let elapsed = (ContinuousClock.now - started).components
        service.stats.recordLatency(micros: UInt64(max(0, elapsed.seconds)) &* 1_000_000 &+ UInt64(max(0, elapsed.attoseconds / 1_000_000_000_000)))
        return response
    }

    /// `POST /verify` for up to `batchItemsMax` authorizations: `{"authorizations": [...]}` ->
    /// `{"results": [{"status": <http status>, "body": <what /verify would answer>}]}`.
    func verifyBatch(_ request: Request) async -> Response {
        await handleAsync { () async throws in
            let data = try await BodyReader.read(request, limitBytes: BodyReader.batchBodyLimitBytes)
            let decoded = try RequestDecoding.verifyBatch(data, itemsMax: service.configuration.batchItemsMax)
            let valid = decoded.compactMap { try? $0.get() }
            var outcomes = await service.verifyBatch(valid).makeIterator()
            var w = JSONWriter(capacity: 1_100 * decoded.count + 16)
            w.raw("{\"results\":[")
            for (i, d) in decoded.enumerated() {
                let result: Result<PaymentOutcome, NanoPayError>
                switch d {
                case .failure(let e): result = .failure(e)
                case .success: result = outcomes.next()!
                }
                let (status, body, _) = Self.answer(for: result)
                if i > 0 { w.raw(",") }
                w.raw("{\"status\":"); w.decimal(UInt64(status.code))
                w.raw(",\"body\":"); w.raw(bytes: body)
                w.raw("}")
            }
            w.raw("]}")
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
        }
    }

    /// Status and JSON body of a verify answer, shared by `/verify` and each `/verify/batch` item.
    static func answer(for result: Result<PaymentOutcome, NanoPayError>) -> (status: HTTPResponse.Status, body: [UInt8], retryAfter: UInt64?) {
        switch result {
        case .success(.settled(let receipt, let replayed)):
            return (.ok, VerifySuccessBody(confirmationId: receipt.confirmationId, remainingBalance: receipt.remainingBalance,
                                           replayed: replayed, receipt: receipt).json, nil)
        case .success(.held(let id, let expiresAt)):
            return (.accepted, Array(JSONResponse.encode(ApprovalRequiredBody(approvalId: id, expiresAt: expiresAt / 1000))), nil)
        case .failure(let error):
            return (HTTPStatusMap.status(for: error.code), Array(JSONResponse.encode(JSONResponse.ErrorBody(error: error.code.rawValue, message: error.message,
                                                                                         retryAfterSeconds: error.retryAfterSeconds))), error.retryAfterSeconds)
        }
    }

    static func response(for result: Result<PaymentOutcome, NanoPayError>) -> Response {
        let (status, body, retry) = answer(for: result)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retry { headers[.retryAfter] = String(retry) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func decide(_ request: Request, _ context: BasicRequestContext, approve: Bool) async -> Response {
        await handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let data = try await BodyReader.read(request)
            var reason: String? = nil
            if !data.isEmpty {
                do { reason = try JSONDecoder().decode(DecisionRequest.self, from: data).reason } catch {
                    throw NanoPayError.invalid(JSONErrors.describe(error))
                }
            }
            if let r = reason, r.utf8.count > Self.reasonLengthMax { throw NanoPayError.invalid("reason is longer than \(Self.reasonLengthMax) bytes") }
            do {
                let (approval, receipt) = try await service.ledger.decide(approvalId: context.parameters.get("id") ?? "", approve: approve,
                                                                         by: "operator", reason: reason)
                return JSONResponse.make(ApprovalBody(approval, receipt: receipt))
            } catch {
                // Deciding an already resolved hold is a conflict, whatever resolved it.
                let e = NanoPayError.wrap(error)
                guard e.code == .approvalExpired else { throw e }
                return JSONResponse.error(e, status: .conflict)
            }
        }
    }

    /// `POST /policy`. With the operator token: fields present are set, `null` clears, absent
    /// keeps. Without it: a payer-signed tightening (`validBefore` and `signature` required).
    func postPolicy(_ request: Request) async throws -> Response {
        let body = try PolicyRequest.parse(try await BodyReader.read(request))
        let update = PolicyUpdate(maxAmount: body.maxAmount, rateLimit: body.rateLimit, rateBurst: body.rateBurst, dailyCap: body.dailyCap)
        guard request.headers[.authorization] == nil, let (signature, validBefore, version) = body.payerSignature else {
            let who = try operatorToken.authorize(request)
            return JSONResponse.make(PolicyBody(try await service.ledger.setPolicy(address: body.address, update: update, authority: .operator(who))))
        }
        func value<V>(_ u: FieldUpdate<V>, _ name: String) throws(NanoPayError) -> V? {
            switch u {
            case .keep: return nil
            case .set(let v): return v
            case .clear: throw NanoPayError(.policyNotTighter, "a payer cannot remove its \(name)")
            }
        }
        guard update.rateBurst == .keep else { throw NanoPayError.invalid("rateBurst can only be set by an operator") }
        let policy = try await service.tightenPolicy(address: body.address, version: version, maxAmount: try value(update.maxAmount, "maxAmount"),
                                                     rateLimit: try value(update.rateLimit, "rateLimit"),
                                                     dailyCap: try value(update.dailyCap, "dailyCap"),
                                                     validBefore: validBefore, signature: signature)
        return JSONResponse.make(PolicyBody(policy))
    }

    struct StatsBody: Encodable {
        var payments: [String: UInt64]
        var outcomes: [String: UInt64]
        var volume: Amount
        var deposited: Amount
        var withdrawn: Amount
        var accounts: UInt64
        var pendingApprovals: Int
        var uptimeSeconds: UInt64
        var verifyLatencyMs: [String: Double]
        var meanCommitBatch: Double
    }

    func stats() -> Response {
        handle { () throws(NanoPayError) in
            let t = service.ledger.totals
            var latency: [String: Double] = [:]
            for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
                if let v = service.stats.latencyQuantileMilliseconds(q) { latency[name] = v }
            }
            let body = StatsBody(
                payments: ["settled": t.paymentsSettled, "held": t.paymentsHeld, "approved": t.paymentsApproved,
                           "rejected": t.paymentsRejected, "expired": t.paymentsExpired],
                outcomes: service.stats.outcomeCounts, volume: t.volume, deposited: t.deposited, withdrawn: t.withdrawn,
                accounts: t.accounts, pendingApprovals: try service.ledger.pendingApprovalCount(),
                uptimeSeconds: service.stats.uptimeSeconds,
                verifyLatencyMs: latency, meanCommitBatch: service.ledger.meanBatchSize)
            return JSONResponse.make(body)
        }
    }

    // MARK: - Helpers

    func handle(_ body: () throws(NanoPayError) -> Response) -> Response {
        do { return try body() } catch { return JSONResponse.error(error) }
    }

    func handleAsync(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch { return JSONResponse.error(NanoPayError.wrap(error)) }
    }

    static func address(_ text: String, field: String) throws(NanoPayError) -> TONAddress {
        do { return try TONAddress(parsing: text) } catch { throw NanoPayError.invalid("\(field): \(error.description)") }
    }

    static func amount(_ text: String, field: String, allowZero: Bool = false) throws(NanoPayError) -> Amount {
        do { return try Amount(parsing: text, allowZero: allowZero) } catch { throw NanoPayError.invalid("\(field): \(error.description)") }
    }

    static func reference(_ text: String) throws(NanoPayError) -> String {
        guard !text.isEmpty, text.utf8.count <= referenceLengthMax, !text.contains(where: { $0.isNewline }) else {
            throw NanoPayError.invalid("reference must be 1 to \(referenceLengthMax) bytes on one line")
        }
        return text
    }
}
