import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NanoPayCore

/// A small client for nanopayd's HTTP API (sellers, buyers, operators). Depends on NanoPayCore
/// only: everything it receives is verified here against pinned keys, not trusted.
public struct ServiceClient: Sendable {
    public let baseURL: String
    public let operatorToken: String?
    public let timeoutSeconds: Int64
    /// The shared client by default (8 connections per host); a gateway passes its own, sized
    /// for its concurrency.
    public let httpClient: HTTPClient

    public init(baseURL: String, operatorToken: String? = nil, timeoutSeconds: Int64 = 10, httpClient: HTTPClient = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.operatorToken = operatorToken
        self.timeoutSeconds = timeoutSeconds
        self.httpClient = httpClient
    }

    public struct Answer: Sendable {
        public var status: Int
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: body) }
    }

    public func send(_ method: HTTPMethod, _ path: String, json: Data? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let operatorToken { request.headers.add(name: "Authorization", value: "Bearer \(operatorToken)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        let response = try await httpClient.execute(request, timeout: .seconds(timeoutSeconds))
        let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return Answer(status: Int(response.status.code), body: Data(buffer: body))
    }

    /// Fetches a quote for `nonce` and verifies it under `policy` (whose expected nonce is set to
    /// this one). Returns the verified facts, or throws the failing check.
    public func attest(nonce: [UInt8], policy: QuoteVerifier.Policy) async throws -> (AttestationQuote, QuoteVerifier.Verified) {
        let answer = try await send(.GET, "/attestation?nonce=\(Hex.encode(nonce))")
        guard answer.status == 200 else { throw ClientError("attestation request failed with HTTP \(answer.status): \(answer.text.prefix(300))") }
        let quote = try answer.decode(AttestationQuote.self)
        var p = policy
        p.expectedNonce = Hex.encode(nonce)
        return (quote, try QuoteVerifier(policy: p).verify(quote))
    }
}

public struct ClientError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
