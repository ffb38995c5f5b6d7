import Foundation
import HTTPTypes
import Hummingbird
import NanoPayCore

/// The operator console (`GET /console`): static HTML, CSS and JavaScript compiled into the
/// binary (`embedInCode` resources), so nanopayd serves it with no extra process, no CDN and no
/// files to install. The page only calls the public JSON API with the operator token; it adds no
/// power an operator does not already have with curl.
///
/// Every console response carries a strict Content-Security-Policy (scripts and styles from this
/// origin only, nothing inline, no eval, no framing), `nosniff` and `no-referrer`, and an ETag
/// so a browser revalidates instead of downloading again.
struct ConsoleRoutes: Sendable {
    /// One embedded file with what it is served as.
    struct Asset: Sendable {
        let path: String
        let contentType: String
        let bytes: [UInt8]
        let etag: String

        init(path: String, contentType: String, bytes: [UInt8]) {
            self.path = path; self.contentType = contentType; self.bytes = bytes
            etag = "\"" + Hex.encode(Array(Sodium.sha256(bytes).prefix(16))) + "\""
        }
    }

    static let assets: [Asset] = [
        Asset(path: "/console", contentType: "text/html; charset=utf-8", bytes: PackageResources.console_html),
        Asset(path: "/console/console.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.console_js),
        Asset(path: "/console/console.css", contentType: "text/css; charset=utf-8", bytes: PackageResources.console_css),
        Asset(path: "/console/favicon.svg", contentType: "image/svg+xml", bytes: PackageResources.favicon_svg),
    ]

    static let contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    // Valid header names, so the initializer cannot fail.
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!

    /// Headers every console answer carries, 304s included.
    static func securityHeaders() -> HTTPFields {
        var h = HTTPFields()
        h[.contentSecurityPolicy] = contentSecurityPolicy
        h[.xContentTypeOptions] = "nosniff"
        h[referrerPolicy] = "no-referrer"
        h[xFrameOptions] = "DENY"
        h[.cacheControl] = "no-cache"
        return h
    }

    static var routeList: [(HTTPRequest.Method, String)] { assets.map { (.get, $0.path) } }

    func register(on router: Router<BasicRequestContext>) {
        for asset in Self.assets {
            router.get(RouterPath(stringLiteral: asset.path)) { request, _ in Self.response(for: asset, request: request) }
        }
    }

    static func response(for asset: Asset, request: Request) -> Response {
        var headers = securityHeaders()
        headers[.eTag] = asset.etag
        if let tags = request.headers[.ifNoneMatch], tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}
