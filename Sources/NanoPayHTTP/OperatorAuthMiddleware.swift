import Hummingbird
import NanoPayCore

/// Guards a route group (the operator's; the gateway's reservations): no `Authorization` is 401
/// `unauthorized`, a wrong token 403 `forbidden`, before the handler (or the body) is touched.
struct OperatorAuthMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: OperatorToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        _ = try token.authorize(request)
        return try await next(request, context)
    }
}
