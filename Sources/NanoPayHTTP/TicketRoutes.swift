import Foundation
import HTTPTypes
import Hummingbird
import NanoPayCore
import NanoPayService

/// Ticket mode: pay once, get a signed ticket (a JWT), call the seller directly with it.
///
/// - `POST /tickets` takes the x402 PAYMENT-SIGNATURE header, as a paid route does, and answers
///   `{ticket, expiresAt, receipt, replayed}` with a PAYMENT-RESPONSE header.
/// - `POST /tickets/access-token` takes the same x402 payment payload as a JSON body and answers
///   the x402_mock access-token flow's names: `{access_token, token_type: "Bearer", expires_in}`.
///
/// A payment that policy holds answers 202 `approval_required`, like `/verify`; retrying the same
/// authorization once it is approved gets the ticket.
struct TicketRoutes: Sendable {
    let service: PaymentService

    struct TicketBody: Encodable {
        var ticket: String
        var expiresAt: UInt64
        var receipt: Receipt
        var replayed: Bool
    }

    struct AccessTokenBody: Encodable {
        var access_token: String
        var token_type = "Bearer"
        var expires_in: UInt64
    }

    // Valid header names: the initializer cannot fail.
    static let paymentSignature = HTTPField.Name(X402.paymentSignatureHeader)!
    static let paymentResponse = HTTPField.Name(X402.paymentResponseHeader)!

    static let routeList: [(HTTPRequest.Method, String)] = [(.post, "/tickets"), (.post, "/tickets/access-token")]

    func register(on router: Router<BasicRequestContext>) {
        router.post("/tickets") { request, _ in
            guard let header = request.headers[Self.paymentSignature] else {
                throw NanoPayError.invalid("the \(X402.paymentSignatureHeader) header (base64 x402 payment payload) is required")
            }
            guard header.utf8.count <= X402.headerLimitBytes else {
                throw NanoPayError(.payloadTooLarge, "\(X402.paymentSignatureHeader) is larger than \(X402.headerLimitBytes) bytes")
            }
            switch try await service.buyTicket(try X402.decodeHeader(X402.PaymentPayload.self, from: header)) {
            case .held(let id, let expires):
                return ApprovalRequiredBody.response(approvalId: id, expiresAtMilliseconds: expires)
            case .issued(let issued):
                var response = JSONResponse.make(TicketBody(ticket: issued.ticket, expiresAt: issued.claims.exp, receipt: issued.receipt,
                                                            replayed: issued.replayed))
                response.headers[Self.paymentResponse] =
                    X402.encodeHeader(X402.SettleResponse(settled: issued.receipt, network: service.configuration.network))
                return response
            }
        }
        router.post("/tickets/access-token") { request, _ in
            switch try await service.buyTicket(try await request.decodeJSON(X402.PaymentPayload.self)) {
            case .held(let id, let expires):
                return ApprovalRequiredBody.response(approvalId: id, expiresAtMilliseconds: expires)
            case .issued(let issued):
                let now = service.clock.nowSeconds()
                return JSONResponse.make(AccessTokenBody(access_token: issued.ticket, expires_in: issued.claims.exp > now ? issued.claims.exp - now : 0))
            }
        }
    }
}
