// swift-tools-version:6.2
import PackageDescription

// Layers, one-way (docs/ARCHITECTURE.md; `LayeringTests` fails on an import against them):
//   NanoPayCore (types, codecs, the domain model and the LedgerStore protocol)
//   <- Enclave (keys)   <- Ledger (SQLite engine, implements LedgerStore)
//   <- NanoPayService (the one door: rules, receipts; sees LedgerStore, never Ledger)
//   <- NanoPayHTTP (routes) <- nanopayd (wires an engine, the enclave and the service together).
// Client-side code (NanoPayClient, NanoPaySeller, nanopay CLI) depends on NanoPayCore only.
let package = Package(
    name: "CyberNanoPay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nanopayd", targets: ["nanopayd"]),
        .executable(name: "nanopay", targets: ["nanopay"]),
        .library(name: "NanoPayCore", targets: ["NanoPayCore"]),
        // Round-trip/no-trap checks of the outside decoders, for the fuzz targets in Fuzz/.
        .library(name: "DecoderChecks", targets: ["DecoderChecks"]),
        .library(name: "NanoPayClient", targets: ["NanoPayClient"]),
        .library(name: "NanoPaySeller", targets: ["NanoPaySeller"]),
        .executable(name: "nanopay-example-seller", targets: ["nanopay-example-seller"]),
        .executable(name: "nanopay-bench", targets: ["nanopay-bench"]),
        .executable(name: "nanopay-gateway", targets: ["nanopay-gateway"]),
        .library(name: "NanoPayGateway", targets: ["NanoPayGateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Verifying tickets (JWS, EdDSA) on the seller's side; nanopayd signs inside the enclave.
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        // nanopay-gateway's config file.
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        // The replicated storage engine (`PostgresLedger`); SQLite stays the default.
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // OpenSSL 3's EVP interface only (P-384 for software attestation); no deprecated API.
        .target(name: "CNanoPayOpenSSL", cSettings: [.define("OPENSSL_API_COMPAT", to: "30000"), .define("OPENSSL_NO_DEPRECATED")],
                linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "CNanoPayStorageVFS", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(name: "NanoPayCore", dependencies: ["CSodium", "CNanoPayOpenSSL"]),
        .target(name: "DecoderChecks", dependencies: ["NanoPayCore"]),
        .target(name: "Enclave", dependencies: ["NanoPayCore", "CSodium", "CNanoPayOpenSSL"]),
        // The embedded storage engine; NanoPayService sees only the `LedgerStore` protocol.
        .target(name: "Ledger", dependencies: ["NanoPayCore", "CSQLite", "CNanoPayStorageVFS",
                                               .product(name: "NIOPosix", package: "swift-nio"),
                                               .product(name: "DequeModule", package: "swift-collections"),
                                               .product(name: "Metrics", package: "swift-metrics")]),
        // The replicated engine: several nanopayd processes on one PostgreSQL database.
        .target(name: "PostgresLedger", dependencies: ["NanoPayCore",
                                                       .product(name: "PostgresNIO", package: "postgres-nio"),
                                                       .product(name: "NIOPosix", package: "swift-nio"),
                                                       .product(name: "NIOSSL", package: "swift-nio-ssl"),
                                                       .product(name: "Logging", package: "swift-log"),
                                                       .product(name: "Metrics", package: "swift-metrics")]),
        .target(name: "NanoPayService", dependencies: [
            "NanoPayCore", "Enclave",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "NanoPayHTTP", dependencies: [
            "NanoPayService", "NanoPayCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ], resources: [
            // The operator console, compiled into the binary (PackageResources.*).
            .embedInCode("Console/console.html"), .embedInCode("Console/console.js"),
            .embedInCode("Console/console.css"), .embedInCode("Console/favicon.svg"),
        ]),
        .executableTarget(name: "nanopayd", dependencies: [
            "NanoPayHTTP", "NanoPayService", "Ledger", "PostgresLedger", "Enclave", "NanoPayCore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "NanoPayClient", dependencies: [
            "NanoPayCore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "JWTKit", package: "jwt-kit"),
        ]),
        .target(name: "NanoPaySeller", dependencies: [
            "NanoPayClient",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "nanopay-example-seller", dependencies: [
            "NanoPaySeller", "NanoPayClient",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // nanopay-gateway: a reverse proxy in front of any HTTP API; reaches nanopayd over HTTP only.
        .target(name: "NanoPayGateway", dependencies: [
            "NanoPaySeller", "NanoPayClient", "NanoPayCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "nanopay-gateway", dependencies: [
            "NanoPayGateway", "NanoPayClient", "NanoPayCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "nanopay-bench", dependencies: [
            "NanoPayCore", "Enclave", "Ledger", "PostgresLedger", "CSQLite", "CSodium",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "nanopay", dependencies: [
            "NanoPayClient",
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "NanoPayTestSupport", dependencies: ["NanoPayCore", "Enclave", "Ledger", "PostgresLedger", "NanoPayService"],
                path: "Tests/NanoPayTestSupport"),
        .testTarget(name: "NanoPayCoreTests", dependencies: ["NanoPayCore", "DecoderChecks"]),
        .testTarget(name: "EnclaveTests", dependencies: ["Enclave", "NanoPayCore", "NanoPayTestSupport"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "PostgresLedger", "NanoPayCore", "Enclave", "NanoPayService", "NanoPayTestSupport"]),
        .testTarget(name: "NanoPayServiceTests", dependencies: ["NanoPayService", "NanoPayCore", "Enclave", "Ledger", "NanoPayTestSupport"]),
        .testTarget(name: "NanoPayClientTests", dependencies: ["NanoPayClient", "NanoPayCore", "Ledger", "NanoPayTestSupport"]),
        .testTarget(name: "NanoPaySellerTests", dependencies: [
            "NanoPaySeller", "NanoPayClient", "NanoPayCore", "NanoPayService", "Ledger", "NanoPayTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "NanoPayHTTPTests", dependencies: [
            "NanoPayHTTP", "NanoPayClient", "NanoPaySeller", "NanoPayTestSupport", "NanoPayGateway",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
    ]
)
