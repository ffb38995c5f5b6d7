-- CyberNanoPay ledger schema, version 3: receipts and payments stored in insertion order.
--
-- Why: both tables were keyed by random values (a hash-derived confirmation id; a payer and a
-- random nonce), so every insert landed on a random leaf of a large B-tree, split pages often,
-- and each dirty page is a 4 KiB WAL frame written at commit and copied again at checkpoint.
-- With an integer row id the rows append to the last page, shared by the whole group commit;
-- only the small unique index on the random key takes a random page. The indexes of payments
-- also shrink: they end in an 8-byte row id instead of the 100-byte (payer, nonce).
-- Queries are unchanged. Measured with `nanopay-bench --ledger-only-phase`: see BENCHMARKS.md.
CREATE TABLE receipts_v3 (
    seq              INTEGER PRIMARY KEY,
    confirmation_id  TEXT NOT NULL UNIQUE,
    payer            TEXT NOT NULL,
    body             TEXT NOT NULL,             -- receipt JSON; the signature covers canonical bytes
    created_at       INTEGER NOT NULL
);
INSERT INTO receipts_v3 (confirmation_id, payer, body, created_at)
    SELECT confirmation_id, payer, body, created_at FROM receipts ORDER BY created_at, confirmation_id;
DROP TABLE receipts;
ALTER TABLE receipts_v3 RENAME TO receipts;

CREATE TABLE payments_v3 (
    seq               INTEGER PRIMARY KEY,
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
    UNIQUE (payer, nonce)
);
INSERT INTO payments_v3 (payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, served, created_at)
    SELECT payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, served, created_at
    FROM payments ORDER BY created_at, payer, nonce;
DROP TABLE payments;
ALTER TABLE payments_v3 RENAME TO payments;
CREATE INDEX payments_payer_time ON payments (payer, created_at);
CREATE INDEX payments_payee_time ON payments (payee, created_at);
CREATE INDEX payments_valid_before ON payments (valid_before);
