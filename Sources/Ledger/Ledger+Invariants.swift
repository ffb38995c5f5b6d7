import NanoPayCore

/// What the invariant check found. Empty `violations` means the ledger is consistent.
public struct InvariantReport: Sendable, CustomStringConvertible {
    public var accounts = 0
    public var transfers = 0
    public var violations: [String] = []
    public var isConsistent: Bool { violations.isEmpty }
    public var description: String {
        isConsistent ? "consistent (\(accounts) accounts, \(transfers) transfers)" : violations.joined(separator: "\n")
    }
}

extension Ledger {
    /// Rebuilds every balance from the immutable transfers and compares with the stored
    /// balances, then checks the global equations: money in = money held + available + out,
    /// Σ spent = Σ received, held = Σ pending holds, no counter below zero (u128 by construction).
    public func checkInvariants() throws(NanoPayError) -> InvariantReport {
        try readBlocking { db in
            var report = InvariantReport()
            var rebuilt: [String: AccountBalance] = [:]
            func with(_ a: String, _ f: (inout AccountBalance) -> Bool) -> Bool {
                var b = rebuilt[a] ?? .empty(a)
                let ok = f(&b)
                rebuilt[a] = b
                return ok
            }
            func add(_ x: inout Amount, _ y: Amount) -> Bool { if let r = x.adding(y) { x = r; return true }; return false }
            func sub(_ x: inout Amount, _ y: Amount) -> Bool { if let r = x.subtracting(y) { x = r; return true }; return false }

            let t = try db.statement("SELECT id, kind, debit_account, credit_account, amount FROM transfers ORDER BY id")
            while try t.step() {
                report.transfers += 1
                let id = t.int(0), kind = t.text(1) ?? "", debit = t.text(2), credit = t.text(3), a = amount(t, 4)
                var ok = true
                switch kind {
                case "deposit":
                    ok = with(credit ?? "") { add(&$0.available, a) && add(&$0.totalDeposited, a) }
                case "withdrawal":
                    ok = with(debit ?? "") { sub(&$0.available, a) && add(&$0.totalWithdrawn, a) }
                case "payment":
                    ok = with(debit ?? "") { sub(&$0.available, a) && add(&$0.totalSpent, a) }
                        && with(credit ?? "") { add(&$0.available, a) && add(&$0.totalReceived, a) }
                case "hold":
                    ok = with(debit ?? "") { sub(&$0.available, a) && add(&$0.held, a) }
                case "post":
                    ok = with(debit ?? "") { sub(&$0.held, a) && add(&$0.totalSpent, a) }
                        && with(credit ?? "") { add(&$0.available, a) && add(&$0.totalReceived, a) }
                case "void", "expire":
                    ok = with(debit ?? "") { sub(&$0.held, a) && add(&$0.available, a) }
                default:
                    report.violations.append("transfer \(id) has unknown kind \(kind)")
                }
                if !ok { report.violations.append("transfer \(id) (\(kind)) drives a balance below zero or past 2^128-1") }
            }

            var sumSpent = WideSum(), sumReceived = WideSum()
            let s = try db.statement("SELECT address, available, held, total_deposited, total_spent, total_received, total_withdrawn FROM accounts")
            while try s.step() {
                report.accounts += 1
                let addr = s.text(0) ?? ""
                let stored = AccountBalance(address: addr, available: amount(s, 1), held: amount(s, 2), totalDeposited: amount(s, 3),
                                            totalSpent: amount(s, 4), totalReceived: amount(s, 5), totalWithdrawn: amount(s, 6))
                let expected = rebuilt.removeValue(forKey: addr) ?? .empty(addr)
                if stored != expected { report.violations.append("account \(addr): stored \(stored) but transfers give \(expected)") }
                // available + held + spent + withdrawn = deposited + received, in 256-bit arithmetic:
                // each counter fits in 128 bits but their sums need not.
                let outSide = WideSum(stored.available, stored.held, stored.totalSpent, stored.totalWithdrawn)
                let inSide = WideSum(stored.totalDeposited, stored.totalReceived)
                if outSide != inSide { report.violations.append("account \(addr): available + held != deposited + received - spent - withdrawn") }
                sumSpent.add(stored.totalSpent)
                sumReceived.add(stored.totalReceived)
            }
            for (addr, b) in rebuilt where b != .empty(addr) {
                report.violations.append("transfers move money for \(addr), which has no account row")
            }
            if sumSpent != sumReceived { report.violations.append("Σ spent != Σ received") }

            // Held balances equal the pending holds.
            var pendingByPayer: [String: Amount] = [:]
            let h = try db.statement("SELECT payer, amount FROM approvals WHERE status = 'pending'")
            while try h.step() { pendingByPayer[h.text(0) ?? "", default: .zero] = pendingByPayer[h.text(0) ?? "", default: .zero].adding(amount(h, 1)) ?? .max }
            let hb = try db.statement("SELECT address, held FROM accounts WHERE held != ?")
            hb.bind(1, Amount.zero)
            var heldByAccount: [String: Amount] = [:]
            while try hb.step() { heldByAccount[hb.text(0) ?? ""] = amount(hb, 1) }
            if heldByAccount != pendingByPayer.filter({ $0.value != .zero }) {
                report.violations.append("held balances do not equal the pending holds")
            }
            // Each settled/approved payment has exactly one receipt.
            let r = try db.statement("SELECT COUNT(*) FROM payments p WHERE p.status IN ('settled','approved') AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.confirmation_id = p.confirmation_id)")
            if try r.step(), r.int(0) != 0 { report.violations.append("\(r.int(0)) posted payments have no receipt") }
            return report
        }
    }
}

/// A sum of 128-bit amounts that cannot overflow (a carry count above the low 128 bits), so the
/// invariant equations hold exactly even when counters are near 2^128.
struct WideSum: Equatable {
    var carries: UInt128 = 0
    var low: UInt128 = 0
    init(_ amounts: Amount...) { for a in amounts { add(a) } }
    mutating func add(_ a: Amount) {
        let (r, overflow) = low.addingReportingOverflow(a.value)
        low = r
        if overflow { carries += 1 }
    }
}
