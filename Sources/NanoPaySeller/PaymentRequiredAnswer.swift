import Foundation
import HTTPTypes
import Hummingbird
import NanoPayCore

/// The 402 (or 503) a paid route answers, for both the payment and the ticket middleware: the
/// x402 PAYMENT-REQUIRED header with the route's offers, and the same facts as a JSON body for
/// clients that read bodies (plus whatever `extra` a mode adds, like `access_token_endpoint`).
public enum PaymentRequiredAnswer {
    public static let paymentRequired = HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")

    public static func make(_ request: Request, offers: [X402.PaymentRequirements], description: String?, error: String, message: String? = nil,
                     status: HTTPResponse.Status = paymentRequired, extra: [String: JSONValue] = [:], headers extraHeaders: HTTPFields = [:]) -> Response {
        make(host: request.head.authority, path: request.uri.path, offers: offers, description: description, error: error, message: message,
             status: status, extra: extra, headers: extraHeaders)
    }

    /// The same answer for a request known by its host and path (nanopay-gateway).
    public static func make(host: String?, path: String, offers: [X402.PaymentRequirements], description: String?, error: String,
                            message: String? = nil, status: HTTPResponse.Status = paymentRequired, extra: [String: JSONValue] = [:],
                            headers extraHeaders: HTTPFields = [:]) -> Response {
        let resource = X402.ResourceInfo(url: "http://\(host ?? "localhost")\(path)", description: description, mimeType: "application/json")
        let required = X402.PaymentRequired(error: error, resource: resource, accepts: offers)
        var body: [String: JSONValue] = ["x402Version": .number(2), "error": .string(error), "accepts": .array(offers.map(json)),
                                         "resource": .object(["url": .string(resource.url)])]
        if let message { body["message"] = .string(message) }
        for (k, v) in extra { body[k] = v }
        let data = (try? JSONEncoder().encode(body)) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        headers[HTTPField.Name(X402.paymentRequiredHeader)!] = X402.encodeHeader(required)
        headers.append(contentsOf: extraHeaders)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ offer: X402.PaymentRequirements) -> JSONValue {
        let data = (try? JSONEncoder().encode(offer)) ?? Data("{}".utf8)
        return (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .object([:])
    }
}
