import Foundation
import Hummingbird
import NanoPayCore
import NanoPayService

/// Two-phase payments for a paying gateway: reserve an authorization, forward the request, then
/// capture (the upstream delivered) or void (it did not). The capture token travels in bodies
/// only, never in a URL, and is answered once, to the caller that reserved.
///
/// The routes need the gateway token: an observer of a PAYMENT-SIGNATURE could otherwise reserve
/// and void it, killing the buyer's payment at no cost.
struct ReservationRoutes: Sendable {
    let service: PaymentService
    let gatewayToken: BearerToken

    struct ReserveRequest: Decodable {
        var authorization: AuthorizationFields
        var timeoutSeconds: UInt64?
    }

    struct TokenRequest: Decodable {
        var captureToken: String
    }

    struct ReservedBody: Encodable {
        var reservationId: String
        var captureToken: String
        var expiresAt: UInt64
        var from: TONAddress
        var to: TONAddress
        var amount: Amount
    }

    struct CapturedBody: Encodable {
        var reservationId: String
        var status = "captured"
        var confirmationId: String
        var replayed: Bool
        var receipt: Receipt
    }

    struct VoidedBody: Encodable {
        var reservationId: String
        var status = "voided"
        var replayed: Bool
    }

    static let routeList: [(HTTPRequest.Method, String)] = [
        (.post, "/reservations"), (.post, "/reservations/{id}/capture"), (.post, "/reservations/{id}/void"),
    ]

    func register(on router: Router<BasicRequestContext>) {
        let router = router.group().add(middleware: OperatorAuthMiddleware(token: gatewayToken))
        router.post("/reservations") { request, _ in
            let body = try await request.decodeJSON(ReserveRequest.self)
            switch try await service.reserve(body.authorization, timeoutSeconds: body.timeoutSeconds ?? PaymentService.reservationTimeoutSecondsDefault) {
            case .held(let id, let expires):
                return ApprovalRequiredBody.response(approvalId: id, expiresAtMilliseconds: expires)
            case .reserved(let r):
                return JSONResponse.make(ReservedBody(reservationId: r.id, captureToken: r.captureToken, expiresAt: r.expiresAtMilliseconds / 1000,
                                                      from: r.payer, to: r.payee, amount: r.amount),
                                         status: .created, headers: [.cacheControl: "no-store"])
            }
        }
        router.post("/reservations/{id}/capture") { request, context in
            let id = context.parameters.get("id") ?? ""
            let token = try await request.decodeJSON(TokenRequest.self).captureToken
            let (receipt, replayed) = try await service.capture(reservationId: id, captureToken: token)
            return JSONResponse.make(CapturedBody(reservationId: id, confirmationId: receipt.confirmationId, replayed: replayed, receipt: receipt))
        }
        router.post("/reservations/{id}/void") { request, context in
            let id = context.parameters.get("id") ?? ""
            let token = try await request.decodeJSON(TokenRequest.self).captureToken
            return JSONResponse.make(VoidedBody(reservationId: id, replayed: try await service.void(reservationId: id, captureToken: token)))
        }
    }
}
