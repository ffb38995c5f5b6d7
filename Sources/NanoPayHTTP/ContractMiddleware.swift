import Hummingbird
import NanoPayCore

/// Outermost middleware: whatever escapes a handler becomes the contract's JSON error body
/// (never a bare 500 page); unknown routes are 404 `not_found` and known paths with the wrong
/// method 405 `method_not_allowed` with an `Allow` header.
struct ContractMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let routeTable: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as NanoPayError {
            response = JSONResponse.error(error)
        } catch let error as HTTPError where error.status == .notFound {
            if let allowed = routeTable.methods(for: request.uri.path), !allowed.contains(request.method) {
                var r = JSONResponse.error(NanoPayError(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path.prefix(200))"))
                r.headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
                response = r
            } else {
                response = JSONResponse.error(NanoPayError(.notFound, "no route for \(request.method) \(request.uri.path.prefix(200))"))
            }
        } catch let error as HTTPError {
            let code: ErrorCode = error.status == .contentTooLarge ? .payloadTooLarge : .invalidRequest
            response = JSONResponse.error(NanoPayError(code, "request could not be handled (\(error.status.code))"))
        } catch {
            context.logger.error("unhandled error in handler", metadata: ["type": "\(type(of: error))"])
            response = JSONResponse.error(NanoPayError(.internalError, "internal error"))
        }
        return response
    }
}

/// The known routes, for 405 detection.
struct RouteTable: Sendable {
    let routes: [(method: HTTPRequest.Method, pattern: [Substring])]

    init(_ list: [(HTTPRequest.Method, String)]) {
        routes = list.map { ($0.0, $0.1.split(separator: "/")) }
    }

    private func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        guard pattern.count == path.count else { return false }
        return zip(pattern, path).allSatisfy { p, s in p.first == "{" || p == s }
    }

    func methods(for path: String) -> Set<HTTPRequest.Method>? {
        let parts = path.split(separator: "/")
        let found = Set(routes.filter { matches($0.pattern, parts) }.map(\.method))
        return found.isEmpty ? nil : found
    }
}
