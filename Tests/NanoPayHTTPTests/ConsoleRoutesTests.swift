import Foundation
import HTTPTypes
import Hummingbird
import NanoPayCore
import Testing

/// How nanopayd serves the operator console: what a browser gets, with which headers. The
/// page's behaviour is tested in a real browser (`browser-tests/`, run by scripts/browser-tests.sh).
@Suite struct ConsoleRoutesTests {
    static let files: [(path: String, contentType: String, marker: String)] = [
        ("/console", "text/html; charset=utf-8", "<title>CyberNanoPay operator console</title>"),
        ("/console/console.js", "text/javascript; charset=utf-8", "\"use strict\""),
        ("/console/console.css", "text/css; charset=utf-8", ":root"),
        ("/console/favicon.svg", "image/svg+xml", "<svg"),
    ]

    @Test func everyFileIsServedWithItsTypeAStrictPolicyAndAnETag() async throws {
        try await withLiveServer { s in
            for file in Self.files {
                let answer = try await s.send(.get, file.path)
                #expect(answer.status == 200, "\(file.path)")
                #expect(answer.headers[.contentType] == file.contentType)
                #expect(answer.text.contains(file.marker), "\(file.path)")
                let csp = answer.headers[.contentSecurityPolicy] ?? ""
                #expect(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"))
                #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"))
                #expect(answer.headers[.xContentTypeOptions] == "nosniff")
                #expect(answer.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                let etag = try #require(answer.headers[.eTag])
                #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 34)
                // Revalidation: the same ETag is 304 with no body and the same policy; another is 200.
                let again = try await s.send(.get, file.path, headers: [.ifNoneMatch: "\"other\", \(etag)"])
                #expect(again.status == 304 && again.text.isEmpty && again.headers[.contentSecurityPolicy] == csp)
                #expect(try await s.send(.get, file.path, headers: [.ifNoneMatch: "\"other\""]).status == 200)
            }
        }
    }

    /// The page loads nothing from elsewhere and runs no inline script (the policy would block
    /// it; this keeps the source honest too), and never writes server text as HTML.
    @Test func thePageIsSelfContainedAndRendersTextOnly() async throws {
        try await withLiveServer { s in
            let html = try await s.send(.get, "/console").text
            #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"))
            #expect(!html.contains("<script>") && !html.contains("style=") && html.firstMatch(of: /\son[a-z]+\s*=/) == nil)
            // A native submit (script not run yet) can never put the token into a URL.
            #expect(html.contains(#"<form id="sign-in-form" autocomplete="off" method="post">"#))
            #expect(html.contains(#"<input id="token" type="password""#) && !html.contains(#"name="token""#))
            let js = try await s.send(.get, "/console/console.js").text
            for banned in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "document.cookie"] {
                #expect(!js.contains(banned), "console.js uses \(banned)")
            }
            #expect(js.contains("sessionStorage") && js.contains("textContent"))
        }
    }

    @Test func noConsoleLeavesItUnrouted() async throws {
        try await withLiveServer(console: false) { s in
            for file in Self.files { expectError(try await s.send(.get, file.path), 404, "not_found") }
            #expect(try await s.send(.get, "/health").status == 200)
        }
    }
}
