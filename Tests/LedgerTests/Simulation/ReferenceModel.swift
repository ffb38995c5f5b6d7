import NanoPayCore

/// An in-memory model of what the ledger promises, written from the rules in README/RELIABILITY
/// and not from the ledger's code: plain dictionaries, `UInt128` arithmetic with explicit
/// overflow checks, and the ITU "virtual scheduling" form of GCRA (the ledger uses the
/// theoretical-arrival form). The simulator runs every operation on both and compares.
///
/// It is a value type so a dry run (`/x402/verify`) can be modelled on a copy.
struct ReferenceModel {
    struct Account: Equatable {
        var key: [UInt8]?
        var available: UInt128 = 0
        var held: UInt128 = 0
        var deposited: UInt128 = 0
        var spent: UInt128 = 0
        var received: UInt128 = 0
        var withdrawn: UInt128 = 0
    }

    enum PaymentStatus: String { case settled, held, approved, rejected, expired }

    struct Payment {
        var payer: String
        var payee: String
        var amount: UInt128
        var digest: [UInt8]
        var validBeforeSeconds: UInt64
        var createdAtMilliseconds: UInt64
        var status: PaymentStatus
        var confirmationId: String?
        var approvalId: String?
        /// For an approved payment: whether a verify has already returned its receipt.
        var served = false
        /// `remainingBalance` of the receipt, once posted.
        var receiptRemaining: UInt128?
    }

    struct Hold {
        var nonceKey: String
        var expiresAtMilliseconds: UInt64
        var status: PaymentStatus
    }

    struct PolicyLimits: Equatable {
        var maxAmount: UInt128?
        var rateLimit: UInt32?
        var rateBurst: UInt32?
        var dailyCap: UInt128?
        var isEmpty: Bool { maxAmount == nil && rateLimit == nil && rateBurst == nil && dailyCap == nil }
    }

    struct Totals: Equatable {
        var accounts: UInt64 = 0
        var settled: UInt64 = 0, held: UInt64 = 0, approved: UInt64 = 0, rejected: UInt64 = 0, expired: UInt64 = 0
        var volume: UInt128 = 0, deposited: UInt128 = 0, withdrawn: UInt128 = 0
    }

    /// What an operation is expected to answer.
    enum Outcome: Equatable, CustomStringConvertible {
        case settled(replayed: Bool, remaining: UInt128)
        case held(expiresAtMilliseconds: UInt64)
        case failed(ErrorCode)
        case done

        var description: String {
            switch self {
            case .settled(let r, let rem): return "settled(replayed: \(r), remaining: \(rem))"
            case .held(let e): return "held(expiresAt: \(e))"
            case .failed(let c): return "failed(\(c.rawValue))"
            case .done: return "done"
            }
        }
    }

    let approvalTimeoutMilliseconds: UInt64
    let nonceGraceSeconds: UInt64
    var accounts: [String: Account] = [:]
    var deposits: [String: (address: String, amount: UInt128)] = [:]
    var withdrawals: [String: (address: String, amount: UInt128)] = [:]
    /// Keyed by payer + hex nonce.
    var payments: [String: Payment] = [:]
    var holds: [String: Hold] = [:]
    var policies: [String: PolicyLimits] = [:]
    /// Theoretical arrival times in microseconds, keyed by address + direction.
    var arrival: [String: Int64] = [:]
    var totals = Totals()

    init(approvalTimeoutSeconds: UInt64, nonceGraceSeconds: UInt64 = 86_400 + 3_600) {
        approvalTimeoutMilliseconds = approvalTimeoutSeconds * 1000
        self.nonceGraceSeconds = nonceGraceSeconds
    }

    static func add(_ a: UInt128, _ b: UInt128) -> UInt128? {
        let (r, o) = a.addingReportingOverflow(b); return o ? nil : r
    }

    // MARK: Every write starts by voiding the holds whose window has closed.

    mutating func expireHolds(nowMilliseconds: UInt64) {
        for (id, hold) in holds where hold.status == .held && hold.expiresAtMilliseconds <= nowMilliseconds {
            let p = payments[hold.nonceKey]!
            accounts[p.payer]!.held -= p.amount
            accounts[p.payer]!.available += p.amount
            holds[id]!.status = .expired
            payments[hold.nonceKey]!.status = .expired
            totals.held -= 1
            totals.expired += 1
        }
    }

    // MARK: Deposits and withdrawals

    mutating func deposit(address: String, amount: UInt128, key: [UInt8], reference: String) -> Outcome {
        if amount == 0 { return .failed(.invalidRequest) }
        if let earlier = deposits[reference] {
            return earlier.address == address && earlier.amount == amount ? .done : .failed(.referenceConflict)
        }
        var account = accounts[address] ?? Account()
        if let registered = account.key, registered != key { return .failed(.publicKeyConflict) }
        guard let available = Self.add(account.available, amount), let deposited = Self.add(account.deposited, amount),
              let total = Self.add(totals.deposited, amount) else { return .failed(.amountOverflow) }
        if accounts[address] == nil { totals.accounts += 1 }
        account.key = key
        account.available = available
        account.deposited = deposited
        accounts[address] = account
        totals.deposited = total
        deposits[reference] = (address, amount)
        return .done
    }

    mutating func withdraw(address: String, amount: UInt128, reference: String) -> Outcome {
        if amount == 0 { return .failed(.invalidRequest) }
        if let earlier = withdrawals[reference] {
            return earlier.address == address && earlier.amount == amount ? .done : .failed(.referenceConflict)
        }
        guard var account = accounts[address], account.available >= amount else { return .failed(.insufficientBalance) }
        guard let withdrawn = Self.add(account.withdrawn, amount), let total = Self.add(totals.withdrawn, amount) else {
            return .failed(.amountOverflow)
        }
        account.available -= amount
        account.withdrawn = withdrawn
        accounts[address] = account
        totals.withdrawn = total
        withdrawals[reference] = (address, amount)
        return .done
    }

    // MARK: Payments

    /// The stateful part of a payment whose signature the service already accepted.
    mutating func pay(payer: String, payee: String, amount: UInt128, nonceKey: String, digest: [UInt8],
                      validBeforeSeconds: UInt64, nowMilliseconds: UInt64) -> Outcome {
        if let earlier = payments[nonceKey] {
            guard earlier.digest == digest else { return .failed(.nonceReused) }
            switch earlier.status {
            case .settled: return .settled(replayed: true, remaining: earlier.receiptRemaining!)
            case .approved:
                payments[nonceKey]!.served = true
                return .settled(replayed: earlier.served, remaining: earlier.receiptRemaining!)
            case .held: return .held(expiresAtMilliseconds: holds[earlier.approvalId!]!.expiresAtMilliseconds)
            case .rejected: return .failed(.approvalRejected)
            case .expired: return .failed(.approvalExpired)
            }
        }
        guard var from = accounts[payer], from.key != nil else { return .failed(.unknownPayer) }

        // Rate limits, payer side first; a refusal changes nothing.
        let nowMicros = Int64(nowMilliseconds) * 1000
        var newArrivals: [(String, Int64)] = []
        for (address, direction) in [(payer, "out"), (payee, "in")] {
            guard let policy = policies[address], let rate = policy.rateLimit else { continue }
            let increment = (60_000_000 + Int64(rate) - 1) / Int64(rate)
            let limit = increment * (Int64(policy.rateBurst ?? rate) - 1)
            let tat = arrival[address + direction] ?? nowMicros
            if nowMicros < tat - limit { return .failed(.rateLimited) }
            newArrivals.append((address + direction, max(nowMicros, tat) + increment))
        }

        var hold = false
        for (address, asPayer) in [(payer, true), (payee, false)] {
            guard let policy = policies[address] else { continue }
            if let max = policy.maxAmount, amount > max { hold = true }
            if let cap = policy.dailyCap {
                var sum: UInt128 = 0
                for p in payments.values where (asPayer ? p.payer : p.payee) == address
                    && p.createdAtMilliseconds + 86_400_000 > nowMilliseconds
                    && [.settled, .held, .approved].contains(p.status) {
                    sum = Self.add(sum, p.amount) ?? .max
                }
                if (Self.add(sum, amount) ?? .max) > cap { hold = true }
            }
        }
        guard from.available >= amount else { return .failed(.insufficientBalance) }

        var payment = Payment(payer: payer, payee: payee, amount: amount, digest: digest, validBeforeSeconds: validBeforeSeconds,
                              createdAtMilliseconds: nowMilliseconds, status: .settled)
        if hold {
            guard let held = Self.add(from.held, amount) else { return .failed(.amountOverflow) }
            from.available -= amount
            from.held = held
            let expiresAt = min(nowMilliseconds + approvalTimeoutMilliseconds, validBeforeSeconds &* 1000)
            let id = Self.holdId(nonceKey: nonceKey, digest: digest)
            payment.status = .held
            payment.approvalId = id
            holds[id] = Hold(nonceKey: nonceKey, expiresAtMilliseconds: expiresAt, status: .held)
            accounts[payer] = from
            totals.held += 1
            for (k, v) in newArrivals { arrival[k] = v }
            payments[nonceKey] = payment
            return .held(expiresAtMilliseconds: expiresAt)
        }
        var to = payer == payee ? from : (accounts[payee] ?? Account())
        guard let spent = Self.add(from.spent, amount), let credited = Self.add(to.available, amount),
              let received = Self.add(to.received, amount), let volume = Self.add(totals.volume, amount)
        else { return .failed(.amountOverflow) }
        from.available -= amount
        from.spent = spent
        to.available = credited
        to.received = received
        if accounts[payee] == nil { totals.accounts += 1 }
        accounts[payer] = from
        accounts[payee] = to
        totals.settled += 1
        totals.volume = volume
        for (k, v) in newArrivals { arrival[k] = v }
        payment.receiptRemaining = from.available
        payments[nonceKey] = payment
        return .settled(replayed: false, remaining: from.available)
    }

    // MARK: Approvals

    /// One per authorization: a pruned nonce may be signed again, and that hold is a new one.
    static func holdId(nonceKey: String, digest: [UInt8]) -> String { "hold-\(nonceKey)-\(Hex.encode(digest))" }

    mutating func decide(holdId: String, approve: Bool) -> Outcome {
        guard let hold = holds[holdId] else { return .failed(.approvalNotFound) }
        switch hold.status {
        case .approved: return .failed(.alreadyApproved)
        case .rejected: return .failed(.alreadyRejected)
        case .expired: return .failed(.approvalExpired)
        case .settled, .held: break
        }
        let p = payments[hold.nonceKey]!
        var from = accounts[p.payer]!
        if approve {
            var to = accounts[p.payee] ?? Account()
            guard let spent = Self.add(from.spent, p.amount), let credited = Self.add(to.available, p.amount),
                  let received = Self.add(to.received, p.amount), let volume = Self.add(totals.volume, p.amount)
            else { return .failed(.amountOverflow) }
            from.held -= p.amount
            from.spent = spent
            to.available = credited
            to.received = received
            if accounts[p.payee] == nil { totals.accounts += 1 }
            accounts[p.payer] = from
            accounts[p.payee] = to
            totals.approved += 1
            totals.volume = volume
            payments[hold.nonceKey]!.receiptRemaining = from.available
            payments[hold.nonceKey]!.status = .approved
            holds[holdId]!.status = .approved
        } else {
            from.held -= p.amount
            from.available += p.amount
            accounts[p.payer] = from
            totals.rejected += 1
            payments[hold.nonceKey]!.status = .rejected
            holds[holdId]!.status = .rejected
        }
        totals.held -= 1
        return .done
    }

    // MARK: Policies

    enum Change<V: Equatable>: Equatable { case keep, set(V), clear }

    mutating func setPolicy(address: String, maxAmount: Change<UInt128>, rateLimit: Change<UInt32>, rateBurst: Change<UInt32>,
                            dailyCap: Change<UInt128>, byPayer: Bool) -> Outcome {
        var p = policies[address] ?? PolicyLimits()
        func apply<V: Comparable>(_ change: Change<V>, _ current: V?) -> V?? {
            switch change {
            case .keep: return .some(current)
            case .clear: return byPayer ? nil : .some(nil)
            case .set(let v):
                if byPayer, let current, v > current { return nil }
                return .some(v)
            }
        }
        guard let m = apply(maxAmount, p.maxAmount), let r = apply(rateLimit, p.rateLimit),
              let b = apply(rateBurst, p.rateBurst), let d = apply(dailyCap, p.dailyCap) else { return .failed(.policyNotTighter) }
        p.maxAmount = m; p.rateLimit = r; p.rateBurst = r == nil ? nil : b; p.dailyCap = d
        policies[address] = p
        return .done
    }

    // MARK: Upkeep

    /// Nonces past validBefore plus the grace period whose payment is final are forgotten.
    mutating func pruneNonces(nowMilliseconds: UInt64) -> Int {
        let cutoff = Int64(nowMilliseconds / 1000) - Int64(nonceGraceSeconds)
        let gone = payments.filter { Int64($0.value.validBeforeSeconds) < cutoff && $0.value.status != .held }.map(\.key)
        for k in gone { payments[k] = nil }
        return gone.count
    }

    /// The status an approval reads with at `now` (a due hold reads as expired before the sweep).
    func approvalStatus(_ id: String, nowMilliseconds: UInt64) -> PaymentStatus? {
        guard let h = holds[id] else { return nil }
        return h.status == .held && h.expiresAtMilliseconds <= nowMilliseconds ? .expired : h.status
    }
}
