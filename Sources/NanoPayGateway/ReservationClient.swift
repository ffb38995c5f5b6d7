import AsyncHTTPClient
import Foundation
import NanoPayClient
import NanoPayCore

/// The gateway's side of nanopayd's two-phase API (`/reservations`), with the gateway token.
struct ReservationClient: Sendable {
    let client: ServiceClient

    init(baseURL: String, gatewayToken: String, httpClient: HTTPClient, timeoutSeconds: Int64 = 10) {
        client = ServiceClient(baseURL: baseURL, operatorToken: gatewayToken, timeoutSeconds: timeoutSeconds, httpClient: httpClient)
    }

    struct Reserved: Decodable, Sendable {
        var reservationId: String
        var captureToken: String
        var expiresAt: UInt64
    }

    enum ReserveAnswer: Sendable {
        case reserved(Reserved)
        case held(approvalId: String, expiresAt: UInt64)
        /// nanopayd refused: its stable code, message and HTTP status.
        case refused(code: String, message: String, status: Int)
    }

    enum CaptureAnswer: Sendable {
        case captured(Receipt)
        case refused(code: String, message: String, status: Int)
    }

    struct Body: Decodable { var error: String?; var message: String?; var approvalId: String?; var expiresAt: Double? }
    struct Captured: Decodable { var receipt: JSONValue }

    func reserve(_ fields: AuthorizationFields, timeoutSeconds: UInt64) async throws -> ReserveAnswer {
        struct Request: Encodable { var authorization: AuthorizationFields; var timeoutSeconds: UInt64 }
        let answer = try await client.send(.POST, "/reservations", json: try JSONEncoder().encode(Request(authorization: fields, timeoutSeconds: timeoutSeconds)))
        switch answer.status {
        case 201: return .reserved(try answer.decode(Reserved.self))
        case 202:
            let body = try answer.decode(Body.self)
            return .held(approvalId: body.approvalId ?? "", expiresAt: UInt64(exactly: (body.expiresAt ?? 0).rounded(.down)) ?? 0)
        default:
            let body = try? answer.decode(Body.self)
            return .refused(code: body?.error ?? "http_\(answer.status)", message: body?.message ?? "", status: answer.status)
        }
    }

    /// Captures, retrying a lost answer (a capture with the token is idempotent).
    func capture(_ reservation: Reserved, attempts: Int = 5) async throws -> CaptureAnswer {
        var lastError: (any Error)?
        for attempt in 0..<attempts {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(100 << attempt)) } // 0.2 + 0.4 + 0.8 + 1.6 s
            do {
                let answer = try await client.send(.POST, "/reservations/\(reservation.reservationId)/capture",
                                                   json: try JSONEncoder().encode(["captureToken": reservation.captureToken]))
                if answer.status == 200, let receipt = Receipt(jsonValue: try answer.decode(Captured.self).receipt) { return .captured(receipt) }
                if answer.status >= 500 { lastError = ClientError("capture answered \(answer.status)"); continue }
                let body = try? answer.decode(Body.self)
                return .refused(code: body?.error ?? "http_\(answer.status)", message: body?.message ?? "", status: answer.status)
            } catch { lastError = error }
        }
        throw lastError ?? ClientError("capture failed")
    }

    /// Voids, retrying a lost answer. Returns false if nanopayd could not be told (the hold then
    /// expires by itself).
    @discardableResult
    func void(_ reservation: Reserved, attempts: Int = 3) async -> Bool {
        for attempt in 0..<attempts {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(100 << attempt)) }
            if let answer = try? await client.send(.POST, "/reservations/\(reservation.reservationId)/void",
                                                   json: try JSONEncoder().encode(["captureToken": reservation.captureToken])),
               answer.status < 500 { return answer.status == 200 }
        }
        return false
    }
}
