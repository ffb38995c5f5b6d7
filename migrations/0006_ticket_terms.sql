-- CyberNanoPay ledger schema, version 6: the terms a ticket was bought for.
--
-- A ticket (a JWT signed by the enclave's ticket key) is bought with one authorization. The
-- buyer names the terms (audience, scope, lifetime, uses) from the seller's offer; they are
-- written in the same transaction as the payment, keyed by the authorization, so:
--   * a replay of the same authorization with the same terms gets the same ticket;
--   * the same authorization with other terms is refused (ticket_terms_conflict);
--   * an authorization spent on anything else can never become a ticket afterwards, and one
--     that bought a ticket is not accepted as a plain payment (authorization_in_use).
CREATE TABLE ticket_terms (
    payer            TEXT NOT NULL,
    auth_digest      BLOB NOT NULL,      -- SHA-256 of the signed authorization message
    audience         TEXT NOT NULL,
    scope            TEXT NOT NULL,      -- canonical: space-separated METHOD:path entries
    lifetime_seconds INTEGER NOT NULL CHECK (lifetime_seconds BETWEEN 1 AND 3600),
    uses             INTEGER CHECK (uses IS NULL OR uses >= 1),
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (payer, auth_digest)
) WITHOUT ROWID;
CREATE TRIGGER ticket_terms_immutable BEFORE UPDATE ON ticket_terms
    BEGIN SELECT RAISE(ABORT, 'ticket terms are immutable'); END;
