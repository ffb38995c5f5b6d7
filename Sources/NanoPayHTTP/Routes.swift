import Foundation
import Hummingbird
import NanoPayCore
import NanoPayService

/// The HTTP contract (see `openapi.yaml`). Handlers parse, call the domain and map errors;
/// no business rule lives here.
struct Routes: Sendable {
    let service: PaymentService
    let operatorToken: OperatorToken

    func register(on router: Router<BasicRequestContext>) {
        router.post("/verify") { request, _ in await self.verify(request) }
        router.post("/verify/batch") { request, _ in await self.verifyBatch(request) }
        router.get("/balance/{address}") { _, context in await self.handleAsync { () async throws in
            let address = try Self.address(context.parameters.get("address") ?? "", field: "address")
            return JSONResponse.make(try await service.balance(address))
        } }
        router.get("/stats") { _, _ in await self.stats() }
        router.get("/attestation") { request, _ in self.handle { () throws(NanoPayError) in
            guard let nonce = Hex.decode(request.uri.queryParameters.get("nonce") ?? "") else {
                throw NanoPayError.invalid("nonce must be hex of at most 64 bytes")
            }
            return JSONResponse.make(try service.quote(nonce: nonce))
        } }
        router.post("/policy") { request, _ in await self.handleAsync { () async throws in try await self.postPolicy(request) } }
        router.get("/policy/{address}") { _, context in await self.handleAsync { () async throws in
            let address = try Self.address(context.parameters.get("address") ?? "", field: "address")
            return JSONResponse.make(PolicyBody(try await service.policy(address)))
        } }
        router.get("/approvals") { request, _ in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let text = request.uri.queryParameters.get("status") ?? "pending"
            guard let status = ApprovalStatus(rawValue: text) else {
                throw NanoPayError.invalid("status must be pending, approved, rejected or expired")
            }
            let list = try await service.approvals(status: status).map { ApprovalBody($0) }
            return JSONResponse.make(["approvals": list])
        } }
        router.get("/approvals/{id}") { request, context in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let (approval, receipt) = try await service.approval(id: context.parameters.get("id") ?? "")
            return JSONResponse.make(ApprovalBody(approval, receipt: receipt))
        } }
        router.post("/approvals/{id}/approve") { request, context in await self.decide(request, context, approve: true) }
        router.post("/approvals/{id}/reject") { request, context in await self.decide(request, context, approve: false) }
        router.post("/deposits") { request, _ in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let body = try await BodyReader.decode(DepositRequest.self, from: request)
            let address = try Self.address(body.address, field: "address")
            let amount = try Self.amount(body.amount, field: "amount")
            var key: [UInt8]? = nil
            if let text = body.publicKey {
                guard let k = Hex.decode(text, byteCount: 32) else { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
                key = k
            }
            return JSONResponse.make(try await service.deposit(address: address, amount: amount, publicKey: key, reference: body.reference))
        } }
        router.post("/withdrawals") { request, _ in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let body = try await BodyReader.decode(WithdrawalRequest.self, from: request)
            let address = try Self.address(body.address, field: "address")
            let amount = try Self.amount(body.amount, field: "amount")
            return JSONResponse.make(try await service.withdraw(address: address, amount: amount, reference: body.reference))
        } }
        router.post("/keys/rotate") { request, _ in await self.handleAsync { () async throws in
            _ = try operatorToken.authorize(request)
            let body = try await BodyReader.decode(KeyRotationRequest.self, from: request)
            let address = try Self.address(body.address, field: "address")
            guard let key = Hex.decode(body.publicKey, byteCount: 32) else { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
            return JSONResponse.make(try await service.rotateKey(address: address, publicKey: key))
        } }
        router.get("/receipts/{confirmationId}") { _, context in await self.handleAsync { () async throws in
            JSONResponse.make(try await service.receipt(confirmationId: context.parameters.get("confirmationId") ?? ""))
        } }
        router.get("/health") { _, _ in
            let healthy = service.storageStatus.isHealthy
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
        case .success(.held(let id, let expiresAtMilliseconds)):
            return (.accepted, Array(JSONResponse.encode(ApprovalRequiredBody(approvalId: id, expiresAt: expiresAtMilliseconds / 1000))), nil)
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
            switch try await service.decide(approvalId: context.parameters.get("id") ?? "", approve: approve, by: "operator", reason: reason) {
            case .decided(let approval, let receipt): return JSONResponse.make(ApprovalBody(approval, receipt: receipt))
            case .alreadyResolved(let error): return JSONResponse.error(error, status: .conflict)
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

    func stats() async -> Response {
        await handleAsync { () async throws in
            let snapshot = try await service.snapshot()
            let t = snapshot.totals
            return JSONResponse.make(StatsBody(
                payments: ["settled": t.paymentsSettled, "held": t.paymentsHeld, "approved": t.paymentsApproved,
                           "rejected": t.paymentsRejected, "expired": t.paymentsExpired],
                outcomes: snapshot.outcomes, volume: t.volume, deposited: t.deposited, withdrawn: t.withdrawn,
                accounts: t.accounts, pendingApprovals: snapshot.pendingApprovals, uptimeSeconds: snapshot.uptimeSeconds,
                verifyLatencyMs: snapshot.verifyLatencyMilliseconds, meanCommitBatch: snapshot.meanCommitBatch))
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
}
