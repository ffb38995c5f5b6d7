import NIOSSL
import PostgresNIO

extension DatabaseURL {
    /// The server's certificate chain and host name are verified (NIOSSL's default for a client:
    /// `certificateVerification = .fullVerification`), against `sslrootcert` when given.
    var tlsConfiguration: TLSConfiguration? {
        guard case .verifyFull(let root) = tls else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        if let root { configuration.trustRoots = .file(root) }
        return configuration
    }

    var clientTLS: PostgresClient.Configuration.TLS {
        tlsConfiguration.map { .require($0) } ?? .disable
    }

    var connectionTLS: PostgresConnection.Configuration.TLS {
        get throws {
            guard let configuration = tlsConfiguration else { return .disable }
            return .require(try NIOSSLContext(configuration: configuration))
        }
    }
}
