import Foundation
import Hummingbird
import NIOCore
import NanoPayCore

/// Request bodies are collected with a hard limit (`collect(upTo:)`): anything larger is 413
/// `payload_too_large` before a byte of it is parsed.
extension Request {
    static let bodyLimitBytes = 64 * 1024
    static let batchBodyLimitBytes = 1024 * 1024

    func bodyData(limitBytes: Int = bodyLimitBytes) async throws(NanoPayError) -> Data {
        do {
            return Data(buffer: try await body.collect(upTo: limitBytes))
        } catch is NIOTooManyBytesError {
            throw NanoPayError(.payloadTooLarge, "request body exceeds \(limitBytes) bytes")
        } catch {
            throw NanoPayError.invalid("request body could not be read")
        }
    }

    /// Reads and decodes a JSON body; every decoding failure is `invalid_request` naming the field.
    func decodeJSON<T: Decodable>(_ type: T.Type, limitBytes: Int = bodyLimitBytes) async throws(NanoPayError) -> T {
        try RequestDecoding.decode(T.self, json: try await bodyData(limitBytes: limitBytes))
    }
}

/// Every operating error is an `HTTPResponseError`: thrown from a handler, it becomes the
/// contract's JSON error body with the status of `HTTPStatusMap` (and `Retry-After`).
extension NanoPayError: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPStatusMap.status(for: code) }
    public func response(from request: Request, context: some RequestContext) throws -> Response { JSONResponse.error(self) }
}
