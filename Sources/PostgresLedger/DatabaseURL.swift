import Foundation

/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, the form `--database-url` and
/// `NANOPAY_DATABASE_URL` take. Percent-escapes are decoded; the password is never printed
/// (`redacted` is what logs and errors show).
public struct DatabaseURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// How the connection is protected (`?sslmode=`): the default is `verifyFull` for any host
    /// but a loopback one. nanopayd trusts what the database answers (receipts are signed from
    /// it), so across a network the server must be authenticated, not just encrypted to.
    public var tls: TLSMode

    public enum TLSMode: Sendable, Equatable {
        /// Plain TCP (`sslmode=disable`): loopback, or a network you control end to end.
        case disable
        /// TLS with the server's certificate chain and host name verified (`sslmode=verify-full`),
        /// against the system's roots or `sslrootcert=PATH` (PEM).
        case verifyFull(rootCertificatePath: String?)
    }

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode? = nil) {
        self.host = host; self.port = port; self.user = user; self.password = password; self.database = database
        self.tls = tls ?? (Self.isLoopback(host) ? .disable : .verifyFull(rootCertificatePath: nil))
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws(ParseError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql" else {
            throw ParseError(description: "a database URL looks like postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        guard let host = components.host, !host.isEmpty else { throw ParseError(description: "the database URL names no host") }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw ParseError(description: "the database URL names no user")
        }
        let database = String(components.percentEncodedPath.dropFirst()).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else { throw ParseError(description: "the database URL names no database (…/DATABASE)") }
        var sslmode: String?, rootCertificate: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode": sslmode = item.value
            case "sslrootcert": rootCertificate = item.value
            default: throw ParseError(description: "the database URL takes only sslmode and sslrootcert parameters, not \(item.name)")
            }
        }
        let tls: TLSMode?
        switch sslmode {
        case nil: tls = rootCertificate.map { .verifyFull(rootCertificatePath: $0) }
        case "disable"?:
            guard rootCertificate == nil else { throw ParseError(description: "sslrootcert needs sslmode=verify-full") }
            tls = .disable
        case "verify-full"?: tls = .verifyFull(rootCertificatePath: rootCertificate)
        default:
            throw ParseError(description: "sslmode must be verify-full (TLS, server authenticated) or disable; an unauthenticated server could forge the ledger's answers")
        }
        self.init(host: host, port: components.port ?? 5432, user: user,
                  password: components.percentEncodedPassword?.removingPercentEncoding, database: database, tls: tls)
    }

    /// The URL without its password, for logs and error messages.
    public var redacted: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)" + queryText
    }

    private var queryText: String {
        switch tls {
        case .disable: return Self.isLoopback(host) ? "" : "?sslmode=disable"
        case .verifyFull(let root?): return "?sslmode=verify-full&sslrootcert=" + (root.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? root)
        case .verifyFull(nil): return Self.isLoopback(host) ? "?sslmode=verify-full" : ""
        }
    }

    /// The URL as `DatabaseURL(parsing:)` reads it, password included: for handing to a child
    /// process, never for printing (`redacted`).
    public var text: String {
        let allowed = CharacterSet.urlUserAllowed.subtracting(CharacterSet(charactersIn: ":@/"))
        let u = user.addingPercentEncoding(withAllowedCharacters: allowed) ?? user
        let p = password.map { ":" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0) } ?? ""
        return "postgres://\(u)\(p)@\(host):\(port)/\(database.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? database)" + queryText
    }

    /// The same server and credentials, another database (tests make one per test).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }
}
