import NanoPayCore

extension Ledger {
    /// Rebuilds every balance from the immutable transfers and compares with the stored
    /// balances, then checks the global equations: money in = money held + available + out,
    /// Σ spent = Σ received, held = Σ pending holds, no counter below zero (u128 by construction).
    public func checkInvariants() throws(NanoPayError) -> InvariantReport {
        try readBlocking { db in
            var report = InvariantReport()
            // What the movements say each account received and gave, in sums that cannot
            // overflow. Movements are transfers (deposits, withdrawals, holds and their
            // resolution) and settled payment rows (one row each, since schema 5).
            struct Flows {
                var deposited = WideSum(), withdrawn = WideSum(), paid = WideSum(), posted = WideSum(), received = WideSum()
                var heldIn = WideSum(), heldOut = WideSum(), released = WideSum()
            }
            var flows: [String: Flows] = [:]
            let t = try db.statement("SELECT id, kind, debit_account, credit_account, amount FROM transfers ORDER BY id")
            while try t.step() {
                report.transfers += 1
                let id = t.int(0), kind = t.text(1) ?? "", debit = t.text(2) ?? "", credit = t.text(3) ?? "", a = amount(t, 4)
                switch kind {
                case "deposit": flows[credit, default: Flows()].deposited.add(a)
                case "withdrawal": flows[debit, default: Flows()].withdrawn.add(a)
                case "payment": flows[debit, default: Flows()].paid.add(a); flows[credit, default: Flows()].received.add(a)
                case "hold": flows[debit, default: Flows()].heldIn.add(a)
                case "post":
                    flows[debit, default: Flows()].heldOut.add(a); flows[debit, default: Flows()].posted.add(a)
                    flows[credit, default: Flows()].received.add(a)
                case "void", "expire": flows[debit, default: Flows()].heldOut.add(a); flows[debit, default: Flows()].released.add(a)
                default: report.violations.append("transfer \(id) has unknown kind \(kind)")
                }
            }
            let p = try db.statement("SELECT payer, payee, amount FROM payments WHERE status = 'settled'")
            while try p.step() {
                report.transfers += 1
                let a = amount(p, 2)
                flows[p.text(0) ?? "", default: Flows()].paid.add(a)
                flows[p.text(1) ?? "", default: Flows()].received.add(a)
            }

            var sumSpent = WideSum(), sumReceived = WideSum()
            let s = try db.statement("SELECT address, available, held, total_deposited, total_spent, total_received, total_withdrawn FROM accounts")
            while try s.step() {
                report.accounts += 1
                let addr = s.text(0) ?? ""
                guard let address = try? TONAddress(parsing: addr), address.raw == addr else {
                    report.violations.append("account \(addr): not a canonical address")
                    continue
                }
                let stored = AccountBalance(address: address, available: amount(s, 1), held: amount(s, 2), totalDeposited: amount(s, 3),
                                            totalSpent: amount(s, 4), totalReceived: amount(s, 5), totalWithdrawn: amount(s, 6))
                let f = flows.removeValue(forKey: addr) ?? Flows()
                let matches = WideSum(stored.totalDeposited) == f.deposited && WideSum(stored.totalWithdrawn) == f.withdrawn
                    && WideSum(stored.totalSpent) == f.paid + f.posted && WideSum(stored.totalReceived) == f.received
                    && WideSum(stored.held) + f.heldOut == f.heldIn
                    && WideSum(stored.available) + f.paid + f.withdrawn + f.heldIn == f.deposited + f.received + f.released
                if !matches { report.violations.append("account \(addr): stored \(stored) does not follow from its movements") }
                // available + held + spent + withdrawn = deposited + received, in 256-bit arithmetic:
                // each counter fits in 128 bits but their sums need not.
                let outSide = WideSum(stored.available, stored.held, stored.totalSpent, stored.totalWithdrawn)
                let inSide = WideSum(stored.totalDeposited, stored.totalReceived)
                if outSide != inSide { report.violations.append("account \(addr): available + held != deposited + received - spent - withdrawn") }
                sumSpent.add(stored.totalSpent)
                sumReceived.add(stored.totalReceived)
            }
            for (addr, f) in flows where f.deposited != WideSum() || f.received != WideSum() || f.paid != WideSum() || f.heldIn != WideSum() {
                report.violations.append("movements touch \(addr), which has no account row")
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
            // Each settled/approved payment carries its receipt's facts.
            let r = try db.statement("SELECT COUNT(*) FROM payments WHERE status IN ('settled','approved') AND (confirmation_id IS NULL OR remaining_balance IS NULL OR confirmed_at IS NULL)")
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

    static func + (x: WideSum, y: WideSum) -> WideSum {
        var sum = x
        let (r, overflow) = sum.low.addingReportingOverflow(y.low)
        sum.low = r
        sum.carries = sum.carries &+ y.carries &+ (overflow ? 1 : 0)
        return sum
    }
}
