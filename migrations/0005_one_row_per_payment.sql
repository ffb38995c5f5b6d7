-- CyberNanoPay ledger schema, version 5: one row per payment.
--
-- A settled payment was three rows: the payment (nonce state), a 'payment' transfer and a
-- receipt (JSON). They were one fact written three times. Now the payment row carries the
-- receipt's facts (remaining_balance, confirmed_at) and is itself the movement of money for
-- settled payments; transfers keep the other kinds (deposit, hold, post, void, expire,
-- withdrawal). The data step in Migrations.swift (version 5) moves every receipt's facts into
-- its payment row (re-creating rows that nonce pruning had deleted, not live), deletes the
-- 'payment' transfers the rows now stand for, and drops the receipts table.
--
-- Pruning no longer deletes a receipted payment: it takes it out of the nonce index (live = 0),
-- which is what bounded the index; the row stays, with its receipt. Rows of rejected and
-- expired holds, which have no receipt, are still deleted.
CREATE TABLE payments_v5 (
    seq               INTEGER PRIMARY KEY,
    payer             TEXT NOT NULL,
    nonce             BLOB NOT NULL,
    payee             TEXT NOT NULL,
    amount            BLOB NOT NULL,
    valid_before      INTEGER NOT NULL,         -- unix seconds, as signed
    auth_digest       BLOB NOT NULL,            -- SHA-256 of the signed message: "the same authorization"
    status            TEXT NOT NULL CHECK (status IN ('settled','held','approved','rejected','expired')),
    confirmation_id   TEXT,                     -- once posted
    approval_id       TEXT,                     -- approvals.id if it was held
    served            INTEGER NOT NULL DEFAULT 0, -- approved payments: has verify returned the receipt yet
    created_at        INTEGER NOT NULL,
    remaining_balance BLOB,                     -- once posted: the payer's available balance after, as receipted
    confirmed_at      INTEGER,                  -- once posted: unix seconds, as receipted
    live              INTEGER NOT NULL DEFAULT 1 -- 0 once pruned: kept for its receipt, out of the nonce index
);
INSERT INTO payments_v5 (seq, payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, served, created_at)
    SELECT seq, payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, served, created_at
    FROM payments ORDER BY seq;
DROP TABLE payments;
ALTER TABLE payments_v5 RENAME TO payments;
CREATE UNIQUE INDEX payments_nonce ON payments (payer, nonce) WHERE live = 1;
CREATE UNIQUE INDEX payments_confirmation ON payments (confirmation_id) WHERE confirmation_id IS NOT NULL;
CREATE INDEX payments_payer_time ON payments (payer, created_at);
CREATE INDEX payments_payee_time ON payments (payee, created_at);
CREATE INDEX payments_valid_before ON payments (valid_before);
-- A settled payment is a movement of money now, immutable like the transfers: its parties,
-- amount and authorization never change, and its row is never deleted.
CREATE TRIGGER payments_movement_immutable BEFORE UPDATE OF payer, nonce, payee, amount, auth_digest ON payments
    BEGIN SELECT RAISE(ABORT, 'a payment''s movement is immutable'); END;
CREATE TRIGGER payments_posted_kept BEFORE DELETE ON payments WHEN OLD.status IN ('settled', 'approved')
    BEGIN SELECT RAISE(ABORT, 'a posted payment is kept with its receipt'); END;
