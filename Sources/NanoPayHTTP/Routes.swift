import Foundation
import Hummingbird
import NanoPayCore
import NanoPayService

/// The HTTP contract (see `openapi.yaml`). Handlers parse, call the domain and map errors;
/// no business rule lives here.
struct Routes: Sendable {
    let service: PaymentService
    let operatorToken: OperatorToken

    /// Three groups: public (payments, reads, attestation, payer-signed policy), operator
    /// (behind `OperatorAuthMiddleware`), and x402 (`X402Routes`). Handlers throw
    /// `NanoPayError`, which is an `HTTPResponseError`.
    func register(on router: Router<BasicRequestContext>) {
        router.post("/verify") { request, _ in await self.verify(request) }
        router.post("/verify/batch") { request, _ in try await self.verifyBatch(request) }
        router.get("/balance/{address}") { _, context in
            JSONResponse.make(try await service.balance(try Self.address(context.parameters.get("address") ?? "", field: "address")))
        }
        router.get("/stats") { _, _ in try await self.stats() }
        router.get("/attestation") { request, _ in
            guard let nonce = Hex.decode(request.uri.queryParameters.get("nonce") ?? "") else {
                throw NanoPayError.invalid("nonce must be hex of at most 64 bytes")
            }
            return JSONResponse.make(try service.quote(nonce: nonce))
        }
        // The ticket key as a JWK set, for sellers' JWT libraries (the quote binds the same key).
        router.get("/.well-known/jwks.json") { _, _ in JSONResponse.make(service.ticketKeys) }
        // Operator token or a payer's signature: the handler tells which.
        router.post("/policy") { request, _ in try await self.postPolicy(request) }
        router.get("/policy/{address}") { _, context in
            JSONResponse.make(PolicyBody(try await service.policy(try Self.address(context.parameters.get("address") ?? "", field: "address"))))
        }
        router.get("/receipts/{confirmationId}") { _, context in
            JSONResponse.make(try await service.receipt(confirmationId: context.parameters.get("confirmationId") ?? ""))
        }
        router.get("/health") { _, _ in
            let healthy = service.storageStatus.isHealthy
            return JSONResponse.make(HealthBody(status: healthy ? "ok" : "degraded", storage: healthy ? "ok" : "unavailable",
                                                enclavePublicKey: Hex.encode(service.enclave.publicKey),
                                                network: service.configuration.network, asset: service.configuration.asset),
                                     status: healthy ? .ok : .serviceUnavailable)
        }

        let operatorRoutes = router.group().add(middleware: OperatorAuthMiddleware(token: operatorToken))
        operatorRoutes.get("/approvals") { request, _ in
            let text = request.uri.queryParameters.get("status") ?? "pending"
            guard let status = ApprovalStatus(rawValue: text) else {
                throw NanoPayError.invalid("status must be pending, approved, rejected or expired")
            }
            return JSONResponse.make(["approvals": try await service.approvals(status: status).map { ApprovalBody($0) }])
        }
        operatorRoutes.get("/approvals/{id}") { _, context in
            let (approval, receipt) = try await service.approval(id: context.parameters.get("id") ?? "")
            return JSONResponse.make(ApprovalBody(approval, receipt: receipt))
        }
        operatorRoutes.post("/approvals/{id}/approve") { request, context in try await self.decide(request, context, approve: true) }
        operatorRoutes.post("/approvals/{id}/reject") { request, context in try await self.decide(request, context, approve: false) }
        operatorRoutes.get("/accounts/{address}/payments") { request, context in
            let address = try Self.address(context.parameters.get("address") ?? "", field: "address")
            var limit = 50
            if let text = request.uri.queryParameters.get("limit") {
                guard let n = Int(text) else { throw NanoPayError.invalid("limit must be a whole number") }
                limit = n
            }
            return JSONResponse.make(PaymentHistoryBody(address: address, payments: try await service.recentPayments(address, limit: limit)))
        }
        operatorRoutes.post("/deposits") { request, _ in
            let body = try await request.decodeJSON(DepositRequest.self)
            var key: [UInt8]? = nil
            if let text = body.publicKey {
                guard let k = Hex.decode(text, byteCount: 32) else { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
                key = k
            }
            return JSONResponse.make(try await service.deposit(address: try Self.address(body.address, field: "address"),
                                                               amount: try Self.amount(body.amount, field: "amount"),
                                                               publicKey: key, reference: body.reference))
        }
        operatorRoutes.post("/withdrawals") { request, _ in
            let body = try await request.decodeJSON(WithdrawalRequest.self)
            return JSONResponse.make(try await service.withdraw(address: try Self.address(body.address, field: "address"),
                                                                amount: try Self.amount(body.amount, field: "amount"), reference: body.reference))
        }
        operatorRoutes.post("/keys/rotate") { request, _ in
            let body = try await request.decodeJSON(KeyRotationRequest.self)
            guard let key = Hex.decode(body.publicKey, byteCount: 32) else { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
            return JSONResponse.make(try await service.rotateKey(address: try Self.address(body.address, field: "address"), publicKey: key))
        }
    }

    // MARK: - Handlers

    /// `POST /verify`, the hot path: every answer, refusals included, is built here as a value
    /// (no throw through the middleware chain) and its latency recorded.
    func verify(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let result: Result<PaymentOutcome, NanoPayError>
        do throws(NanoPayError) {
            result = .success(try await service.verify(try await request.decodeJSON(AuthorizationFields.self)))
        } catch {
            result = .failure(error)
        }
        let response = Self.response(for: result)
        let elapsed = (ContinuousClock.now - started).components
        service.stats.recordLatency(micros: UInt64(max(0, elapsed.seconds)) &* 1_000_000 &+ UInt64(max(0, elapsed.attoseconds / 1_000_000_000_000)))
        return response
    }

    /// `POST /verify` for up to `batchItemsMax` authorizations: `{"authorizations": [...]}` ->
    /// `{"results": [{"status": <http status>, "body": <what /verify would answer>}]}`.
    func verifyBatch(_ request: Request) async throws -> Response {
        do {
            let data = try await request.bodyData(limitBytes: Request.batchBodyLimitBytes)
            let decoded = try RequestDecoding.verifyBatch(data, itemsMax: service.configuration.batchItemsMax)
            let valid = decoded.compactMap { try? $0.get() }
            var outcomes = await service.verifyBatch(valid).makeIterator()
            var w = JSONWriter(capacity: 1_100 * decoded.count + 16)
            w.raw("{\"results\":[")
            for (i, d) in decoded.enumerated() {
                let result: Result<PaymentOutcome, NanoPayError>
                switch d {
                case .failure(let e): result = .failure(e)
                case .success: result = outcomes.next() ?? .failure(NanoPayError(.internalError, "batch lost an item"))
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
        case .success(.held(let id, let expiresAtMilliseconds)):
            return (.accepted, Array(JSONResponse.encode(ApprovalRequiredBody(approvalId: id, expiresAtMilliseconds: expiresAtMilliseconds))), nil)
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

    func decide(_ request: Request, _ context: BasicRequestContext, approve: Bool) async throws -> Response {
        let data = try await request.bodyData()
        var reason: String? = nil
        if !data.isEmpty {
            do { reason = try JSONDecoder().decode(DecisionRequest.self, from: data).reason } catch {
                throw NanoPayError.invalid(JSONErrors.describe(error))
            }
        }
        switch try await service.decide(approvalId: context.parameters.get("id") ?? "", approve: approve, by: "operator", reason: reason) {
        case .decided(let approval, let receipt): return JSONResponse.make(ApprovalBody(approval, receipt: receipt))
        case .alreadyResolved(let error): return JSONResponse.error(error, status: .conflict)
        }
    }

    /// `POST /policy`. With the operator token: fields present are set, `null` clears, absent
    /// keeps. Without it: a payer-signed tightening (`validBefore` and `signature` required).
    func postPolicy(_ request: Request) async throws -> Response {
        let body = try PolicyRequest.parse(try await request.bodyData())
        let update = PolicyUpdate(maxAmount: body.maxAmount, rateLimit: body.rateLimit, rateBurst: body.rateBurst, dailyCap: body.dailyCap)
        guard request.headers[.authorization] == nil, let (signature, validBefore, version) = body.payerSignature else {
            let who = try operatorToken.authorize(request)
            return JSONResponse.make(PolicyBody(try await service.setPolicy(address: body.address, update: update, by: who)))
        }
        return JSONResponse.make(PolicyBody(try await service.payerPolicyRequest(address: body.address, update: update, version: version,
                                                                                 validBefore: validBefore, signature: signature)))
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

    func stats() async throws -> Response {
        let snapshot = try await service.snapshot()
        let t = snapshot.totals
        return JSONResponse.make(StatsBody(
            payments: ["settled": t.paymentsSettled, "held": t.paymentsHeld, "approved": t.paymentsApproved,
                       "rejected": t.paymentsRejected, "expired": t.paymentsExpired],
            outcomes: snapshot.outcomes, volume: t.volume, deposited: t.deposited, withdrawn: t.withdrawn,
            accounts: t.accounts, pendingApprovals: snapshot.pendingApprovals, uptimeSeconds: snapshot.uptimeSeconds,
            verifyLatencyMs: snapshot.verifyLatencyMilliseconds, meanCommitBatch: snapshot.meanCommitBatch))
    }

    // MARK: - Helpers

    static func address(_ text: String, field: String) throws(NanoPayError) -> TONAddress {
        do { return try TONAddress(parsing: text) } catch { throw NanoPayError.invalid("\(field): \(error.description)") }
    }

    static func amount(_ text: String, field: String, allowZero: Bool = false) throws(NanoPayError) -> Amount {
        do { return try Amount(parsing: text, allowZero: allowZero) } catch { throw NanoPayError.invalid("\(field): \(error.description)") }
    }
}
