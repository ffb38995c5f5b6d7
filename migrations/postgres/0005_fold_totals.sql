-- `totals` keeps one counter row per writer, and every nanopayd start is a new writer (a random
-- id), so the table grew by a row per process start, for ever, and every group commit sums it
-- (np_record's first statements). np_fold_totals, run by each replica as it starts, moves every
-- other writer's counts into the starting one's row and deletes those rows: the sums stay the
-- same, and the table holds about one row per replica that has written since the last start.
--
-- A live replica's row may be folded while it runs; its next write inserts the row afresh. That
-- is only safe if every write to `totals` is one statement (INSERT ... ON CONFLICT DO UPDATE),
-- which waits for the fold's delete and then inserts. np_resolve_hold wrote its row in two
-- statements (insert if missing, then update): a fold committed between them would have made
-- the update find no row and lose the hold's counts. It is redefined here as one upsert; the
-- other writers (np_record, deposits and withdrawals) were upserts already. A fold never waits:
-- it takes the rows no transaction holds (SKIP LOCKED) and leaves a row being written to a later
-- start. Waiting would make a cycle possible, since a batch may lock accounts after writing its
-- own row (a hold it expires, then its payees): fold waits for batch B's row, B for a seller's
-- account held by C, C for its own row, already taken by the fold. A writer that wants a row
-- the fold took waits for the fold's commit, and the fold holds nothing else.

-- Moves a pending hold (approval or reservation) to its final state with the matching transfer.
-- The caller holds the hold's row lock and has checked it is pending. Returns the confirmation
-- id when posted.
CREATE OR REPLACE FUNCTION np_resolve_hold(p_id text, p_status text, p_by text, p_reason text, p_now bigint, p_writer text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v approvals%ROWTYPE;
    v_is_reservation boolean;
    v_digest bytea;
    v_cid text;
    v_remaining numeric;
    v_new_payee boolean := false;
BEGIN
    SELECT * INTO v FROM approvals WHERE id = p_id AND status = 'pending';
    IF NOT FOUND THEN RAISE EXCEPTION 'hold % is not pending', p_id; END IF;
    v_is_reservation := v.kind = 'reservation';
    -- In 0003's order (accounts with a key by address, then those without): an approval posts
    -- to the payee; a rejection or an expiry touches the payer alone.
    PERFORM 1 FROM accounts WHERE address IN (v.payer, CASE WHEN p_status = 'approved' THEN v.payee END)
     ORDER BY public_key IS NULL, address FOR UPDATE;
    IF p_status = 'approved' THEN
        IF (SELECT coalesce(sum(volume), 0) FROM totals) + v.amount > 340282366920938463463374607431768211455 THEN
            PERFORM np_refuse('amount_overflow', 'posting would overflow a 128-bit balance');
        END IF;
        SELECT auth_digest INTO v_digest FROM payments WHERE payer = v.payer AND nonce = v.nonce AND live;
        v_cid := np_confirmation_id(v.payer, v_digest, p_now);
        UPDATE accounts SET held = held - v.amount, total_spent = total_spent + v.amount WHERE address = v.payer
            RETURNING available INTO v_remaining;
        INSERT INTO accounts AS a (address, available, held, total_deposited, total_spent, total_received, total_withdrawn, created_at)
            VALUES (v.payee, v.amount, 0, 0, 0, v.amount, 0, p_now)
            ON CONFLICT (address) DO UPDATE SET available = a.available + v.amount, total_received = a.total_received + v.amount
            RETURNING (xmax = 0) INTO v_new_payee;
        INSERT INTO transfers (kind, debit_account, credit_account, amount, reference, created_at)
            VALUES ('post', v.payer, v.payee, v.amount, p_id, p_now);
    ELSE
        UPDATE accounts SET held = held - v.amount, available = available + v.amount WHERE address = v.payer;
        INSERT INTO transfers (kind, debit_account, credit_account, amount, reference, created_at)
            VALUES (CASE WHEN p_status = 'rejected' THEN 'void' ELSE 'expire' END, v.payer, v.payee, v.amount, p_id, p_now);
    END IF;
    UPDATE approvals SET status = p_status, decided_by = p_by, decided_at = p_now, decision_reason = p_reason, confirmation_id = v_cid
        WHERE id = p_id;
    -- A captured reservation was served by its capture; an approved hold by the buyer's next verify.
    UPDATE payments SET status = p_status, confirmation_id = v_cid, remaining_balance = v_remaining,
                        confirmed_at = CASE WHEN v_cid IS NOT NULL THEN p_now / 1000 END, served = v_is_reservation
        WHERE payer = v.payer AND nonce = v.nonce AND live;
    -- One statement (0005): a fold between an insert and an update would lose the update.
    INSERT INTO totals AS t (writer, accounts, payments_settled, payments_approved, payments_rejected, payments_expired, payments_held, volume)
        VALUES (p_writer,
                CASE WHEN v_new_payee THEN 1 ELSE 0 END,
                CASE WHEN p_status = 'approved' AND v_is_reservation THEN 1 ELSE 0 END,
                CASE WHEN p_status = 'approved' AND NOT v_is_reservation THEN 1 ELSE 0 END,
                CASE WHEN p_status = 'rejected' AND NOT v_is_reservation THEN 1 ELSE 0 END,
                CASE WHEN p_status = 'expired' AND NOT v_is_reservation THEN 1 ELSE 0 END,
                CASE WHEN v_is_reservation THEN 0 ELSE -1 END,
                CASE WHEN p_status = 'approved' THEN v.amount ELSE 0 END)
        ON CONFLICT (writer) DO UPDATE SET
            accounts = t.accounts + EXCLUDED.accounts, payments_settled = t.payments_settled + EXCLUDED.payments_settled,
            payments_approved = t.payments_approved + EXCLUDED.payments_approved,
            payments_rejected = t.payments_rejected + EXCLUDED.payments_rejected,
            payments_expired = t.payments_expired + EXCLUDED.payments_expired,
            payments_held = t.payments_held + EXCLUDED.payments_held, volume = t.volume + EXCLUDED.volume;
    RETURN v_cid;
END $$;

-- Folds the other writers' counters (those no transaction holds) into p_writer's row; returns
-- how many rows it folded.
CREATE FUNCTION np_fold_totals(p_writer text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    WITH gone AS (
        DELETE FROM totals
         WHERE writer IN (SELECT writer FROM totals WHERE writer <> p_writer FOR UPDATE SKIP LOCKED)
        RETURNING *
    ), folded AS (
        INSERT INTO totals AS t (writer, accounts, payments_settled, payments_held, payments_approved, payments_rejected,
                                 payments_expired, volume, deposited, withdrawn)
            SELECT p_writer, sum(accounts), sum(payments_settled), sum(payments_held), sum(payments_approved), sum(payments_rejected),
                   sum(payments_expired), sum(volume), sum(deposited), sum(withdrawn)
              FROM gone HAVING count(*) > 0
            ON CONFLICT (writer) DO UPDATE SET
                accounts = t.accounts + EXCLUDED.accounts, payments_settled = t.payments_settled + EXCLUDED.payments_settled,
                payments_held = t.payments_held + EXCLUDED.payments_held, payments_approved = t.payments_approved + EXCLUDED.payments_approved,
                payments_rejected = t.payments_rejected + EXCLUDED.payments_rejected,
                payments_expired = t.payments_expired + EXCLUDED.payments_expired, volume = t.volume + EXCLUDED.volume,
                deposited = t.deposited + EXCLUDED.deposited, withdrawn = t.withdrawn + EXCLUDED.withdrawn
    )
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END $$;
