-- CyberNanoPay ledger schema, version 2: the payments table without UNIQUE on confirmation_id
-- and approval_id.
--
-- Why: nothing looks a payment up by either id. Receipts and approvals are found through their
-- own primary keys, which already keep the ids unique. Each UNIQUE constraint still kept an index
-- whose key starts with a random hash (or NULL followed by the random nonce), so every payment
-- dirtied two more random B-tree pages, and every dirty page is a 4 KiB WAL frame to write,
-- checksum and checkpoint. Measured with `nanopay-bench --ledger-only-phase`: see BENCHMARKS.md.
CREATE TABLE payments_v2 (
    payer             TEXT NOT NULL,
    nonce             BLOB NOT NULL,
    payee             TEXT NOT NULL,
    amount            BLOB NOT NULL,
    valid_before      INTEGER NOT NULL,         -- unix seconds, as signed
    auth_digest       BLOB NOT NULL,            -- SHA-256 of the signed message: "the same authorization"
    status            TEXT NOT NULL CHECK (status IN ('settled','held','approved','rejected','expired')),
    confirmation_id   TEXT,                     -- receipts.confirmation_id once posted
    approval_id       TEXT,                     -- approvals.id if it was held
    served            INTEGER NOT NULL DEFAULT 0, -- approved payments: has verify returned the receipt yet
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (payer, nonce)
) WITHOUT ROWID;
INSERT INTO payments_v2 (payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, served, created_at)
    SELECT payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, served, created_at FROM payments;
DROP TABLE payments;
ALTER TABLE payments_v2 RENAME TO payments;
CREATE INDEX payments_payer_time ON payments (payer, created_at);
CREATE INDEX payments_payee_time ON payments (payee, created_at);
CREATE INDEX payments_valid_before ON payments (valid_before);
