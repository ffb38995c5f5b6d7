// swift-tools-version:6.2
import PackageDescription

// libFuzzer targets for every decoder that sees outside bytes. Not part of the main build:
// scripts/fuzz.sh builds them with -sanitize=fuzzer,address and runs each for a bounded time.
let package = Package(
    name: "CyberNanoPayFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "CyberNanoPay", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzVerifyRequest", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzVerifyBatch", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzAmount", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzTONAddress", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzTicketOffer", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzX402PaymentRequired", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzX402PaymentSignature", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzX402PaymentResponse", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzAttestationQuote", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzReceipt", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
        .executableTarget(name: "FuzzPolicyRequest", dependencies: ["FuzzSupport", .product(name: "DecoderChecks", package: "CyberNanoPay")]),
    ]
)
