import NanoPayCore

extension LedgerTransaction {
    /// The ticket terms an authorization was bought with, if it bought a ticket.
    func ticketTerms(payer: String, digest: [UInt8]) throws -> TicketTerms? {
        let s = try db.statement("SELECT audience, scope, lifetime_seconds, uses FROM ticket_terms WHERE payer = ? AND auth_digest = ?")
        s.bind(1, payer).bind(2, digest)
        guard try s.step() else { return nil }
        let audience = s.text(0) ?? "", scopeText = s.text(1) ?? "", lifetime = UInt64(clamping: s.int(2))
        let uses: UInt32? = s.isNull(3) ? nil : UInt32(clamping: s.int(3))
        s.reset()
        guard let scope = try? TicketScope(parsing: scopeText) else { throw NanoPayError(.internalError, "stored ticket scope does not parse") }
        return TicketTerms(audience: audience, scope: scope, lifetimeSeconds: lifetime, uses: uses)
    }

    /// Records the terms of a ticket purchase, in the payment's own transaction.
    func insertTicketTerms(_ terms: TicketTerms, payer: String, digest: [UInt8]) throws {
        try db.statement("INSERT INTO ticket_terms (payer, auth_digest, audience, scope, lifetime_seconds, uses, created_at) VALUES (?,?,?,?,?,?,?)")
            .bind(1, payer).bind(2, digest).bind(3, terms.audience).bind(4, terms.scope.description)
            .bind(5, Int64(clamping: terms.lifetimeSeconds)).bind(6, terms.uses.map { Int64($0) }).bind(7, now).run()
    }

    /// What an earlier use of this authorization allows now: a ticket purchase is answered only
    /// to the same purchase, and nothing else is answered to a purchase.
    func checkTicketUse(_ request: PaymentRequest, payer: String) throws {
        let stored = try ticketTerms(payer: payer, digest: request.digest)
        switch (request.ticketTerms, stored) {
        case (nil, nil): return
        case (let asked?, let bought?):
            guard asked == bought else {
                throw NanoPayError(.ticketTermsConflict, "this authorization already bought a ticket for other terms; a replay gets that ticket only")
            }
        case (nil, _?):
            throw NanoPayError(.authorizationInUse, "this authorization bought a ticket; present the ticket instead")
        case (_?, nil):
            throw NanoPayError(.authorizationInUse, "this authorization was spent on something other than a ticket")
        }
    }
}
