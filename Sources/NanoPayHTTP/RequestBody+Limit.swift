import Foundation
import Hummingbird
import NanoPayCore

/// Request bodies are read with a hard limit; anything larger is 413 before it is parsed.
enum BodyReader {
    static let bodyLimitBytes = 64 * 1024
    static let batchBodyLimitBytes = 1024 * 1024

    static func read(_ request: Request, limitBytes: Int = bodyLimitBytes) async throws -> Data {
        var collected = ByteBuffer()
        do {
            for try await chunk in request.body {
                guard collected.readableBytes + chunk.readableBytes <= limitBytes else {
                    throw NanoPayError(.payloadTooLarge, "request body exceeds \(limitBytes) bytes")
                }
                var c = chunk
                collected.writeBuffer(&c)
            }
        } catch let error as NanoPayError {
            throw error
        } catch {
            throw NanoPayError.invalid("request body could not be read")
        }
        return Data(buffer: collected)
    }

    /// Reads and decodes a JSON body; every decoding failure is `invalid_request` naming the field.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limitBytes: Int = bodyLimitBytes) async throws -> T {
        try RequestDecoding.decode(T.self, json: try await read(request, limitBytes: limitBytes))
    }
}
