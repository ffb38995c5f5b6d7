import Foundation
import Ledger
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import PostgresLedger

/// SplitMix64: a tiny seeded generator so a failing run reproduces from its seed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &self)] }
}

/// A divergence between the ledger and the model, or a broken invariant. Carries the seed.
struct SimulationFailure: Error, CustomStringConvertible {
    var seed: UInt64
    var step: Int
    var operation: String
    var detail: String
    var description: String {
        "simulation seed \(seed) step \(step) [\(operation)]: \(detail)\n  reproduce: NANOPAY_SIM_SEEDS=\(seed) swift test --filter SimulationTests"
    }
}

/// Drives the real service and ledger (real SQLite file, real Ed25519 keys, manual clock)
/// through a seeded random sequence of operations, compares every answer with
/// `ReferenceModel`, and checks the ledger's invariants and every balance after every step.
final class Simulator {
    struct SimBuyer {
        let address: TONAddress
        let keys: [Ed25519KeyPair]
    }

    /// An authorization as sent, with what the model needs to judge it.
    struct Sent {
        var fields: AuthorizationFields
        var payer: String
        var payee: String
        var amount: UInt128
        var nonceKey: String
        var digest: [UInt8]
        var validBefore: UInt64
        var signerKey: [UInt8]
        var tampered: Bool
        var claimedKey: [UInt8]?
        /// v1 signs no workchain, so the service accepts it between basechain accounts only.
        var v1OffBasechain: Bool
    }

    let seed: UInt64
    var rng: SeededRandom
    let fixture: Fixture
    /// On PostgreSQL: a second replica on the same database; each operation goes to either.
    var replica: Replica?
    var model: ReferenceModel
    let buyers: [SimBuyer]
    /// Never deposits: its payments are from an unknown payer.
    let stranger: SimBuyer
    let sellers = (0..<3).map { sellerAddress($0) }
    var sent: [Sent] = []
    /// Ledger approval id -> model hold id.
    var holdIds: [String: String] = [:]
    var references: [String] = []
    var withdrawalReferences: [String] = []
    var step = 0
    var operation = ""
    var counts: [String: Int] = [:]
    /// Every kind of answer seen ("settled", "replayed", "held" or an error code).
    var observedOutcomes = Set<String>()

    init(seed: UInt64, engine: LedgerEngine = .sqlite) async throws {
        self.seed = seed
        rng = SeededRandom(state: seed)
        fixture = try await Fixture.make(engine)
        if engine == .postgres { replica = try await Replica(of: fixture) }
        model = ReferenceModel(approvalTimeoutSeconds: fixture.configuration.approvalTimeoutSeconds)
        func buyer(_ i: Int) -> SimBuyer {
            SimBuyer(address: TONAddress(workchain: i % 2 == 0 ? 0 : -1, hash: Sodium.sha256(Array("sim-buyer-\(i)".utf8))),
                     keys: (0..<2).map { k in Ed25519KeyPair(seed: Sodium.sha256(Array("sim-key-\(i)-\(k)".utf8))) })
        }
        buyers = (0..<4).map(buyer)
        stranger = buyer(99)
    }

    func close() { replica?.close(); fixture.close() }

    /// The replica this operation goes to (always the fixture's on SQLite; the generator is not
    /// consumed then, so SQLite's seeds replay as before).
    var service: PaymentService {
        guard let replica else { return fixture.service }
        return rng.chance(50) ? fixture.service : replica.service
    }

    var store: any LedgerStore {
        guard let replica else { return fixture.store }
        return rng.chance(50) ? fixture.store : replica.store
    }

    var now: UInt64 { fixture.clock.nowMilliseconds() }

    func fail(_ detail: String) -> SimulationFailure {
        SimulationFailure(seed: seed, step: step, operation: operation, detail: detail)
    }

    // MARK: Edge-biased values

    /// 0, 1, 2, 2^k and its neighbours, 2^64, 2^128-1, small and arbitrary values.
    func edgeAmount() -> UInt128 {
        switch Int.random(in: 0..<12, using: &rng) {
        case 0: return UInt128(Int.random(in: 0...2, using: &rng))
        case 1, 2, 3: return UInt128(Int.random(in: 1...5_000, using: &rng))
        case 4, 5, 6:
            let k = UInt128(1) << UInt128(Int.random(in: 0...127, using: &rng))
            return rng.pick([k &- 1, k, k &+ 1])
        case 7: return rng.pick([UInt128(1) << 64, (UInt128(1) << 64) - 1, (UInt128(1) << 64) + 1])
        case 8: return rng.pick([UInt128.max, UInt128.max - 1, UInt128.max / 2])
        case 9: return UInt128(rng.next()) << 64 | UInt128(rng.next())
        default: return UInt128(Int.random(in: 1...100_000_000, using: &rng))
        }
    }

    /// A payment amount: usually affordable, sometimes edge-biased.
    func paymentAmount(for payer: String) -> UInt128 {
        let available = model.accounts[payer]?.available ?? 0
        if available > 0 && rng.chance(60) {
            let cap = min(available, 1 << 40)
            return UInt128.random(in: 1...cap, using: &rng)
        }
        return edgeAmount()
    }

    // MARK: Running

    func run(steps: Int) async throws {
        for s in 0..<steps {
            step = s
            try await runOne()
            try await compareState()
        }
    }

    func runOne() async throws {
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<12: try await deposit()
        case 12..<40: try await payFresh()
        case 40..<48: try await resubmit()
        case 48..<51: try await reuseNonce()
        case 51..<55: try await dryRun()
        case 55..<63: try await decide()
        case 63..<70: try await jumpClock()
        case 70..<75: try await withdraw()
        case 75..<81: try await operatorPolicy()
        case 81..<85: try await payerPolicy()
        case 85..<87: try await rotateKey()
        case 87..<89: try await prune()
        case 89..<92: try await reopen()
        case 92..<96: try await payExpired()
        default: try await payUnknown()
        }
        counts[operation, default: 0] += 1
    }

    /// Compares an observed outcome with the expected one.
    func expect(_ observed: ReferenceModel.Outcome, _ expected: ReferenceModel.Outcome) throws {
        switch observed {
        case .settled(let replayed, _): observedOutcomes.insert(replayed ? "replayed" : "settled")
        case .held: observedOutcomes.insert("held")
        case .failed(let code): observedOutcomes.insert(code.rawValue)
        case .done: break
        }
        guard observed == expected else { throw fail("ledger answered \(observed), the model expected \(expected)") }
    }

    func outcome<T>(_ body: () async throws -> T) async throws -> (ReferenceModel.Outcome, T?) {
        do {
            return (.done, try await body())
        } catch let e as NanoPayError {
            if e.code == .internalError || e.code == .storageUnavailable { throw fail("unexpected \(e)") }
            return (.failed(e.code), nil)
        }
    }

    // MARK: Operations

    func deposit() async throws {
        operation = "deposit"
        let buyer = rng.pick(buyers)
        let registered = model.accounts[buyer.address.raw]?.key
        let key = rng.chance(90) ? (registered ?? buyer.keys[0].publicKey) : rng.pick(buyer.keys).publicKey
        var reference = "dep-\(seed)-\(step)"
        var amount = edgeAmount()
        if !references.isEmpty && rng.chance(25) {
            reference = rng.pick(references)
            if let earlier = model.deposits[reference], rng.chance(60) {
                // An identical resubmission (same address and amount) or a conflicting one.
                amount = earlier.amount
                operation = "deposit.repeat"
                let address = rng.chance(80) ? earlier.address : buyers[0].address.raw
                let target = buyers.first { $0.address.raw == address }!
                model.expireHolds(nowMilliseconds: now)
                let expected = model.deposit(address: address, amount: amount, key: key, reference: reference)
                let (observed, _) = try await outcome { try await store.deposit(address: target.address, amount: Amount(amount), publicKey: key, reference: reference) }
                return try expect(observed, expected)
            }
            operation = "deposit.conflict"
        }
        references.append(reference)
        model.expireHolds(nowMilliseconds: now)
        let expected = model.deposit(address: buyer.address.raw, amount: amount, key: key, reference: reference)
        let (observed, _) = try await outcome { try await store.deposit(address: buyer.address, amount: Amount(amount), publicKey: key, reference: reference) }
        try expect(observed, expected)
    }

    func withdraw() async throws {
        operation = "withdraw"
        let buyer = rng.pick(buyers)
        var reference = "wd-\(seed)-\(step)"
        var amount = rng.chance(50) ? paymentAmount(for: buyer.address.raw) : edgeAmount()
        var address = buyer.address
        if !withdrawalReferences.isEmpty && rng.chance(20) {
            reference = rng.pick(withdrawalReferences)
            if let earlier = model.withdrawals[reference], rng.chance(70) {
                amount = earlier.amount
                address = buyers.first { $0.address.raw == earlier.address }!.address
            }
            operation = "withdraw.repeat"
        } else {
            withdrawalReferences.append(reference)
        }
        model.expireHolds(nowMilliseconds: now)
        let expected = model.withdraw(address: address.raw, amount: amount, reference: reference)
        let (observed, _) = try await outcome { try await store.withdraw(address: address, amount: Amount(amount), reference: reference) }
        try expect(observed, expected)
    }

    /// Signs an authorization; `signer` defaults to the key the model says is registered.
    func sign(_ buyer: SimBuyer, to payee: TONAddress, amount: UInt128, validBefore: UInt64, nonce: [UInt8],
              signer: Ed25519KeyPair? = nil) -> Sent {
        let registered = model.accounts[buyer.address.raw]?.key
        let keyPair = signer ?? buyer.keys.first { $0.publicKey == registered } ?? buyer.keys[0]
        // v1 as buyers sign it (basechain accounts only), now and then off basechain to see it refused.
        let basechain = buyer.address.workchain == 0 && payee.workchain == 0
        let version: PaymentAuthorization.Version = (basechain && rng.chance(50)) || rng.chance(3) ? .v1 : .v2
        let domain: PaymentAuthorization.Domain? = version == .v2 ? fixture.service.domain : nil
        let auth = PaymentAuthorization.sign(keyPair: keyPair, from: buyer.address, to: payee, amount: Amount(amount),
                                             validBefore: validBefore, nonce: nonce, version: version, domain: domain)
        var claimed: [UInt8]? = nil
        if rng.chance(15) { claimed = rng.pick(buyer.keys).publicKey }
        var fields = AuthorizationFields(auth, publicKey: claimed)
        var tampered = false
        if rng.chance(5) {
            var sig = auth.signature
            sig[Int.random(in: 0..<64, using: &rng)] ^= UInt8(1) << UInt8(Int.random(in: 0..<8, using: &rng))
            fields.signature = Hex.encode(sig)
            tampered = true
        }
        return Sent(fields: fields, payer: buyer.address.raw, payee: payee.raw, amount: amount,
                    nonceKey: buyer.address.raw + Hex.encode(nonce), digest: auth.digest(domain: domain),
                    validBefore: validBefore, signerKey: keyPair.publicKey, tampered: tampered, claimedKey: claimed,
                    v1OffBasechain: version == .v1 && (buyer.address.workchain != 0 || payee.workchain != 0))
    }

    /// The service's stateless checks, as the model sees them. Nil when the payment reaches the ledger.
    func statelessFailure(_ s: Sent) -> ErrorCode? {
        if s.amount == 0 || s.payer == s.payee || s.v1OffBasechain { return .invalidRequest }
        if now / 1000 >= s.validBefore { return .expired }
        guard let key = model.accounts[s.payer]?.key else { return .unknownPayer }
        if let claimed = s.claimedKey, claimed != key { return .invalidSignature }
        if s.tampered || s.signerKey != key { return .invalidSignature }
        return nil
    }

    func expectedPayment(_ s: Sent) -> ReferenceModel.Outcome {
        if let code = statelessFailure(s) { return .failed(code) }
        model.expireHolds(nowMilliseconds: now)
        return model.pay(payer: s.payer, payee: s.payee, amount: s.amount, nonceKey: s.nonceKey, digest: s.digest,
                         validBeforeSeconds: s.validBefore, nowMilliseconds: now)
    }

    func submit(_ s: Sent) async throws {
        let expected = expectedPayment(s)
        let observed: ReferenceModel.Outcome
        do {
            switch try await service.verify(s.fields) {
            case .settled(let receipt, let replayed):
                guard receipt.verify(pinnedEnclaveKey: fixture.enclave.publicKey) else { throw fail("receipt signature does not verify") }
                guard receipt.from == s.payer, receipt.to == s.payee, receipt.amount.value == s.amount else { throw fail("receipt fields differ from the authorization") }
                observed = .settled(replayed: replayed, remaining: receipt.remainingBalance.value)
            case .held(let approvalId, let expiresAt):
                holdIds[approvalId] = ReferenceModel.holdId(nonceKey: s.nonceKey, digest: s.digest)
                observed = .held(expiresAtMilliseconds: expiresAt)
            }
        } catch let e as NanoPayError {
            if e.code == .internalError || e.code == .storageUnavailable { throw fail("unexpected \(e)") }
            observed = .failed(e.code)
        }
        try expect(observed, expected)
    }

    func randomPayee(excluding payer: SimBuyer) -> TONAddress {
        rng.chance(80) ? rng.pick(sellers) : rng.pick(buyers.filter { $0.address != payer.address }).address
    }

    func payFresh() async throws {
        operation = "pay"
        let buyer = rng.pick(buyers)
        let signer: Ed25519KeyPair? = rng.chance(5) ? rng.pick(buyer.keys) : nil
        let payee = rng.chance(2) ? buyer.address : randomPayee(excluding: buyer)
        let s = sign(buyer, to: payee, amount: paymentAmount(for: buyer.address.raw),
                     validBefore: now / 1000 + UInt64(rng.pick([1, 2, 30, 299, 300, 301, 3_600, 90_000])),
                     nonce: Sodium.sha256(Array("nonce-\(seed)-\(step)".utf8)), signer: signer)
        sent.append(s)
        try await submit(s)
    }

    func payExpired() async throws {
        operation = "pay.expired"
        let buyer = rng.pick(buyers)
        let s = sign(buyer, to: rng.pick(sellers), amount: 1, validBefore: now / 1000 - UInt64(rng.pick([0, 1, 100])),
                     nonce: Sodium.sha256(Array("nonce-\(seed)-\(step)".utf8)))
        try await submit(s)
    }

    func payUnknown() async throws {
        operation = "pay.unknown"
        let s = sign(stranger, to: rng.pick(sellers), amount: 1, validBefore: now / 1000 + 60,
                     nonce: Sodium.sha256(Array("nonce-\(seed)-\(step)".utf8)))
        try await submit(s)
    }

    func resubmit() async throws {
        operation = "pay.resubmit"
        guard !sent.isEmpty else { return try await payFresh() }
        // Half the time a payment that was held, so approved, rejected and expired holds are resubmitted too.
        let held = sent.filter { model.payments[$0.nonceKey]?.approvalId != nil }
        try await submit(!held.isEmpty && rng.chance(50) ? rng.pick(held) : rng.pick(sent))
    }

    /// The same nonce with different fields, validly signed: refused as nonce reuse.
    func reuseNonce() async throws {
        operation = "pay.reuse-nonce"
        guard let earlier = sent.last(where: { !$0.tampered }) ?? sent.first else { return try await payFresh() }
        let buyer = buyers.first { $0.address.raw == earlier.payer }!
        let nonce = Hex.decode(earlier.fields.nonce, byteCount: 32)!
        let s = sign(buyer, to: randomPayee(excluding: buyer), amount: earlier.amount &+ 1 == 0 ? 1 : earlier.amount &+ 1,
                     validBefore: now / 1000 + 300, nonce: nonce)
        try await submit(s)
    }

    /// `/x402/verify`'s dry run: the same answer as a payment, nothing changed (due holds still expire).
    func dryRun() async throws {
        operation = "pay.dry-run"
        guard !sent.isEmpty else { return }
        let s = rng.chance(50) ? rng.pick(sent) : sign(rng.pick(buyers), to: rng.pick(sellers), amount: edgeAmount() | 1,
                                                         validBefore: now / 1000 + 60, nonce: Sodium.sha256(Array("dry-\(seed)-\(step)".utf8)))
        var expected: ReferenceModel.Outcome
        if let code = statelessFailure(s) {
            expected = .failed(code)
        } else {
            model.expireHolds(nowMilliseconds: now)
            var copy = model
            expected = copy.pay(payer: s.payer, payee: s.payee, amount: s.amount, nonceKey: s.nonceKey, digest: s.digest,
                                validBeforeSeconds: s.validBefore, nowMilliseconds: now)
        }
        let observed: ReferenceModel.Outcome
        do {
            switch try await service.check(s.fields) {
            case .settled(let receipt, let replayed): observed = .settled(replayed: replayed, remaining: receipt.remainingBalance.value)
            case .held(_, let expiresAt): observed = .held(expiresAtMilliseconds: expiresAt)
            }
        } catch {
            // `check` throws only NanoPayError (typed throws).
            if error.code == .internalError || error.code == .storageUnavailable { throw fail("unexpected \(error)") }
            observed = .failed(error.code)
        }
        try expect(observed, expected)
    }

    func decide() async throws {
        let approve = rng.chance(50)
        operation = approve ? "approve" : "reject"
        let id = holdIds.isEmpty || rng.chance(5) ? "apr_000000000000000000000000" : rng.pick(holdIds.keys.sorted())
        model.expireHolds(nowMilliseconds: now)
        let expected = model.decide(holdId: holdIds[id] ?? "none", approve: approve)
        let (observed, result) = try await outcome { try await store.decideHold(approvalId: id, approve: approve, by: "sim", reason: nil) }
        try expect(observed, expected)
        if approve, let (approval, receipt) = result {
            guard approval.status == .approved, let receipt,
                  let nonceKey = holdIds[id].flatMap({ model.holds[$0]?.nonceKey }),
                  receipt.remainingBalance.value == model.payments[nonceKey]?.receiptRemaining
            else { throw fail("approval \(id) did not post with a valid receipt") }
        }
    }

    func jumpClock() async throws {
        if rng.chance(10) {
            operation = "clock.backward"
            fixture.clock.set(milliseconds: now - UInt64(Int.random(in: 1...120_000, using: &rng)))
        } else {
            operation = "clock.forward"
            fixture.clock.advance(milliseconds: UInt64(rng.pick([1, 999, 1_000, 59_000, 60_000, 299_000, 300_000, 301_000, 86_399_000, 86_400_000, 90_000_000])))
        }
    }

    func limitChange(_ amount: Bool) -> (ReferenceModel.Change<UInt128>, FieldUpdate<Amount>) {
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: return (.keep, .keep)
        case 1: return (.clear, .clear)
        default:
            let v = amount ? edgeAmount() : UInt128(Int.random(in: 1...1_000_000, using: &rng))
            return (.set(v), .set(Amount(v)))
        }
    }

    func countChange(_ range: ClosedRange<UInt32>) -> (ReferenceModel.Change<UInt32>, FieldUpdate<UInt32>) {
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: return (.keep, .keep)
        case 1: return (.clear, .clear)
        default:
            let v = rng.pick([range.lowerBound, range.lowerBound + 1, UInt32.random(in: range, using: &rng), range.upperBound])
            return (.set(v), .set(v))
        }
    }

    func operatorPolicy() async throws {
        operation = "policy.operator"
        let address = rng.chance(60) ? rng.pick(buyers).address : rng.pick(sellers)
        let (mm, mu) = limitChange(true), (rm, ru) = countChange(1...120), (bm, bu) = countChange(1...10), (dm, du) = limitChange(true)
        model.expireHolds(nowMilliseconds: now)
        let expected = model.setPolicy(address: address.raw, maxAmount: mm, rateLimit: rm, rateBurst: bm, dailyCap: dm, byPayer: false)
        let (observed, _) = try await outcome {
            try await store.setPolicy(address: address, update: PolicyUpdate(maxAmount: mu, rateLimit: ru, rateBurst: bu, dailyCap: du),
                                               authority: .operator("sim"))
        }
        try expect(observed, expected)
    }

    /// A payer-signed tightening; raising a limit is refused.
    func payerPolicy() async throws {
        operation = "policy.payer"
        let buyer = rng.pick(buyers)
        let current = model.policies[buyer.address.raw] ?? ReferenceModel.PolicyLimits()
        func near<V: FixedWidthInteger>(_ v: V?, _ fallback: V) -> V? {
            guard rng.chance(60) else { return nil }
            guard let v else { return fallback }
            return rng.chance(70) ? v / 2 : (v == .max ? v : v + 1)
        }
        let max = near(current.maxAmount, UInt128(1_000)), rate = near(current.rateLimit, UInt32(60)).map { Swift.max($0, 1) }
        let cap = near(current.dailyCap, UInt128(50_000))
        let validBefore = now / 1000 + (rng.chance(90) ? 60 : 0)
        let registered = model.accounts[buyer.address.raw]?.key
        let keyPair = buyer.keys.first { $0.publicKey == registered } ?? buyer.keys[0]
        // Signed, as a payer would, against the version of the policy it reads now.
        let version = try await store.policy(buyer.address)?.version ?? 0
        let signature = PolicyTightening.sign(keyPair: keyPair, domain: fixture.service.domain, address: buyer.address, version: version,
                                              maxAmount: max.map { Amount($0) }, rateLimit: rate,
                                              dailyCap: cap.map { Amount($0) }, validBefore: validBefore)
        let expected: ReferenceModel.Outcome
        if now / 1000 >= validBefore { expected = .failed(.expired) }
        else if registered == nil { expected = .failed(.unknownPayer) }
        else {
            model.expireHolds(nowMilliseconds: now)
            expected = model.setPolicy(address: buyer.address.raw, maxAmount: max.map { .set($0) } ?? .keep,
                                       rateLimit: rate.map { .set($0) } ?? .keep, rateBurst: .keep,
                                       dailyCap: cap.map { .set($0) } ?? .keep, byPayer: true)
        }
        let (observed, _) = try await outcome {
            try await service.tightenPolicy(address: buyer.address, version: version, maxAmount: max.map { Amount($0) }, rateLimit: rate,
                                                    dailyCap: cap.map { Amount($0) }, validBefore: validBefore, signature: signature)
        }
        try expect(observed, expected)
    }

    func rotateKey() async throws {
        operation = "rotate-key"
        let buyer = rng.pick(buyers)
        let key = rng.pick(buyer.keys).publicKey
        model.expireHolds(nowMilliseconds: now)
        let expected: ReferenceModel.Outcome
        if model.accounts[buyer.address.raw] == nil { expected = .failed(.unknownPayer) } else {
            model.accounts[buyer.address.raw]!.key = key
            expected = .done
        }
        let (observed, _) = try await outcome { try await store.rotateKey(address: buyer.address, publicKey: key) }
        try expect(observed, expected)
    }

    func prune() async throws {
        operation = "prune"
        model.expireHolds(nowMilliseconds: now)
        let expected = model.pruneNonces(nowMilliseconds: now)
        let (_, pruned) = try await outcome { try await store.pruneNonces() }
        guard pruned == expected else { throw fail("pruned \(pruned.map(String.init) ?? "nil") nonces, the model expected \(expected)") }
    }

    func reopen() async throws {
        operation = "reopen"
        if let old = replica {
            // A replica restarts: a new engine (empty caches, a new writer id) on the same database.
            old.close()
            replica = try await Replica(of: fixture)
        } else {
            try fixture.reopen()
        }
    }

    // MARK: After every step

    func compareState() async throws {
        let report = try await fixture.checkInvariants()
        guard report.isConsistent else { throw fail("invariants: \(report)") }
        let ledger = store
        // A replica's counters include other replicas' moves once it has heard of them.
        if let postgres = ledger as? PostgresLedger { try await postgres.refreshTotals() }
        for address in buyers.map(\.address) + sellers + [stranger.address] {
            let b = try await ledger.balance(address)
            let m = model.accounts[address.raw] ?? ReferenceModel.Account()
            let observed = [b.available, b.held, b.totalDeposited, b.totalSpent, b.totalReceived, b.totalWithdrawn].map(\.value)
            let expected = [m.available, m.held, m.deposited, m.spent, m.received, m.withdrawn]
            guard observed == expected else { throw fail("balance of \(address.raw): ledger \(observed), model \(expected)") }
            // A replica serves keys from a cache for up to 2 s (`KeyCache`); the committed key is the
            // uncached read (payments re-read it before refusing a signature).
            guard try await ledger.uncachedPublicKey(address) == m.key else { throw fail("registered key of \(address.raw) differs") }
            let p = try await ledger.policy(address)
            let limits = ReferenceModel.PolicyLimits(maxAmount: p?.maxAmount?.value, rateLimit: p?.rateLimit, rateBurst: p?.rateBurst,
                                                     dailyCap: p?.dailyCap?.value)
            guard limits == model.policies[address.raw] ?? ReferenceModel.PolicyLimits() else {
                throw fail("policy of \(address.raw): ledger \(limits), model \(String(describing: model.policies[address.raw]))")
            }
        }
        let t = ledger.totals
        let mt = model.totals
        let observed = [UInt128(t.accounts), UInt128(t.paymentsSettled), UInt128(t.paymentsHeld), UInt128(t.paymentsApproved),
                        UInt128(t.paymentsRejected), UInt128(t.paymentsExpired), t.volume.value, t.deposited.value, t.withdrawn.value]
        let expected = [UInt128(mt.accounts), UInt128(mt.settled), UInt128(mt.held), UInt128(mt.approved), UInt128(mt.rejected),
                        UInt128(mt.expired), mt.volume, mt.deposited, mt.withdrawn]
        guard observed == expected else { throw fail("totals: ledger \(observed), model \(expected)") }
        for (id, holdId) in holdIds {
            let (approval, _) = try await ledger.approval(id: id)
            let expectedStatus = model.approvalStatus(holdId, nowMilliseconds: now)
            guard approval.status.rawValue == (expectedStatus == .held ? "pending" : expectedStatus?.rawValue) else {
                throw fail("approval \(id): ledger \(approval.status), model \(String(describing: expectedStatus))")
            }
        }
    }
}
