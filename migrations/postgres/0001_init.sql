-- CyberNanoPay ledger on PostgreSQL (the replicated engine; SQLite's schema is in migrations/).
-- Several nanopayd replicas share these tables. Money is numeric(39,0) within 0 ... 2^128-1
-- (the `amount` domain), never a float. Times are Unix milliseconds unless named otherwise.
-- The state machine of a payment runs inside the database (np_record, np_resolve_hold below),
-- so a group commit of many payments is one statement and one round trip; see
-- docs/ARCHITECTURE.md, "PostgreSQL", for the locking scheme.

CREATE DOMAIN amount AS numeric(39, 0)
    CHECK (VALUE >= 0 AND VALUE <= 340282366920938463463374607431768211455);

CREATE TABLE accounts (
    address          text PRIMARY KEY,          -- canonical raw TON address "wc:hex"
    public_key       bytea,                     -- registered Ed25519 key (payers), 32 bytes
    available        amount NOT NULL,
    held             amount NOT NULL,
    total_deposited  amount NOT NULL,
    total_spent      amount NOT NULL,
    total_received   amount NOT NULL,
    total_withdrawn  amount NOT NULL,
    created_at       bigint NOT NULL
);

CREATE TABLE transfers (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('deposit','hold','post','void','expire','withdrawal')),
    debit_account   text,
    credit_account  text,
    amount          amount NOT NULL,
    reference       text,
    created_at      bigint NOT NULL
);

CREATE TABLE deposits (
    reference    text PRIMARY KEY,
    address      text NOT NULL,
    amount       amount NOT NULL,
    transfer_id  bigint NOT NULL REFERENCES transfers(id),
    created_at   bigint NOT NULL
);

CREATE TABLE withdrawals (
    reference    text PRIMARY KEY,
    address      text NOT NULL,
    amount       amount NOT NULL,
    transfer_id  bigint NOT NULL REFERENCES transfers(id),
    created_at   bigint NOT NULL
);

-- One row per payment: the nonce's state, the movement of money and the receipt's facts.
CREATE TABLE payments (
    seq               bigserial PRIMARY KEY,
    payer             text NOT NULL,
    nonce             bytea NOT NULL,
    payee             text NOT NULL,
    amount            amount NOT NULL,
    valid_before      bigint NOT NULL,          -- unix seconds, as signed (clamped to bigint)
    auth_digest       bytea NOT NULL,
    status            text NOT NULL CHECK (status IN ('settled','held','approved','rejected','expired')),
    confirmation_id   text,
    approval_id       text,
    served            boolean NOT NULL DEFAULT false,
    created_at        bigint NOT NULL,
    remaining_balance amount,
    confirmed_at      bigint,                   -- unix seconds, as receipted
    live              boolean NOT NULL DEFAULT true
);
CREATE UNIQUE INDEX payments_nonce ON payments (payer, nonce) WHERE live;
CREATE UNIQUE INDEX payments_confirmation ON payments (confirmation_id) WHERE confirmation_id IS NOT NULL;
CREATE INDEX payments_payer_time ON payments (payer, created_at);
CREATE INDEX payments_payee_time ON payments (payee, created_at);
CREATE INDEX payments_valid_before ON payments (valid_before);

CREATE TABLE policies (
    address      text PRIMARY KEY,
    max_amount   amount,
    rate_limit   bigint,
    rate_burst   bigint,
    daily_cap    amount,
    updated_at   bigint NOT NULL,
    updated_by   text NOT NULL,
    version      bigint NOT NULL
);

CREATE TABLE rate_state (
    address    text NOT NULL,
    direction  text NOT NULL CHECK (direction IN ('out','in')),
    tat        bigint NOT NULL,                 -- microseconds
    PRIMARY KEY (address, direction)
);

-- Holds: approvals (policy held a payment for a human) and reservations (two-phase payments).
CREATE TABLE approvals (
    id                  text PRIMARY KEY,
    payer               text NOT NULL,
    nonce               bytea NOT NULL,
    payee               text NOT NULL,
    amount              amount NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending','approved','rejected','expired')),
    reason              text NOT NULL,
    requested_at        bigint NOT NULL,
    expires_at          bigint NOT NULL,
    decided_by          text,
    decided_at          bigint,
    decision_reason     text,
    confirmation_id     text,
    kind                text NOT NULL CHECK (kind IN ('approval','reservation')),
    capture_token_hash  bytea
);
CREATE INDEX approvals_pending_expiry ON approvals (expires_at) WHERE status = 'pending';
CREATE INDEX approvals_kind_status ON approvals (kind, status, requested_at);

CREATE TABLE payment_identifiers (
    id            text PRIMARY KEY,
    payer         text NOT NULL,
    nonce         bytea NOT NULL,
    valid_before  bigint NOT NULL,
    created_at    bigint NOT NULL
);

CREATE TABLE ticket_terms (
    payer            text NOT NULL,
    auth_digest      bytea NOT NULL,
    audience         text NOT NULL,
    scope            text NOT NULL,
    lifetime_seconds bigint NOT NULL CHECK (lifetime_seconds BETWEEN 1 AND 3600),
    uses             bigint CHECK (uses IS NULL OR uses >= 1),
    created_at       bigint NOT NULL,
    PRIMARY KEY (payer, auth_digest)
);

-- Counters for /stats, one row per writer (a nanopayd process) so that replicas never contend
-- on one row; the totals are the sums. Counts are signed: a hold made on one replica and
-- resolved on another counts +1 on the first and -1 on the second.
CREATE TABLE totals (
    writer             text PRIMARY KEY,
    accounts           bigint NOT NULL DEFAULT 0,
    payments_settled   bigint NOT NULL DEFAULT 0,
    payments_held      bigint NOT NULL DEFAULT 0,
    payments_approved  bigint NOT NULL DEFAULT 0,
    payments_rejected  bigint NOT NULL DEFAULT 0,
    payments_expired   bigint NOT NULL DEFAULT 0,
    volume             numeric NOT NULL DEFAULT 0,
    deposited          numeric NOT NULL DEFAULT 0,
    withdrawn          numeric NOT NULL DEFAULT 0
);

-- The cluster's enclave identity, sealed under the platform secret (opaque to the database).
-- The first replica stores it; every later one unseals the same bytes.
CREATE TABLE cluster_identity (
    id          integer PRIMARY KEY CHECK (id = 1),
    sealed      bytea NOT NULL,
    created_at  bigint NOT NULL
);

CREATE FUNCTION np_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'transfers are immutable'; END $$;
CREATE TRIGGER transfers_immutable BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION np_transfers_immutable();

CREATE FUNCTION np_payments_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status IN ('settled','approved') THEN RAISE EXCEPTION 'a posted payment is kept with its receipt'; END IF;
        RETURN OLD;
    END IF;
    IF NEW.payer <> OLD.payer OR NEW.nonce <> OLD.nonce OR NEW.payee <> OLD.payee OR NEW.amount <> OLD.amount
       OR NEW.auth_digest <> OLD.auth_digest THEN
        RAISE EXCEPTION 'a payment''s movement is immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER payments_guard BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION np_payments_guard();

CREATE FUNCTION np_ticket_terms_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ticket terms are immutable'; END $$;
CREATE TRIGGER ticket_terms_immutable BEFORE UPDATE ON ticket_terms
    FOR EACH ROW EXECUTE FUNCTION np_ticket_terms_immutable();

-- A domain refusal: SQLSTATE NP001, the stable error code in DETAIL, prose in MESSAGE.
CREATE FUNCTION np_refuse(p_code text, p_message text, p_retry_after bigint DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'NP001', MESSAGE = p_message, DETAIL = p_code, HINT = coalesce(p_retry_after::text, '');
END $$;

-- Ids, as the SQLite engine makes them (LedgerTransaction+Payments.swift).
CREATE FUNCTION np_confirmation_id(p_payer text, p_digest bytea, p_now bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(substring(int8send(p_now) FROM 3 FOR 6)
                  || substring(sha256(convert_to('CyberNanoPay:confirmation:v3:' || p_payer || ':', 'UTF8') || p_digest) FOR 10), 'hex')
$$;
CREATE FUNCTION np_approval_id(p_payer text, p_digest bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'apr_' || encode(substring(sha256(convert_to('CyberNanoPay:approval:v2:' || p_payer || ':', 'UTF8') || p_digest) FOR 12), 'hex')
$$;
CREATE FUNCTION np_reservation_id(p_payer text, p_digest bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'res_' || encode(substring(sha256(convert_to('CyberNanoPay:reservation:v1:' || p_payer || ':', 'UTF8') || p_digest) FOR 12), 'hex')
$$;
