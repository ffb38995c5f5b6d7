import NanoPayCore

extension LedgerTransaction {
    /// Inserts the terms unless the payment already has some, then returns what is stored: the
    /// first issue's terms win, so one payment never buys tickets for two sets of terms.
    func bindTicketTerms(_ terms: TicketTerms, confirmationId: String) throws -> TicketTerms {
        guard try findSettledPayment(confirmationId) != nil else {
            throw NanoPayError(.receiptNotFound, "no settled payment has confirmation id \(confirmationId)")
        }
        try db.statement("INSERT INTO ticket_terms (confirmation_id, audience, scope, lifetime_seconds, uses, created_at) VALUES (?,?,?,?,?,?) ON CONFLICT(confirmation_id) DO NOTHING")
            .bind(1, confirmationId).bind(2, terms.audience).bind(3, terms.scope.description)
            .bind(4, Int64(clamping: terms.lifetimeSeconds)).bind(5, terms.uses.map { Int64($0) }).bind(6, now).run()
        let s = try db.statement("SELECT audience, scope, lifetime_seconds, uses FROM ticket_terms WHERE confirmation_id = ?")
        s.bind(1, confirmationId)
        guard try s.step() else { throw NanoPayError(.internalError, "ticket terms vanished") }
        let audience = s.text(0) ?? "", scopeText = s.text(1) ?? "", lifetime = UInt64(clamping: s.int(2))
        let uses: UInt32? = s.isNull(3) ? nil : UInt32(clamping: s.int(3))
        s.reset()
        guard let scope = try? TicketScope(parsing: scopeText) else { throw NanoPayError(.internalError, "stored ticket scope does not parse") }
        return TicketTerms(audience: audience, scope: scope, lifetimeSeconds: lifetime, uses: uses)
    }
}
