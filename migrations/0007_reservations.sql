-- CyberNanoPay ledger schema, version 7: reservations (two-phase payments for the gateway).
--
-- A reservation is a hold on the payer's funds that the caller who made it captures (posts) or
-- voids, like TigerBeetle's pending transfers; if nobody does, it expires and the funds return.
-- It lives in `approvals` beside the holds that wait for a human, so the existing machinery
-- (hold, post, void, expire transfers; the held-balance invariant; the expiry sweep) applies
-- unchanged. `kind` tells the two apart: the operators' queue shows approvals only, and only
-- the holder of the capture token may resolve a reservation. The token itself is never stored:
-- its SHA-256 is.
ALTER TABLE approvals ADD COLUMN kind TEXT NOT NULL DEFAULT 'approval' CHECK (kind IN ('approval', 'reservation'));
ALTER TABLE approvals ADD COLUMN capture_token_hash BLOB;
