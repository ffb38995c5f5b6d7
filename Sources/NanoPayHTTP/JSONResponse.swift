import Foundation
import Hummingbird
import NanoPayCore

/// JSON bodies for every answer, and the one error shape:
/// `{"success": false, "error": "<stable_code>", "message": "<human text>"}`.
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func encode<T: Encodable>(_ value: T) -> Data {
        (try? encoder.encode(value)) ?? Data(#"{"success":false,"error":"internal_error","message":"response did not encode"}"#.utf8)
    }

    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"success":false,"error":"internal_error","message":"response did not encode"}"#.utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    struct ErrorBody: Encodable {
        var success = false
        var error: String
        var message: String
        var retryAfterSeconds: UInt64?
    }

    static func error(_ error: NanoPayError, status: HTTPResponse.Status? = nil) -> Response {
        var headers: HTTPFields = [:]
        if let retry = error.retryAfterSeconds { headers[.retryAfter] = String(retry) }
        return make(ErrorBody(error: error.code.rawValue, message: error.message, retryAfterSeconds: error.retryAfterSeconds),
                    status: status ?? HTTPStatusMap.status(for: error.code), headers: headers)
    }
}

/// The contract's mapping from error code to HTTP status.
enum HTTPStatusMap {
    static func status(for code: ErrorCode) -> HTTPResponse.Status {
        switch code {
        case .invalidRequest, .amountOverflow, .unsupportedVersion, .authorizationExpiresTooSoon: return .badRequest
        case .invalidSignature, .unauthorized: return .unauthorized
        case .insufficientBalance: return HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required")
        case .unknownPayer, .approvalRejected, .forbidden, .policyNotTighter: return .forbidden
        case .approvalNotFound, .policyNotFound, .receiptNotFound, .reservationNotFound, .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .nonceReused, .referenceConflict, .publicKeyConflict, .alreadyApproved, .alreadyRejected, .policyConflict,
             .paymentIdentifierConflict, .ticketTermsConflict, .authorizationInUse, .alreadyCaptured, .alreadyVoided: return .conflict
        case .expired, .approvalExpired, .reservationExpired: return .gone
        case .payloadTooLarge: return .contentTooLarge
        case .rateLimited: return .tooManyRequests
        case .approvalRequired: return .accepted
        case .storageUnavailable, .overloaded: return .serviceUnavailable
        case .internalError: return .internalServerError
        }
    }
}
