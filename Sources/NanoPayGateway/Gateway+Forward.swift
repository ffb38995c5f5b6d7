import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NanoPayCore

extension Gateway {
    /// The request as the upstream receives it: the buyer's headers minus anything that could
    /// pass for payment or origin (`ForwardHeaders`), then the gateway's own.
    func upstreamRequest(_ incoming: Incoming, route: GatewayConfig.Route, proof: PaymentProof?, consumedAuthorization: Bool) -> HTTPClientRequest {
        let upstream = route.upstream
        var request = HTTPClientRequest(url: upstream.baseURL + incoming.pathAndQuery)
        request.method = HTTPMethod(rawValue: incoming.method)
        var headers = ForwardHeaders.towardsUpstream(incoming.headers, dropAuthorization: consumedAuthorization)
        if let remote = incoming.remote { headers.add(name: "X-Forwarded-For", value: remote) }
        headers.add(name: "X-Forwarded-Proto", value: "http")
        if let host = incoming.host { headers.add(name: "X-Forwarded-Host", value: host) }
        if let proof {
            headers.add(name: "X-Payment", value: proof.xPayment)
            headers.add(name: "X-Payment-Response", value: proof.xPaymentResponse)
        }
        let secret = upstream.secrets[0]
        switch upstream.authMode {
        case .hmac:
            // Seed 004, byte for byte: base64(HMAC-SHA256(secret, X-Payment + "|" + X-Payment-Response)).
            if let proof {
                let mac = Sodium.hmacSHA256(key: secret, message: Array((proof.xPayment + "|" + proof.xPaymentResponse).utf8))
                headers.add(name: "sigwei-auth-signature", value: Base64.encode(mac))
            }
        case .plaintext:
            headers.add(name: "sigwei-secret", value: String(decoding: secret, as: UTF8.self))
        case .signed:
            let timestamp = clock.nowSeconds()
            let id = proof?.id ?? ""
            let requestId = Hex.encode(Sodium.randomBytes(16))
            // Signed as the upstream receives it: its base URL's path prefix (as written, not
            // percent-decoded), then the request's.
            let target = Self.basePath(upstream.baseURL) + incoming.pathAndQuery
            headers.add(name: GatewaySignature.timestampHeader, value: String(timestamp))
            headers.add(name: GatewaySignature.paymentIdHeader, value: id)
            headers.add(name: GatewaySignature.requestIdHeader, value: requestId)
            headers.add(name: GatewaySignature.signatureHeader,
                        value: GatewaySignature.sign(secret: secret, method: incoming.method, pathAndQuery: target,
                                                     body: incoming.body, timestamp: timestamp, paymentId: id, requestId: requestId))
        }
        request.headers = headers
        if !incoming.body.isEmpty { request.body = .bytes(ByteBuffer(bytes: incoming.body)) }
        return request
    }

    /// The path part of a base URL exactly as written: `http://h:1/api/v2` → `/api/v2`.
    static func basePath(_ baseURL: String) -> String {
        guard let scheme = baseURL.range(of: "://") else { return "" }
        let rest = baseURL[scheme.upperBound...]
        return rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? ""
    }

    /// Free routes and ticket calls: nothing to capture or void.
    func forwardUnpaid(_ incoming: Incoming, route: GatewayConfig.Route, lease: UpstreamSlots.Lease, proof: PaymentProof?) async -> Response {
        await forward(incoming, route: route, lease: lease, proof: proof, deadlineSeconds: route.upstream.totalTimeoutSeconds, paid: nil)
    }

    /// Forwards, then captures (status < 500, within time and size) or voids.
    ///
    /// A paid response that declares its length within the limit is captured as soon as its head
    /// arrives and then streamed (counted, and cut off if it runs past the limit). A paid one
    /// without a declared length is read up to the limit first, because the gateway may charge
    /// only for a response it knows fits; that buffer is bounded by `maxResponseBytes`. Free and
    /// ticket responses are always streamed. The exchange ends by the deadline: the buffered read
    /// is cancelled at it, and a stream is cut at the first chunk after it (each wait for a chunk
    /// being bounded by the client's read timeout).
    func forward(_ incoming: Incoming, route: GatewayConfig.Route, lease: UpstreamSlots.Lease, proof: PaymentProof?,
                 deadlineSeconds: Int64, paid: Paid?) async -> Response {
        let upstream = route.upstream
        let request = upstreamRequest(incoming, route: route, proof: proof, consumedAuthorization: paid == nil && proof != nil)
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = NIODeadline.now() + .seconds(deadlineSeconds)
        let response: HTTPClientResponse
        do {
            response = try await httpClient(for: upstream).execute(request, deadline: deadline)
        } catch {
            lease.release()
            if Self.isTimeout(error) {
                return await refund(paid, upstream, status: 504, "upstream_timeout", "the upstream did not answer within \(deadlineSeconds) s")
            }
            return await refund(paid, upstream, status: 502, "upstream_unreachable", "the upstream could not be reached")
        }
        GatewayMetrics.upstreamLatency(upstream: upstream.name, nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started))
        let status = Int(response.status.code)
        guard status < 500 else {
            lease.release()
            return await refund(paid, upstream, status: 502, "upstream_error", "the upstream answered \(status)")
        }
        let declared = response.headers.first(name: "content-length").flatMap { Int($0) }
        if let declared, declared > upstream.maxResponseBytes || declared < 0 {
            lease.release()
            return await refund(paid, upstream, status: 502, "upstream_response_too_large",
                                "the upstream's response (\(declared) bytes) exceeds the \(upstream.maxResponseBytes)-byte limit")
        }
        var buffered: ByteBuffer?
        if paid != nil && declared == nil {
            let limit = upstream.maxResponseBytes
            let outcome: Result<ByteBuffer, BodyFailure>
            do {
                outcome = try await Self.beforeDeadline(deadline) {
                    var collected = ByteBuffer()
                    for try await chunk in response.body {
                        guard collected.readableBytes + chunk.readableBytes <= limit else { return .failure(.tooLarge) }
                        collected.writeImmutableBuffer(chunk)
                    }
                    return .success(collected)
                }
            } catch {
                outcome = .failure(Self.isTimeout(error) ? .timeout : .broken)
            }
            switch outcome {
            case .success(let body): buffered = body
            case .failure(let failure):
                lease.release()
                switch failure {
                case .tooLarge:
                    return await refund(paid, upstream, status: 502, "upstream_response_too_large", "the upstream's response exceeds the \(limit)-byte limit")
                case .timeout:
                    return await refund(paid, upstream, status: 504, "upstream_timeout", "the upstream did not finish within \(deadlineSeconds) s")
                case .broken:
                    return await refund(paid, upstream, status: 502, "upstream_error", "the upstream's response broke off")
                }
            }
        }
        var headers = ForwardHeaders.towardsBuyer(response.headers)
        if let paid {
            switch await capture(paid, upstream: upstream) {
            case .failure(let instead):
                lease.release()
                return instead.response
            case .success(let paymentResponse):
                headers[HTTPField.Name(X402.paymentResponseHeader)!] = paymentResponse
                headers[.accessControlExposeHeaders] = X402.paymentResponseHeader
            }
        }
        let cacheable = paid != nil && replayCache.maxEntryBytes > 0
        if let buffered {
            lease.release()
            GatewayMetrics.upstreamBytes(upstream: upstream.name, bytes: buffered.readableBytes)
            if let paid, cacheable { remember(paid, status: status, headers: headers, body: Array(buffer: buffered)) }
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: buffered))
        }
        let limit = upstream.maxResponseBytes
        let finalHeaders = headers
        let entryLimit = replayCache.maxEntryBytes
        let body = ResponseBody(contentLength: declared) { [self] writer in
            defer { lease.release() }
            var sent = 0
            var kept: [UInt8]? = cacheable ? [] : nil
            var buyerGone = false
            // Each wait for a chunk is bounded by the client's read timeout (the upstream's total
            // timeout), and the stream as a whole by the deadline, checked at every chunk.
            for try await chunk in response.body {
                guard NIODeadline.now() < deadline else { throw HTTPClientError.deadlineExceeded }
                sent += chunk.readableBytes
                // Cut off before the limit is passed (the upstream sent more than it declared).
                guard sent <= limit else { throw HTTPClientError.remoteConnectionClosed }
                if kept != nil {
                    if kept!.count + chunk.readableBytes <= entryLimit { kept!.append(contentsOf: chunk.readableBytesView) } else { kept = nil }
                }
                if buyerGone {
                    // Paid and captured, but the buyer went away: read on (up to the cache's
                    // entry size) so its retry finds the response instead of a 409.
                    if kept == nil { break }
                    continue
                }
                do { try await writer.write(chunk) } catch {
                    guard kept != nil else { throw error }
                    buyerGone = true
                }
            }
            GatewayMetrics.upstreamBytes(upstream: upstream.name, bytes: sent)
            if let paid, let kept { remember(paid, status: status, headers: finalHeaders, body: kept) }
            if !buyerGone { try await writer.finish(nil) }
        }
        return Response(status: .init(code: status), headers: headers, body: body)
    }

    enum BodyFailure: Error { case tooLarge, timeout, broken }

    /// Runs `body`, cancelled at `deadline` (AsyncHTTPClient's own deadline ends when the head
    /// arrives; a body that trickles or a buyer who never reads must not hold a slot forever).
    static func beforeDeadline<T: Sendable>(_ deadline: NIODeadline, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                let nanoseconds = deadline.uptimeNanoseconds > NIODeadline.now().uptimeNanoseconds
                    ? deadline.uptimeNanoseconds - NIODeadline.now().uptimeNanoseconds : 0
                try await Task.sleep(nanoseconds: nanoseconds)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw HTTPClientError.deadlineExceeded }
            return value
        }
    }

    func remember(_ paid: Paid, status: Int, headers: HTTPFields, body: [UInt8]) {
        let entry = ReplayCache.Entry(binding: paid.binding, validBefore: paid.validBefore, status: status,
                                      headers: headers.map { ($0.name.rawName, $0.value) }, body: body)
        replayCache.insert(key: paid.cacheKey, entry, nowSeconds: clock.nowSeconds())
    }

    /// Captures and checks the receipt. Returns the PAYMENT-RESPONSE value, or the answer to send
    /// instead (nothing was captured, or the receipt did not prove this payment).
    func capture(_ paid: Paid, upstream: GatewayConfig.Upstream) async -> Result<String, AnswerInstead> {
        do {
            switch try await paid.reservations.capture(paid.reserved) {
            case .captured(let receipt):
                if let refusal = receiptCheck.verify(receipt, for: paid.fields, offer: paid.offer, trusted: paid.trusted, nowSeconds: clock.nowSeconds()) {
                    logger.error("nanopayd's capture receipt does not prove this payment", metadata: ["code": "\(refusal.code)", "why": "\(refusal.message)"])
                    return .failure(AnswerInstead(fail(502, "invalid_receipt",
                                                       "nanopayd answered the capture with a receipt that does not prove this payment; the response is withheld. Your payment may have been taken: ask the operator, quoting reservation \(paid.reserved.reservationId)")))
                }
                GatewayMetrics.captured(upstream: upstream.name)
                GatewayMetrics.request(outcome: "paid")
                return .success(X402.encodeHeader(X402.SettleResponse(settled: receipt, network: paid.offer.network)))
            case .refused(let code, _, _):
                GatewayMetrics.voided(upstream: upstream.name, reason: code)
                GatewayMetrics.request(outcome: "capture_refused")
                if code == "reservation_expired" {
                    return .failure(AnswerInstead(fail(504, "upstream_timeout", "the upstream answered after the payment's hold expired; you were not charged", charged: false)))
                }
                logger.error("nanopayd refused the capture", metadata: ["code": "\(code)"])
                return .failure(AnswerInstead(fail(502, "capture_failed", "the payment could not be captured (\(code)); you were not charged", charged: false)))
            }
        } catch {
            logger.error("capture did not reach nanopayd", metadata: ["error": "\(error)"])
            return .failure(AnswerInstead(fail(503, "service_unavailable",
                                               "the payment service did not confirm the capture; unless it did, the hold expires at \(paid.reserved.expiresAt) and the funds return",
                                               retryAfter: true)))
        }
    }

    struct AnswerInstead: Error { var response: Response; init(_ r: Response) { response = r } }

    /// Voids the hold (paid requests) and answers the failure, saying the buyer was not charged.
    func refund(_ paid: Paid?, _ upstream: GatewayConfig.Upstream, status: Int, _ code: String, _ message: String) async -> Response {
        GatewayMetrics.request(outcome: code)
        guard let paid else { return fail(status, code, message) }
        let told = await paid.reservations.void(paid.reserved)
        GatewayMetrics.voided(upstream: upstream.name, reason: code)
        if !told { logger.warning("void did not reach nanopayd; the hold expires by itself", metadata: ["reservation": "\(paid.reserved.reservationId)"]) }
        return fail(status, code, message + "; you were not charged", charged: false)
    }

    static func isTimeout(_ error: any Error) -> Bool {
        guard let e = error as? HTTPClientError else { return false }
        return e == .deadlineExceeded || e == .readTimeout
    }
}
