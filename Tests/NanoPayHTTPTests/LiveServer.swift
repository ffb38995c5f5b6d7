import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NanoPayCore
import NanoPayHTTP
import NanoPayTestSupport
import Testing

let operatorTokenForTests = "operator-test-token"
let gatewayTokenForTests = "gateway-test-token"

/// An answer from the live server, with its JSON body parsed.
struct Answer {
    var status: Int
    var headers: HTTPFields
    var json: [String: Any]
    var text: String
    subscript(key: String) -> Any? { json[key] }
    var errorCode: String? { json["error"] as? String }
}

/// A client bound to one live nanopayd on 127.0.0.1 (free port), over the real stack.
struct LiveClient {
    let client: any TestClientProtocol
    let fixture: Fixture

    func send(_ method: HTTPRequest.Method, _ path: String, body: String? = nil, token: String? = nil, headers: HTTPFields = [:]) async throws -> Answer {
        var h = headers
        if let token { h[.authorization] = "Bearer \(token)" }
        if body != nil { h[.contentType] = "application/json" }
        return try await client.execute(uri: path, method: method, headers: h, body: body.map { ByteBuffer(string: $0) }) { response in
            let text = String(buffer: response.body)
            let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            return Answer(status: Int(response.status.code), headers: response.headers, json: json, text: text)
        }
    }

    func send<T: Encodable>(_ method: HTTPRequest.Method, _ path: String, json: T, token: String? = nil) async throws -> Answer {
        try await send(method, path, body: String(decoding: try JSONEncoder().encode(json), as: UTF8.self), token: token)
    }

    func op(_ method: HTTPRequest.Method, _ path: String, _ body: String? = nil) async throws -> Answer {
        try await send(method, path, body: body, token: operatorTokenForTests)
    }
}

/// Starts nanopayd's application on 127.0.0.1 with a free port over a fresh fixture, runs
/// `body`, and stops the server and removes the data when it returns.
func withLiveServer(_ configuration: NanoPayService.ServiceConfiguration = .init(), engine: LedgerEngine = .sqlite, console: Bool = true,
                    _ body: @Sendable (LiveClient) async throws -> Void) async throws {
    let fixture = try await Fixture.make(engine, configuration: configuration)
    defer { fixture.close() }
    let app = NanoPayServer.makeApplication(service: fixture.service, operatorToken: OperatorToken(operatorTokenForTests),
                                            gatewayToken: BearerToken(gatewayTokenForTests, role: "gateway"),
                                            host: "127.0.0.1", port: 0, console: console, logger: Logger(label: "test"))
    try await app.test(.live) { client in try await body(LiveClient(client: client, fixture: fixture)) }
}

import NanoPayService

/// Asserts the contract's error shape and code.
func expectError(_ answer: Answer, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
    #expect(answer["success"] as? Bool == false, sourceLocation: sourceLocation)
    #expect(answer.errorCode == code, "\(answer.text)", sourceLocation: sourceLocation)
    #expect(!(answer["message"] as? String ?? "").isEmpty, sourceLocation: sourceLocation)
}
