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

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String) {
        self.host = host; self.port = port; self.user = user; self.password = password; self.database = database
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
        guard components.query == nil else { throw ParseError(description: "the database URL takes no query parameters") }
        self.init(host: host, port: components.port ?? 5432, user: user,
                  password: components.percentEncodedPassword?.removingPercentEncoding, database: database)
    }

    /// The URL without its password, for logs and error messages.
    public var redacted: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
    }

    /// The URL as `DatabaseURL(parsing:)` reads it, password included: for handing to a child
    /// process, never for printing (`redacted`).
    public var text: String {
        let allowed = CharacterSet.urlUserAllowed.subtracting(CharacterSet(charactersIn: ":@/"))
        let u = user.addingPercentEncoding(withAllowedCharacters: allowed) ?? user
        let p = password.map { ":" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0) } ?? ""
        return "postgres://\(u)\(p)@\(host):\(port)/\(database.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? database)"
    }

    /// The same server and credentials, another database (tests make one per test).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }
}
