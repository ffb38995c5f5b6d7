import ArgumentParser
import Foundation
import NanoPayClient
import NanoPayCore
import NIOHTTP1

/// `nanopay`: the CLI for buyers, sellers and operators.
@main
struct Nanopay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nanopay", abstract: "CyberNanoPay client: keys, authorizations, attestation, balances, approvals.",
        subcommands: [Keygen.self, Address.self, Sign.self, Pay.self, Ticket.self, Attest.self, Balance.self, Deposit.self, Approvals.self])
}

struct ServiceOptions: ParsableArguments {
    @Option(help: "nanopayd base URL (NANOPAY_URL).") var url: String?
    @Option(help: "Operator token (NANOPAY_OPERATOR_TOKEN).") var token: String?
    var client: ServiceClient {
        let env = ProcessInfo.processInfo.environment
        return ServiceClient(baseURL: url ?? env["NANOPAY_URL"] ?? "http://127.0.0.1:4030", operatorToken: token ?? env["NANOPAY_OPERATOR_TOKEN"])
    }
}

func printAnswer(_ a: ServiceClient.Answer) throws {
    print(a.text)
    if !(200..<300).contains(a.status) { throw ExitCode(1) }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make an Ed25519 key; the seed goes to a 0600 file.")
    @Option(help: "Where to write the seed (hex).") var out: String = "nanopay.key"
    func run() throws {
        guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) exists; refusing to overwrite a key") }
        let seed = Sodium.randomBytes(32)
        guard FileManager.default.createFile(atPath: out, contents: Data((Hex.encode(seed) + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(out)")
        }
        print(Hex.encode(Ed25519KeyPair(seed: seed).publicKey))
    }
}

func loadKey(_ path: String) throws -> Ed25519KeyPair {
    guard let data = FileManager.default.contents(atPath: path), let seed = Hex.decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), byteCount: 32) else {
        throw ValidationError("\(path) does not hold a 64-hex-character seed")
    }
    return Ed25519KeyPair(seed: seed)
}

struct Address: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every form of a TON address (raw or user-friendly in).")
    @Argument var address: String
    func run() throws {
        let a: TONAddress
        do { a = try TONAddress(parsing: address) } catch { throw ValidationError(error.description) }
        print("raw:             \(a.raw)")
        if let b = a.friendly(bounceable: true) { print("bounceable:      \(b)") }
        if let n = a.friendly(bounceable: false) { print("non-bounceable:  \(n)") }
    }
}

struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sign a payment authorization and print its JSON.")
    @Option(help: "Seed file from keygen.") var key: String
    @Option var from: String
    @Option var to: String
    @Option var amount: String
    @Option(help: "Seconds from now until it expires.") var validFor: UInt64 = 300
    @Option(help: "Message version 1 or 2.") var version: Int = 1
    @Option(help: "v2: CAIP-2 network.") var network: String = "tvm:-239"
    @Option(help: "v2: the service's enclave public key (hex).") var serviceId: String?
    func run() throws {
        let pair = try loadKey(key)
        let fromA = try TONAddress(parsing: from), toA = try TONAddress(parsing: to)
        let amt = try Amount(parsing: amount, allowZero: false)
        guard (1...86_400).contains(validFor) else { throw ValidationError("--valid-for must be 1 to 86400 seconds") }
        var domain: PaymentAuthorization.Domain? = nil
        if version == 1 && (fromA.workchain != 0 || toA.workchain != 0) {
            throw ValidationError("v1 does not sign workchains and pays basechain (0:) accounts only; use --version 2 --service-id KEY")
        }
        if version == 2 {
            guard let sid = serviceId.flatMap({ Hex.decode($0, byteCount: 32) }) else { throw ValidationError("v2 needs --service-id (64 hex)") }
            domain = try .init(network: network, serviceId: sid)
        }
        let auth = PaymentAuthorization.sign(keyPair: pair, from: fromA, to: toA, amount: amt,
                                             validBefore: SystemClock().nowSeconds() + validFor,
                                             version: version == 2 ? .v2 : .v1, domain: domain)
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        print(String(decoding: try e.encode(AuthorizationFields(auth, publicKey: pair.publicKey)), as: UTF8.self))
    }
}

struct Attest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Verify attestation quotes; print the platform root to pin.", subcommands: [Verify.self, Root.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a live quote (--url, fresh random nonce) or a saved one (--file with --nonce).")
        @Option(help: "nanopayd base URL.") var url: String?
        @Option(help: "Saved quote JSON.") var file: String?
        @Option(help: "Nonce (hex) the saved quote must carry.") var nonce: String?
        @Option(help: "Pinned platform root key (97-byte hex).") var root: String
        @Option(help: "Required measurement (SHA-384 hex).") var expectMeasurement: String?
        @Flag(help: "Accept software evidence (no hardware isolation).") var allowSoftware = false
        @Option(help: "Judge validity at this unix time instead of now (for saved vectors).") var now: UInt64?

        func run() async throws {
            let policy = QuoteVerifier.Policy(pinnedRoot: root, expectedNonce: nonce, allowSoftware: allowSoftware,
                                              expectedMeasurement: expectMeasurement, now: now ?? SystemClock().nowSeconds())
            let verified: QuoteVerifier.Verified
            do {
                if let file {
                    guard nonce != nil else { throw ValidationError("--file needs --nonce: a quote without the verifier's nonce proves no freshness") }
                    guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
                    let quote: AttestationQuote
                    do { quote = try JSONDecoder().decode(AttestationQuote.self, from: data) } catch {
                        throw QuoteVerifier.Failure(check: "format", detail: "not a quote: \(JSONErrors.describe(error))")
                    }
                    verified = try QuoteVerifier(policy: policy).verify(quote)
                } else if let url {
                    verified = try await ServiceClient(baseURL: url).attest(nonce: Sodium.randomBytes(32), policy: policy).1
                } else {
                    throw ValidationError("give --url or --file")
                }
            } catch let failure as QuoteVerifier.Failure {
                FileHandle.standardError.write(Data("INVALID: \(failure.description)\n".utf8))
                throw ExitCode(2)
            }
            print("valid quote")
            print("platform:          \(verified.platform)\(verified.platform == "software" ? " (NO HARDWARE ISOLATION)" : "")")
            print("enclave key:       \(Hex.encode(verified.enclavePublicKey))")
            print("measurement:       \(verified.measurement)")
            print("config hash:       \(verified.configHash)")
            print("network / asset:   \(verified.network) / \(verified.asset)")
            print("ticket key:        \(Hex.encode(verified.ticketPublicKey)) (kid \(TicketJWK(publicKey: verified.ticketPublicKey).kid))")
        }
    }

    struct Root: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the platform root key a seller pins (read from the service's data directory).")
        @Option(help: "nanopayd data directory.") var dataDir: String = "./data"
        func run() throws {
            let path = dataDir + "/enclave/platform-root.pub"
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path); start nanopayd once first") }
            print(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}

struct Balance: AsyncParsableCommand {
    @OptionGroup var service: ServiceOptions
    @Argument var address: String
    func run() async throws { try printAnswer(try await service.client.send(.GET, "/balance/\(address)")) }
}

struct Deposit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record a deposit (operator).")
    @OptionGroup var service: ServiceOptions
    @Option var address: String
    @Option var amount: String
    @Option(help: "Payer public key (hex); registers it on first deposit.") var publicKey: String?
    @Option(help: "External reference (e.g. chain tx hash); idempotency key.") var reference: String
    func run() async throws {
        var body: [String: String] = ["address": address, "amount": amount, "reference": reference]
        if let publicKey { body["publicKey"] = publicKey }
        try printAnswer(try await service.client.send(.POST, "/deposits", json: try JSONEncoder().encode(body)))
    }
}

struct Approvals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Review held payments (operator).", subcommands: [List.self, Approve.self, Reject.self])
    struct List: AsyncParsableCommand {
        @OptionGroup var service: ServiceOptions
        @Option var status: String = "pending"
        func run() async throws { try printAnswer(try await service.client.send(.GET, "/approvals?status=\(status)")) }
    }
    struct Approve: AsyncParsableCommand {
        @OptionGroup var service: ServiceOptions
        @Argument var id: String
        @Option var reason: String?
        func run() async throws {
            try printAnswer(try await service.client.send(.POST, "/approvals/\(id)/approve", json: try JSONEncoder().encode(["reason": reason])))
        }
    }
    struct Reject: AsyncParsableCommand {
        @OptionGroup var service: ServiceOptions
        @Argument var id: String
        @Option var reason: String?
        func run() async throws {
            try printAnswer(try await service.client.send(.POST, "/approvals/\(id)/reject", json: try JSONEncoder().encode(["reason": reason])))
        }
    }
}

struct Pay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "GET a URL, paying it over x402 if asked; prints status, body and the verified receipt.")
    @Argument var url: String
    @Option(help: "Seed file from keygen.") var key: String
    @Option(help: "Your TON address (the payer).") var from: String
    @Option(help: "Most you will pay for this request (atomic units).") var maxAmount: String
    @Option(help: "Pinned enclave key (hex) receipts must verify under; default: the key the seller advertises.") var enclaveKey: String?
    @Option(help: "File that keeps bought tickets (0600) until they expire, so later runs reuse them.") var ticketCache: String?

    func run() async throws {
        let wallet = BuyerWallet(keys: try loadKey(key), address: try TONAddress(parsing: from))
        var pinned: [UInt8]? = nil
        if let enclaveKey {
            guard let k = Hex.decode(enclaveKey, byteCount: 32) else { throw ValidationError("--enclave-key must be 64 hex characters") }
            pinned = k
        }
        let tickets = ticketCache.map { TicketWallet(path: $0) } ?? TicketWallet()
        let buyer = X402Buyer(wallet: wallet, maxAmountPerPayment: try Amount(parsing: maxAmount), enclaveKey: pinned, tickets: tickets)
        let result: X402Buyer.Result
        do { result = try await buyer.get(url) } catch let refusal as X402Buyer.Refusal {
            FileHandle.standardError.write(Data("cannot pay: \(refusal.description)\n".utf8))
            throw ExitCode(3)
        }
        print("status: \(result.status)")
        print("body: \(String(decoding: result.body, as: UTF8.self))")
        if let offer = result.paid { print("paid: \(offer.amount) \(offer.asset) to \(offer.payTo) on \(offer.network)") }
        if result.ticket != nil { print("ticket: \(result.ticketBought ? "bought for this request" : "reused, no payment")") }
        if let receipt = result.receipt {
            print("receipt: \(receipt.confirmationId) remaining \(receipt.remainingBalance) — \(result.receiptVerified ? "verified" : "NOT VERIFIED") (\(result.receiptTrust.rawValue) key)")
        } else if let required = result.paymentRequired {
            print("refused: \(required.error ?? "unknown")")
        }
        if result.status >= 400 || (result.receipt != nil && !result.receiptVerified) { throw ExitCode(1) }
    }
}

struct Ticket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect tickets.", subcommands: [Decode.self])

    struct Decode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a ticket's header and claims; with --ticket-key, whether it verifies.")
        @Argument(help: "The ticket (JWT), or - to read it from standard input.") var ticket: String
        @Option(help: "The attested ticket key (hex), as `nanopay attest verify` prints it.") var ticketKey: String?
        @Option(help: "The service's enclave key (hex): the ticket's iss must name it.") var enclaveKey: String?

        func run() async throws {
            let text = ticket == "-" ? (readLine() ?? "") : ticket
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, let header = Base64.decode(parts[0], urlSafeAllowed: true), let payload = Base64.decode(parts[1], urlSafeAllowed: true),
                  let claims = try? JSONDecoder().decode(TicketClaims.self, from: Data(payload)) else {
                FileHandle.standardError.write(Data("INVALID: not a CyberNanoPay ticket (JWS compact with ticket claims)\n".utf8))
                throw ExitCode(2)
            }
            print("header:  \(String(decoding: header, as: UTF8.self))")
            print("payer:   \(claims.sub)")
            print("paid:    \(claims.amt) \(claims.asset) to \(claims.payTo) (audience \(claims.aud))")
            print("scope:   \(claims.scope)\(claims.uses.map { "  uses: \($0)" } ?? "")")
            let now = SystemClock().nowSeconds()
            print("valid:   \(claims.nbf) to \(claims.exp) (\(claims.exp > now ? "\(claims.exp - now) s left" : "expired"))")
            print("payment: \(claims.jti)  issuer: \(claims.iss)")
            guard let ticketKey else { print("signature: not checked (give --ticket-key)"); return }
            guard let key = Hex.decode(ticketKey, byteCount: 32) else { throw ValidationError("--ticket-key must be 64 hex characters") }
            let headerFields = (try? JSONSerialization.jsonObject(with: Data(header))) as? [String: Any]
            let kidOK = headerFields?["kid"] as? String == TicketJWK(publicKey: key).kid && headerFields?["alg"] as? String == "EdDSA"
            let signatureOK = Base64.decode(parts[2], urlSafeAllowed: true).map {
                Sodium.ed25519Verify(signature: $0, message: Array((parts[0] + "." + parts[1]).utf8), publicKey: key)
            } ?? false
            let issuerOK = enclaveKey.map { claims.iss == $0.lowercased() } ?? true
            if kidOK && signatureOK && issuerOK {
                print("signature: valid under ticket key \(TicketJWK(publicKey: key).kid)\(enclaveKey == nil ? "" : ", issued by the given service")")
            } else {
                print("signature: INVALID (\(!kidOK ? "alg or kid is not this key's" : !signatureOK ? "does not verify under this key" : "issued by another service"))")
                throw ExitCode(2)
            }
        }
    }
}
