import Foundation
import Hummingbird
import NanoPayCore
import NanoPayService

/// `/x402/verify`, `/x402/settle`, `/x402/supported`: the x402 v2 facilitator API. Every verdict
/// is HTTP 200 with `isValid: false` / `success: false` and a reason, as the official SDK's
/// `HTTPFacilitatorClient` expects (it treats any non-200 as a transport failure).
struct X402Routes: Sendable {
    let facilitator: X402Facilitator

    func register(on router: Router<BasicRequestContext>) {
        router.get("/x402/supported") { _, _ in JSONResponse.make(facilitator.supported()) }
        router.post("/x402/verify") { request, _ in
            switch await Self.decode(request) {
            case .success(let body): return JSONResponse.make(await facilitator.verify(body))
            case .failure(let e):
                if e.code == .payloadTooLarge { return JSONResponse.error(e) }
                return JSONResponse.make(X402.VerifyResponse(isValid: false, invalidReason: "invalid_payload", invalidMessage: e.message))
            }
        }
        router.post("/x402/settle") { request, _ in
            switch await Self.decode(request) {
            case .success(let body): return JSONResponse.make(await facilitator.settle(body))
            case .failure(let e):
                if e.code == .payloadTooLarge { return JSONResponse.error(e) }
                return JSONResponse.make(X402.SettleResponse(success: false, transaction: "", network: facilitator.service.configuration.network,
                                                             errorReason: "invalid_payload", errorMessage: e.message))
            }
        }
    }

    static func decode(_ request: Request) async -> Result<X402.FacilitatorRequest, NanoPayError> {
        do { return .success(try await request.decodeJSON(X402.FacilitatorRequest.self)) } catch {
            return .failure(NanoPayError.wrap(error))
        }
    }
}
