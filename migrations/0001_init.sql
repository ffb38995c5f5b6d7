-- CyberNanoPay ledger schema, version 1.
-- Amounts are 16-byte big-endian unsigned integers (BLOB): exact u128, never floats.
-- Times are unix milliseconds (INTEGER) unless the column name says seconds.

CREATE TABLE accounts (
    address          TEXT PRIMARY KEY,          -- canonical raw TON address "wc:hex"
    public_key       BLOB,                      -- registered Ed25519 key (payers), 32 bytes
    available        BLOB NOT NULL,
    held             BLOB NOT NULL,
    total_deposited  BLOB NOT NULL,
    total_spent      BLOB NOT NULL,
    total_received   BLOB NOT NULL,
    total_withdrawn  BLOB NOT NULL,
    created_at       INTEGER NOT NULL
) WITHOUT ROWID;

-- Every movement of money, immutable. Balances are a cache of this table.
CREATE TABLE transfers (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('deposit','payment','hold','post','void','expire','withdrawal')),
    debit_account   TEXT,                       -- NULL for deposits (money enters)
    credit_account  TEXT,                       -- NULL for withdrawals (money leaves)
    amount          BLOB NOT NULL,
    reference       TEXT,                       -- deposit/withdrawal reference, payment or approval id
    created_at      INTEGER NOT NULL
);
CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers BEGIN SELECT RAISE(ABORT, 'transfers are immutable'); END;
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers BEGIN SELECT RAISE(ABORT, 'transfers are immutable'); END;

CREATE TABLE deposits (
    reference    TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    amount       BLOB NOT NULL,
    transfer_id  INTEGER NOT NULL REFERENCES transfers(id),
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE withdrawals (
    reference    TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    amount       BLOB NOT NULL,
    transfer_id  INTEGER NOT NULL REFERENCES transfers(id),
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per (payer, nonce): the nonce state and the payment's outcome.
CREATE TABLE payments (
    payer             TEXT NOT NULL,
    nonce             BLOB NOT NULL,
    payee             TEXT NOT NULL,
    amount            BLOB NOT NULL,
    valid_before      INTEGER NOT NULL,         -- unix seconds, as signed
    auth_digest       BLOB NOT NULL,            -- SHA-256 of the signed message: "the same authorization"
    status            TEXT NOT NULL CHECK (status IN ('settled','held','approved','rejected','expired')),
    confirmation_id   TEXT UNIQUE,
    approval_id       TEXT UNIQUE,
    served            INTEGER NOT NULL DEFAULT 0, -- approved payments: has verify returned the receipt yet
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (payer, nonce)
) WITHOUT ROWID;
CREATE INDEX payments_payer_time ON payments (payer, created_at);
CREATE INDEX payments_payee_time ON payments (payee, created_at);
CREATE INDEX payments_valid_before ON payments (valid_before);

CREATE TABLE receipts (
    confirmation_id  TEXT PRIMARY KEY,
    payer            TEXT NOT NULL,
    body             TEXT NOT NULL,             -- receipt JSON; the signature covers canonical bytes
    created_at       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE policies (
    address      TEXT PRIMARY KEY,
    max_amount   BLOB,                          -- above it: held for approval
    rate_limit   INTEGER,                       -- payments per minute (GCRA)
    rate_burst   INTEGER,                       -- burst; NULL means rate_limit
    daily_cap    BLOB,                          -- rolling 24 h sum; above it: held for approval
    updated_at   INTEGER NOT NULL,
    updated_by   TEXT NOT NULL
) WITHOUT ROWID;

-- GCRA theoretical arrival time per address and direction ('out' = paying, 'in' = being paid).
CREATE TABLE rate_state (
    address    TEXT NOT NULL,
    direction  TEXT NOT NULL CHECK (direction IN ('out','in')),
    tat        INTEGER NOT NULL,
    PRIMARY KEY (address, direction)
) WITHOUT ROWID;

-- HITL approvals: each is a pending hold (two-phase transfer) that resolves exactly once.
CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    payer            TEXT NOT NULL,
    nonce            BLOB NOT NULL,
    payee            TEXT NOT NULL,
    amount           BLOB NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending','approved','rejected','expired')),
    reason           TEXT NOT NULL,             -- why it was held
    requested_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    decided_by       TEXT,
    decided_at       INTEGER,
    decision_reason  TEXT,
    confirmation_id  TEXT
) WITHOUT ROWID;
CREATE INDEX approvals_status_expiry ON approvals (status, expires_at);

-- Running totals for /stats, updated in the same transaction as the movements they count.
CREATE TABLE totals (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) WITHOUT ROWID;
