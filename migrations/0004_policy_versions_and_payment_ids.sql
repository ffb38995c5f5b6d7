-- CyberNanoPay ledger schema, version 4: policy versions and x402 payment identifiers.
--
-- policies.version counts the changes of one policy (0: never set). A payer-signed tightening
-- names the version it was signed against, so it applies once, to that policy, and a captured
-- request cannot be applied again later.
ALTER TABLE policies ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
UPDATE policies SET version = 1;

-- The x402 `payment-identifier` extension: an id the client chose for one settlement. It is
-- bound to one authorization (payer, nonce) in the transaction that records the payment, so a
-- repeat with the same id and payload gets the original answer and the same id on another
-- payload is refused. Pruned with the payment's nonce (valid_before, unix seconds).
CREATE TABLE payment_identifiers (
    id            TEXT PRIMARY KEY,
    payer         TEXT NOT NULL,
    nonce         BLOB NOT NULL,
    valid_before  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
