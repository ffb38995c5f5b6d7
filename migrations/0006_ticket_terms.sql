-- CyberNanoPay ledger schema, version 6: the terms a ticket was bought for.
--
-- A ticket (a JWT signed by the enclave's ticket key) is issued for a settled payment. The buyer
-- names the terms (audience, scope, lifetime, uses) from the seller's offer; the first issue
-- binds them to the payment here, so a replay of the same authorization gets the same ticket and
-- can never buy a second ticket for other terms. One row per payment that bought a ticket.
CREATE TABLE ticket_terms (
    confirmation_id  TEXT PRIMARY KEY,   -- payments.confirmation_id of the settled payment
    audience         TEXT NOT NULL,
    scope            TEXT NOT NULL,      -- canonical: space-separated METHOD:path entries
    lifetime_seconds INTEGER NOT NULL CHECK (lifetime_seconds BETWEEN 1 AND 3600),
    uses             INTEGER CHECK (uses IS NULL OR uses >= 1),
    created_at       INTEGER NOT NULL
);
CREATE TRIGGER ticket_terms_immutable BEFORE UPDATE ON ticket_terms
    BEGIN SELECT RAISE(ABORT, 'ticket terms are immutable'); END;
