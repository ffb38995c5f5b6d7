import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import Testing

/// nanopay-gateway end to end: nanopayd, the Python upstream and the gateway as processes; the
/// Swift buyer and raw HTTP as clients. Every test checks the buyer's balance at nanopayd.
@Suite(.serialized) struct GatewayEndToEndTests {
    @Test func theSwiftBuyerPaysThroughEveryAuthModeAndTheUpstreamChecksEach() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 300)
        defer { f.stop() }
        let client = f.client
        for path in ["/hmac/echo", "/plain/echo", "/signed/echo?q=1"] {
            let answer = try await client.get(f.gatewayURL + path)
            // The upstream answers 403 (and the gateway passes it on, captured) unless the mode's check passes.
            #expect(answer.status == 200 && answer.receiptVerified && answer.receiptTrust == .pinned, "\(path): \(String(decoding: answer.body, as: UTF8.self))")
            let echo = try JSONDecoder().decode(Echo.self, from: answer.body)
            #expect(echo.headers["x-payment"] != nil && echo.headers["x-payment-response"] != nil)
            let settlement = try X402.decodeHeader(X402.SettleResponse.self, from: try #require(echo.headers["x-payment-response"]))
            #expect(settlement.transaction.hasPrefix("res_") && settlement.payer == f.buyer.address.raw)
        }
        #expect(try await f.available() == "97000", "three payments of 1000")
        // Free route: no payment, still signed towards the upstream.
        let free = try await f.send("/open/echo")
        #expect(free.status == 200 && free.header("PAYMENT-RESPONSE") == nil)
        // Unknown path: 404, never forwarded.
        let hits = try await f.upstreamHits()
        let unknown = try await f.send("/admin/secret")
        #expect(unknown.status == 404 && unknown.json["error"]?.stringValue == "route_not_found")
        // A path the upstream could read as another route: refused before matching.
        for sneaky in ["/open/../hmac/echo", "/open/%2e%2e/hmac/echo", "/open//x", "/open/a%2fb", "/signed/%70remium", "/signed/x/..;/premium"] {
            let a = try await f.send(sneaky)
            #expect(a.status == 400 && a.json["error"]?.stringValue == "invalid_path", "\(sneaky): \(a.status)")
        }
        // Methods are case-sensitive; the gateway's own paths answer GET only.
        let lower = try await f.send("/open/echo", method: "get")
        #expect(lower.status == 404 || lower.status == 400, "\(lower.status) \(lower.text)")
        #expect(try await f.send("/metrics", method: "POST").status == 405)
        #expect(try await f.upstreamHits() == hits)
        #expect(try await f.available() == "97000")
        // The premium route's own price, however it is spelled; the cheaper /signed/* never covers it.
        for spelling in ["/signed/premium", "/signed/premium/"] {
            let offer = try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(try await f.send(spelling).header("PAYMENT-REQUIRED")))
            #expect(offer.accepts.first?.amount == "5000", "\(spelling)")
        }
    }

    @Test func failedUpstreamsChargeNothingAndSayWhy() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 301, totalTimeoutSeconds: 2, captureMarginSeconds: 2)
        defer { f.stop() }
        let cases: [(String, Int, String)] = [
            ("/signed/status/500", 502, "upstream_error"),
            ("/signed/status/503", 502, "upstream_error"),
            ("/signed/hang", 504, "upstream_timeout"),
            ("/dead/echo", 502, "upstream_unreachable"),
            ("/signed/big?bytes=300000", 502, "upstream_response_too_large"),
            ("/signed/big?bytes=300000&chunked=1", 502, "upstream_response_too_large"),
            // The head arrives at once, then the body stalls: the deadline still applies.
            ("/signed/stall", 504, "upstream_timeout"),
        ]
        for (path, status, code) in cases {
            let (header, _) = try await f.paymentHeader(path)
            let answer = try await f.send(path, headers: [("PAYMENT-SIGNATURE", header)])
            #expect(answer.status == status && answer.json["error"]?.stringValue == code, "\(path): \(answer.status) \(answer.text)")
            #expect(answer.json["charged"] == .bool(false) && answer.header("PAYMENT-RESPONSE") == nil, "\(path)")
            #expect(try await f.available() == "100000", "\(path) charged the buyer")
        }
        // A 4xx is a delivered answer: charged. A response just under the limit, streamed, too.
        let notFound = try await f.client.get(f.gatewayURL + "/signed/status/404")
        #expect(notFound.status == 404 && notFound.receiptVerified)
        let big = try await f.client.get(f.gatewayURL + "/signed/big?bytes=199000")
        #expect(big.status == 200 && big.body.count == 199_000 && big.receiptVerified)
        #expect(try await f.available() == "98000")
    }

    @Test func aLostResponseIsReplayedNotChargedAgain() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 302)
        defer { f.stop() }
        let (header, _) = try await f.paymentHeader("/signed/echo", method: "POST")
        let body = Array(#"{"question":"weather"}"#.utf8)
        let first = try await f.send("/signed/echo", method: "POST", headers: [("PAYMENT-SIGNATURE", header)], body: body)
        #expect(first.status == 200 && first.header("X-NanoPay-Replayed") == nil)
        let hits = try await f.upstreamHits()
        let again = try await f.send("/signed/echo", method: "POST", headers: [("PAYMENT-SIGNATURE", header)], body: body)
        #expect(again.status == 200 && again.body == first.body && again.header("X-NanoPay-Replayed") == "true")
        #expect(again.header("PAYMENT-RESPONSE") == first.header("PAYMENT-RESPONSE"))
        #expect(try await f.upstreamHits() == hits, "a replay is not forwarded")
        #expect(try await f.available() == "99000", "charged once")
        // The same header on another URL or with another body: 402.
        let otherURL = try await f.send("/signed/echo?x=1", method: "POST", headers: [("PAYMENT-SIGNATURE", header)], body: body)
        #expect(otherURL.status == 402 && otherURL.json["error"]?.stringValue == "payment_already_used")
        let otherBody = try await f.send("/signed/echo", method: "POST", headers: [("PAYMENT-SIGNATURE", header)], body: Array("{}".utf8))
        #expect(otherBody.status == 402)
        // A body over limits.maxRequestBodyBytes (1 MiB) is refused before anything is reserved.
        let (bigBodyHeader, _) = try await f.paymentHeader("/signed/echo", method: "POST")
        let tooBig = try await f.send("/signed/echo", method: "POST", headers: [("PAYMENT-SIGNATURE", bigBodyHeader)],
                                      body: [UInt8](repeating: 0x61, count: (1 << 20) + 1))
        #expect(tooBig.status == 413 && tooBig.json["error"]?.stringValue == "payload_too_large", "\(tooBig.status)")
        // A response over the per-entry limit (64 KiB here) is not kept: the retry gets 409.
        let (bigHeader, _) = try await f.paymentHeader("/signed/big?bytes=100000")
        let big = try await f.send("/signed/big?bytes=100000", headers: [("PAYMENT-SIGNATURE", bigHeader)])
        #expect(big.status == 200 && big.body.count == 100_000)
        let bigAgain = try await f.send("/signed/big?bytes=100000", headers: [("PAYMENT-SIGNATURE", bigHeader)])
        #expect(bigAgain.status == 409 && bigAgain.json["error"]?.stringValue == "replay_unavailable", "\(bigAgain.text)")
        #expect(try await f.available() == "98000")
    }

    @Test func spoofedHeadersNeverReachTheUpstream() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 303)
        defer { f.stop() }
        let (header, _) = try await f.paymentHeader("/signed/echo")
        let spoofed: [(String, String)] = [
            ("PAYMENT-SIGNATURE", header), ("X-Payment", "forged"), ("X-Payment-Response", "forged"), ("sigwei-auth-signature", "forged"),
            ("sigwei-secret", "forged"), ("X-NanoPay-Signature", "v1=forged"), ("X-NanoPay-Timestamp", "1"), ("X-NanoPay-Payment-Id", "res_forged"),
            ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Host", "evil.example"), ("Forwarded", "for=6.6.6.6"),
            ("Connection", "X-Hop"), ("X-Hop", "should-go"), ("Keep-Alive", "timeout=5"), ("X-Custom", "kept"),
            ("X-Original-URL", "/signed/premium"), ("X-Rewrite-URL", "/signed/premium"), ("X-HTTP-Method-Override", "DELETE"),
            ("X-Method-Override", "DELETE"), ("X-HTTP-Method", "DELETE"), ("X-Original-Method", "DELETE"), ("X-Forwarded-Uri", "/signed/premium"),
            ("Payment-Required", "forged"), ("Proxy-Foo", "forged"), ("TE", "trailers"), ("X-Forwarded-Proto", "https"),
        ]
        let answer = try await f.send("/signed/echo", headers: spoofed)
        #expect(answer.status == 200, "\(answer.text)")
        let echo = try JSONDecoder().decode(Echo.self, from: Data(answer.body))
        #expect(echo.headers["x-payment"] == header, "X-Payment is the buyer's PAYMENT-SIGNATURE as received")
        #expect(echo.headers["x-payment-response"] != "forged" && echo.headers["x-nanopay-payment-id"]?.hasPrefix("res_") == true)
        #expect(echo.headers["x-nanopay-payment-id"] != "res_forged" && echo.headers["x-nanopay-timestamp"] != "1")
        #expect(echo.headers["sigwei-auth-signature"] == nil && echo.headers["sigwei-secret"] == nil && echo.headers["payment-signature"] == nil)
        #expect(echo.headers["x-forwarded-for"] == "127.0.0.1" && echo.headers["x-forwarded-host"] != "evil.example" && echo.headers["forwarded"] == nil)
        #expect(echo.headers["x-hop"] == nil && echo.headers["keep-alive"] == nil && echo.headers["x-custom"] == "kept")
        for name in ["x-original-url", "x-rewrite-url", "x-http-method-override", "x-method-override", "x-http-method", "x-original-method",
                     "x-forwarded-uri", "payment-required", "proxy-foo", "te"] { #expect(echo.headers[name] == nil, "\(name)") }
        #expect(echo.headers["x-forwarded-proto"] == "http")
        // The exact request the gateway signed, replayed to the upstream by someone who captured it: refused (its request id was used).
        var replay = HTTPClientRequest(url: "http://127.0.0.1:\(f.upstreamPort)/signed/echo")
        for name in ["x-payment", "x-payment-response", "x-nanopay-timestamp", "x-nanopay-payment-id", "x-nanopay-request-id", "x-nanopay-signature"] {
            replay.headers.add(name: name, value: try #require(echo.headers[name]))
        }
        #expect(try await HTTPClient.shared.execute(replay, timeout: .seconds(10)).status.code == 403)
        // A buyer calling the upstream directly with forged headers is refused by every mode's check.
        let direct = ServiceClient(baseURL: "http://127.0.0.1:\(f.upstreamPort)")
        for path in ["/hmac/echo", "/plain/echo", "/signed/echo"] { #expect(try await direct.send(.GET, path).status == 403) }
    }

    @Test func aBuyerRacingTheGatewayNeverGetsAFreeResponse() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 304)
        defer { f.stop() }
        // 1. The buyer spends its authorization directly at nanopayd first: the gateway does not forward.
        let (header, fields) = try await f.paymentHeader("/signed/echo")
        let direct = try await ServiceClient(baseURL: f.daemonURL).send(.POST, "/verify", json: try JSONEncoder().encode(fields))
        #expect(direct.status == 200)
        let hits = try await f.upstreamHits()
        let refused = try await f.send("/signed/echo", headers: [("PAYMENT-SIGNATURE", header)])
        #expect(refused.status == 409 && refused.json["error"]?.stringValue == "replay_unavailable")
        #expect(try await f.upstreamHits() == hits, "not forwarded")
        // 2. Someone with a gateway token reserves it first: same, and the buyer cannot void without the capture token.
        let (header2, fields2) = try await f.paymentHeader("/signed/echo")
        let token = try String(contentsOfFile: f.dir.path + "/data/gateway.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let other = ServiceClient(baseURL: f.daemonURL, operatorToken: token)
        let reserve = try await other.send(.POST, "/reservations", json: Data(#"{"authorization":\#(String(decoding: try JSONEncoder().encode(fields2), as: UTF8.self)),"timeoutSeconds":10}"#.utf8))
        #expect(reserve.status == 201)
        let blocked = try await f.send("/signed/echo", headers: [("PAYMENT-SIGNATURE", header2)])
        let hitsAfter = try await f.upstreamHits()
        #expect(blocked.status == 409 && hitsAfter == hits)
        // 3. While the gateway forwards a slow request, the buyer tries to spend or void the same authorization.
        let (header3, fields3) = try await f.paymentHeader("/signed/slow?ms=1500")
        async let slow = f.send("/signed/slow?ms=1500", headers: [("PAYMENT-SIGNATURE", header3)])
        try await Task.sleep(for: .milliseconds(500))
        let spend = try await ServiceClient(baseURL: f.daemonURL).send(.POST, "/verify", json: try JSONEncoder().encode(fields3))
        #expect(spend.status == 409, "\(spend.text)")
        let reserveMeanwhile = try await other.send(.POST, "/reservations", json: Data(#"{"authorization":\#(String(decoding: try JSONEncoder().encode(fields3), as: UTF8.self)),"timeoutSeconds":10}"#.utf8))
        #expect(reserveMeanwhile.status == 409 && !reserveMeanwhile.text.contains("captureToken"), "\(reserveMeanwhile.text)")
        let void = try await ServiceClient(baseURL: f.daemonURL).send(.POST, "/reservations/res_x/void", json: Data(#"{"captureToken":"00"}"#.utf8))
        #expect(void.status == 401, "no gateway token")
        let delivered = try await slow
        #expect(delivered.status == 200 && delivered.header("PAYMENT-RESPONSE") != nil)
        // Spent: 1000 directly, 1000 held by the other reservation, 1000 through the gateway.
        #expect(try await f.available() == "97000")
    }

    @Test func aGatewayKilledBetweenReserveAndCaptureChargesNothingOnceTheHoldExpires() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 305, totalTimeoutSeconds: 3, captureMarginSeconds: 1)
        defer { f.stop() }
        let (header, _) = try await f.paymentHeader("/signed/slow?ms=2500")
        let pending = Task { try? await f.send("/signed/slow?ms=2500", headers: [("PAYMENT-SIGNATURE", header)]) }
        // Wait until the hold exists, then SIGKILL the gateway mid-forward.
        for _ in 0..<100 where try await f.available() == "100000" { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await f.available() == "99000", "reserved")
        kill(f.gateway!.processIdentifier, SIGKILL)
        f.gateway!.waitUntilExit()
        _ = await pending.value
        // The hold lasts 3 + 1 s; nanopayd's sweep returns the funds.
        for _ in 0..<100 where try await f.available() != "100000" { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await f.available() == "100000")
        let balance = try await f.operatorClient.send(.GET, "/balance/\(f.buyer.address.raw)").decode([String: String].self)
        #expect(balance["held"] == "0" || balance["held"] == nil, "\(balance)")
    }

    @Test func sighupAppliesANewPriceWhileASlowRequestFinishesAndRefusesABrokenConfig() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 306)
        defer { f.stop() }
        let (header, _) = try await f.paymentHeader("/signed/slow?ms=1500")
        async let slow = f.send("/signed/slow?ms=1500", headers: [("PAYMENT-SIGNATURE", header)])
        try await Task.sleep(for: .milliseconds(400))
        try f.writeConfig(price: "2500")
        try await f.startGatewayConfigKeepingPort()
        try await f.reload(expect: "config reloaded")
        let old = try await slow
        #expect(old.status == 200, "the request in flight finishes under the old config: \(old.text)")
        // Its lost-response retry is still replayed after the price changed.
        let retry = try await f.send("/signed/slow?ms=1500", headers: [("PAYMENT-SIGNATURE", header)])
        #expect(retry.status == 200 && retry.header("X-NanoPay-Replayed") == "true" && retry.body == old.body)
        let offer = try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(try await f.send("/signed/echo").header("PAYMENT-REQUIRED")))
        #expect(offer.accepts.first?.amount == "2500")
        // A broken config is refused; the running one stays.
        try "routes: [oops".write(toFile: f.configPath, atomically: true, encoding: .utf8)
        try await f.reload(expect: "config reload refused")
        let still = try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(try await f.send("/signed/echo").header("PAYMENT-REQUIRED")))
        #expect(still.accepts.first?.amount == "2500")
        let paid = try await f.client.get(f.gatewayURL + "/signed/echo")
        #expect(paid.status == 200)
        #expect(try await f.available() == String(100_000 - 1000 - 2500))
    }

    @Test func aFullUpstreamAnswers503AndReservesNothing() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 307)
        defer { f.stop() }
        let (h1, _) = try await f.paymentHeader("/narrow/slow?ms=1500")
        let (h2, _) = try await f.paymentHeader("/narrow/slow?ms=1500")
        async let first = f.send("/narrow/slow?ms=1500", headers: [("PAYMENT-SIGNATURE", h1)])
        try await Task.sleep(for: .milliseconds(400))
        let second = try await f.send("/narrow/slow?ms=1500", headers: [("PAYMENT-SIGNATURE", h2)])
        #expect(second.status == 503 && second.header("Retry-After") != nil && second.json["error"]?.stringValue == "upstream_busy", "\(second.status) \(second.text)")
        #expect(try await f.available() == "99000", "only the first is reserved")
        let firstAnswer = try await first
        #expect(firstAnswer.status == 200, "\(firstAnswer.status) \(firstAnswer.text)")
        #expect(try await f.available() == "99000")
    }

    @Test func discoverySkillAndMetrics() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 308)
        defer { f.stop() }
        let discovery = try await f.send("/.well-known/x402")
        let doc = try JSONDecoder().decode(DiscoveryDoc.self, from: Data(discovery.body))
        let echo = try #require(doc.resources.first { $0.path == "/hmac/echo" })
        #expect(echo.price == "1000" && echo.network == "tvm:-239" && echo.asset != nil && echo.description == "Echo (hmac)")
        #expect(doc.resources.first { $0.path == "/open/*" }?.price == nil)
        let skill = try runProcess(TestBinaries.path("nanopay-gateway"), ["skill", "--config", f.configPath])
        #expect(skill.status == 0 && skill.output.hasPrefix("---\nname: \"test-gateway\"\nbase_url: "), "\(skill.output)")
        #expect(skill.output.contains("  - path: \"/hmac/echo\"\n    method: \"GET\"\n    price: \"1000\"\n    description: \"Echo (hmac)\""))
        #expect(skill.output.contains("network `tvm:-239`") && skill.output.contains("## How to pay"))
        _ = try await f.client.get(f.gatewayURL + "/hmac/echo")
        let (h500, _) = try await f.paymentHeader("/signed/status/500")
        #expect(try await f.send("/signed/status/500", headers: [("PAYMENT-SIGNATURE", h500)]).status == 502)
        let metrics = try await f.send("/metrics").text
        for line in ["nanopay_gateway_requests_total{outcome=\"paid\"} 1", "nanopay_gateway_captured_total{upstream=\"hmac\"} 1",
                     "nanopay_gateway_upstream_duration_seconds_count{upstream=\"hmac\"}", "nanopay_gateway_upstream_response_bytes_total{upstream=\"hmac\"}",
                     "nanopay_gateway_voided_total{upstream=\"signed\",reason=\"upstream_error\"} 1", "nanopay_gateway_paid_total{route=\"/hmac/echo\"} 1"] {
            #expect(metrics.contains(line), "\(line)\n\(metrics)")
        }
        let broken = try runProcess(TestBinaries.path("nanopay-gateway"), ["skill", "--config", f.dir.path + "/missing.yaml", "--offline"])
        #expect(broken.status != 0 && broken.output.contains("cannot be read"))
    }

    @Test func aBuyerWhoHangsUpMidResponseGetsItOnRetryAndPaysOnce() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 310)
        defer { f.stop() }
        let path = "/signed/drip?bytes=60000&ms=800"
        let (header, _) = try await f.paymentHeader(path)
        // Read the head and a little of the body, then hang up while the upstream pauses.
        let port = UInt16(URL(string: f.gatewayURL)!.port!)
        let partial = try RawHTTP.sendThenHangUp(port: port, request: "GET \(path) HTTP/1.1\r\nHost: t\r\nPAYMENT-SIGNATURE: \(header)\r\n\r\n",
                                                 readAtLeast: 100)
        #expect(partial.hasPrefix("HTTP/1.1 200"), "\(partial.prefix(200))")
        // While the gateway still reads the rest, a retry is told the payment is being served.
        let early = try await f.send(path, headers: [("PAYMENT-SIGNATURE", header)])
        #expect(early.status == 409 && early.json["error"]?.stringValue == "payment_in_progress" && early.header("Retry-After") != nil, "\(early.text)")
        try await Task.sleep(for: .milliseconds(1500))
        let retry = try await f.send(path, headers: [("PAYMENT-SIGNATURE", header)])
        #expect(retry.status == 200 && retry.body.count == 60_000 && retry.header("X-NanoPay-Replayed") == "true", "\(retry.status) \(retry.text.prefix(200))")
        #expect(try await f.available() == "99000", "charged once")
    }

    @Test func moreRequestsThanTheHTTPClientsDefaultPoolAreForwardedAtOnce() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 311)
        defer { f.stop() }
        var headers: [String] = []
        for _ in 0..<20 { headers.append(try await f.paymentHeader("/signed/slow?ms=1500").header) }
        // (The test's own client needs more than AsyncHTTPClient's default 8 connections per host too.)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(10), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        let wide = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let started = Date()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for h in headers { group.addTask { try await f.send("/signed/slow?ms=1500", headers: [("PAYMENT-SIGNATURE", h)], using: wide).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        try await wide.shutdown()
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        // 20 requests of 1.5 s each: together, not in three waves of 8.
        #expect(Date().timeIntervalSince(started) < 4.0)
        #expect(try await f.available() == "80000")
    }

    @Test func aPaymentPolicyHoldsIsNotForwardedAndTheBuyerIsToldWhy() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 312)
        defer { f.stop() }
        let policy = #"{"address":"\#(f.buyer.address.raw)","maxAmount":"500"}"#
        #expect(try await f.operatorClient.send(.POST, "/policy", json: Data(policy.utf8)).status == 200)
        let hits = try await f.upstreamHits()
        let (header, _) = try await f.paymentHeader("/signed/echo")
        let held = try await f.send("/signed/echo", headers: [("PAYMENT-SIGNATURE", header)])
        #expect(held.status == 402 && held.json["error"]?.stringValue == "approval_required" && held.json["approvalId"]?.stringValue != nil, "\(held.text)")
        #expect(try await f.upstreamHits() == hits, "a held payment is not forwarded")
    }

    @Test func anUpstreamStillOnThePreviousSecretAcceptsTheGatewayDuringARotation() async throws {
        // The gateway signs with the old secret only; the upstream accepts [new, old].
        let f = try await GatewayFixture.start(buyerIndex: 313, signingSecrets: [GatewayFixture.signedSecrets[1]])
        defer { f.stop() }
        let paid = try await f.client.get(f.gatewayURL + "/signed/echo")
        #expect(paid.status == 200, "\(String(decoding: paid.body, as: UTF8.self))")
    }

    @Test func aTicketRouteAcceptsAPaymentOrATicketWithinItsScopeAndUses() async throws {
        let f = try await GatewayFixture.start(buyerIndex: 309)
        defer { f.stop() }
        let unpaid = try await f.send("/signed/report/monday")
        #expect(unpaid.status == 402 && unpaid.json["access_token_endpoint"]?.stringValue == f.daemonURL + "/tickets/access-token")
        let required = try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(unpaid.header("PAYMENT-REQUIRED")))
        #expect(required.accepts.count == 2 && required.accepts[0].amount == "1000" && required.accepts[1].amount == "3000")
        let ticketOffer = try #require(try TicketOffer.from(extra: required.accepts[1].extra, payTo: required.accepts[1].payTo))
        #expect(ticketOffer.terms.scope.description == "GET:/signed/report/*" && ticketOffer.terms.uses == 3)
        // A per-request payment still works on the route.
        let paid = try await f.client.get(f.gatewayURL + "/signed/report/monday")
        #expect(paid.status == 200 && paid.receiptVerified)
        // Buy a ticket at nanopayd with the ticket offer, then call the gateway with it.
        let (header, _) = try await f.paymentHeader("/signed/report/monday", offerIndex: 1)
        var buy = HTTPClientRequest(url: f.daemonURL + "/tickets")
        buy.method = .POST
        buy.headers.add(name: "PAYMENT-SIGNATURE", value: header)
        let bought = try await HTTPClient.shared.execute(buy, timeout: .seconds(10))
        struct Bought: Decodable { var ticket: String }
        let ticket = try JSONDecoder().decode(Bought.self, from: Data(buffer: try await bought.body.collect(upTo: 1 << 20))).ticket
        let hits = try await f.upstreamHits()
        for day in ["tuesday", "wednesday", "thursday"] {
            let call = try await f.send("/signed/report/\(day)", headers: [("Authorization", "Bearer \(ticket)")])
            #expect(call.status == 200, "\(call.text)")
            let echo = try JSONDecoder().decode(Echo.self, from: Data(call.body))
            #expect(echo.headers["authorization"] == nil, "the ticket is not passed on")
            let payment = try X402.decodeHeader([String: JSONValue].self, from: try #require(echo.headers["x-payment"]))
            #expect(payment["scheme"]?.stringValue == "ticket")
            #expect(echo.headers["x-nanopay-payment-id"] != nil && echo.headers["x-nanopay-payment-id"] == payment["ticket"]?.objectValue?["jti"]?.stringValue)
        }
        #expect(try await f.upstreamHits() == hits + 3)
        let fourth = try await f.send("/signed/report/friday", headers: [("Authorization", "Bearer \(ticket)")])
        #expect(fourth.status == 402 && fourth.json["error"]?.stringValue == "ticket_used_up")
        // Outside the ticket's scope the ticket buys nothing (a paid route without ticket mode).
        let outside = try await f.send("/signed/echo", headers: [("Authorization", "Bearer \(ticket)")])
        #expect(outside.status == 402)
        // Flip a character inside the signature (the last characters carry padding bits a decoder may ignore).
        var chars = Array(ticket)
        chars[chars.count - 10] = chars[chars.count - 10] == "A" ? "B" : "A"
        let forged = try await f.send("/signed/report/monday", headers: [("Authorization", "Bearer " + String(chars))])
        #expect(forged.status == 402 && forged.json["error"]?.stringValue == "invalid_ticket", "\(forged.text)")
        #expect(try await f.upstreamHits() == hits + 3)
        #expect(try await f.available() == "96000", "1000 per request, 3000 for the ticket")
    }

    struct Echo: Decodable { var method: String; var path: String; var headers: [String: String]; var bodySHA256: String }
    struct DiscoveryDoc: Decodable {
        struct Resource: Decodable { var path: String; var method: String; var price: String?; var network: String?; var asset: String?; var description: String }
        var resources: [Resource]
    }
}

extension GatewayFixture {
    /// writeConfig replaces the listen line; put the running port back before a reload.
    func startGatewayConfigKeepingPort() async throws {
        let port = URL(string: gatewayURL)!.port!
        var text = try String(contentsOfFile: configPath, encoding: .utf8)
        text += "\nlisten: {host: 127.0.0.1, port: \(port)}\n"
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }
}

/// A client that hangs up mid-response, which HTTP client libraries do not do on purpose.
enum RawHTTP {
    static func sendThenHangUp(port: UInt16, request: String, readAtLeast: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw ClientError("connect failed") }
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { throw ClientError("send failed") }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < readAtLeast {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            guard n > 0 else { break }
            received += buffer[0..<n]
        }
        // SO_LINGER 0: close with a reset, as a client that crashed or lost its network would.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        return String(decoding: received, as: UTF8.self)
    }
}
