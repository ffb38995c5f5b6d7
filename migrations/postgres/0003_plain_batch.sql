-- A set-based path for the common group commit. A batch of plain payments (no policy on either
-- side, no payment identifier, no ticket, no reservation or dry run), whose payers are not also
-- payees of the batch, is written by one statement instead of np_record_one's fifteen or so per
-- payment (BENCHMARKS.md, "Replicas on PostgreSQL").
--
-- Its outcome must be the one the per-payment loop would reach, and it is whenever every payment
-- of the batch settles: balances only fall for the batch's payers and only rise for its payees,
-- so the order of its payments changes nothing but each receipt's remaining balance, which is
-- the running sum in batch order. The write is attempted, and whatever would make a payment not
-- settle makes the attempt fail and roll back (one subtransaction per batch) before the loop of
-- migration 0002 runs unchanged: a replay or a nonce twice meets the unique index on live
-- nonces; an overdraft or an overflow meets the `amount` domain (0 ... 2^128-1) of a balance or
-- of a receipt's remaining balance; a key that is not the registered one, a hold due or a payer
-- not locked are checked before. Every refusal is thus still decided by np_record_one alone.
-- LedgerStoreContractTests.aGroupCommitAnswersAsPaymentsOneAtATime, the ledger suites run on
-- both engines and the seeded simulation over two replicas hold both paths to the embedded
-- engine's behaviour.
--
-- Lock order, from this migration on: accounts with a registered key (every account that can
-- pay) in address order, then accounts without one (payees that never paid: they are only ever
-- credited) in address order. Deadlock-free as 0002's plain address order was, since only an
-- account with a key is ever debited. A batch of plain payments credits its keyless payees in
-- its last statement, so a popular seller's row is locked from there to the commit only, and the
-- replicas' batches overlap everywhere else (before, every batch locked the seller first and held
-- it for the whole batch). A seller that also pays has a key and is locked with the payers, as
-- before. An account that gains its key while a batch is deciding its order can meet a deadlock
-- once; PostgreSQL detects it (deadlock_timeout) and the batch is retried whole.
CREATE OR REPLACE FUNCTION np_record(
    p_now bigint, p_writer text, p_hold_timeout_s bigint[], p_mode text[],
    p_payer text[], p_nonce bytea[], p_payee text[], p_amount numeric[], p_valid_before bigint[],
    p_digest bytea[], p_key bytea[], p_pid text[],
    p_t_audience text[], p_t_scope text[], p_t_lifetime bigint[], p_t_uses bigint[],
    p_reserve_timeout_s bigint[], p_token_hash bytea[])
RETURNS TABLE (o_code text, o_message text, o_outcome text, o_replayed boolean, o_ref text,
               o_expires_at bigint, o_remaining numeric, o_confirmed_at bigint, o_retry_after bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c_max CONSTANT numeric := 340282366920938463463374607431768211455;
    r record;
    n integer := coalesce(array_length(p_payer, 1), 0);
    t_settled bigint := 0; t_held bigint := 0; t_volume numeric := 0; t_accounts bigint := 0;
    v_due text[];
    v_due_payers text[];
    v_locked text[];
    v_keys bytea[];
    v_available numeric[];
    v_id text;
    v_volume numeric;
    s_accounts bigint; s_settled bigint; s_held bigint; s_approved bigint; s_rejected bigint; s_expired bigint;
    s_deposited numeric; s_withdrawn numeric;
    v_plain boolean;
    v_refs text[];
    v_remaining numeric[];
BEGIN
    -- Holds that are due expire first, as every batch of the embedded engine does (their funds
    -- are available to this batch); at most 64 here, the service's periodic sweep takes the rest.
    -- Locks: due holds (never waiting), then, in the order of this migration's header, every
    -- payer, the due holds' payers (an expiry touches its payer only) and every payee with a key.
    -- Payees without a key come last.
    SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(payer), '{}') INTO v_due, v_due_payers FROM (
        SELECT id, payer FROM approvals WHERE status = 'pending' AND expires_at <= p_now
         ORDER BY expires_at LIMIT 64 FOR UPDATE SKIP LOCKED) due;
    SELECT coalesce(array_agg(address), '{}'), array_agg(public_key), array_agg(available)
      INTO v_locked, v_keys, v_available FROM (
        SELECT address, public_key, available FROM accounts
         WHERE address = ANY (p_payer || p_payee || v_due_payers)
           AND (public_key IS NOT NULL OR address = ANY (p_payer || v_due_payers))
         ORDER BY public_key IS NULL, address FOR UPDATE) locked;
    FOREACH v_id IN ARRAY v_due LOOP
        PERFORM np_resolve_hold(v_id, 'expired', 'system:expiry', 'approval window ended', p_now, p_writer);
    END LOOP;
    -- The cluster's counters as this batch finds them; the batch's own deltas are added to
    -- them for the last row.
    SELECT coalesce(sum(accounts), 0), coalesce(sum(payments_settled), 0), coalesce(sum(payments_held), 0),
           coalesce(sum(payments_approved), 0), coalesce(sum(payments_rejected), 0), coalesce(sum(payments_expired), 0),
           coalesce(sum(volume), 0), coalesce(sum(deposited), 0), coalesce(sum(withdrawn), 0)
      INTO s_accounts, s_settled, s_held, s_approved, s_rejected, s_expired, v_volume, s_deposited, s_withdrawn FROM totals;

    -- Is the batch plain? The accounts as locked above are current: no hold expired in this
    -- batch, and every payer is among them (a payer whose first deposit committed since takes
    -- the loop, which locks it). Each payment's key is its payer's registered one.
    SELECT n > 0 AND cardinality(v_due) = 0 AND NOT (p_payer && p_payee)
       AND NOT EXISTS (SELECT 1 FROM unnest(p_mode, p_pid, p_t_lifetime, p_valid_before, p_payer, p_key)
                           AS b(mode, pid, lifetime, valid_before, payer, key)
                         LEFT JOIN unnest(v_locked, v_keys) AS k(address, public_key) ON k.address = b.payer
                        WHERE b.mode <> 'pay' OR b.pid <> '' OR b.lifetime <> 0 OR b.valid_before <= p_now / 1000
                           OR k.public_key IS NULL OR k.public_key <> b.key)
       AND NOT EXISTS (SELECT 1 FROM policies WHERE address = ANY (p_payer || p_payee))
      INTO v_plain;

    IF v_plain THEN
        -- One statement: the rows read before any of its writes (one snapshot), payers debited,
        -- payees credited once each (a hot seller's row is written once per batch), payments in
        -- batch order. Any payment that would not settle fails it as a whole (see above).
        BEGIN
            WITH b AS (
                SELECT b.i, b.payer, b.nonce, b.payee, b.amount, b.valid_before, b.digest, np_confirmation_id(b.payer, b.digest, p_now) AS cid,
                       a.available - sum(b.amount) OVER (PARTITION BY b.payer ORDER BY b.i) AS remaining
                  FROM unnest(p_payer, p_nonce, p_payee, p_amount, p_valid_before, p_digest) WITH ORDINALITY
                           AS b(payer, nonce, payee, amount, valid_before, digest, i)
                  JOIN unnest(v_locked, v_available) AS a(address, available) ON a.address = b.payer
            ), debited AS (
                UPDATE accounts a SET available = a.available - s.total, total_spent = a.total_spent + s.total
                  FROM (SELECT payer, sum(amount) AS total FROM b GROUP BY payer) s
                 WHERE a.address = s.payer AND a.address = ANY (p_payer)
            ), recorded AS (
                INSERT INTO payments (payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, created_at,
                                      remaining_balance, confirmed_at)
                    SELECT payer, nonce, payee, amount, valid_before, digest, 'settled', cid, p_now, remaining, p_now / 1000
                      FROM b ORDER BY i
            )
            SELECT array_agg(cid ORDER BY i), array_agg(remaining ORDER BY i), sum(amount)
              INTO v_refs, v_remaining, t_volume FROM b;
            IF v_volume + t_volume > c_max THEN
                RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = 'the volume counter would overflow';
            END IF;
            -- Payees last, each once, in address order: a popular seller (no key: it never pays)
            -- has its row locked from here to the commit only, so the replicas' batches
            -- overlap everywhere else.
            WITH credited AS (
                INSERT INTO accounts AS a (address, available, held, total_deposited, total_spent, total_received, total_withdrawn, created_at)
                    SELECT payee, sum(amount), 0, 0, 0, sum(amount), 0, p_now FROM unnest(p_payee, p_amount) AS c(payee, amount)
                     GROUP BY payee ORDER BY payee
                    ON CONFLICT (address) DO UPDATE SET available = a.available + EXCLUDED.available,
                                                        total_received = a.total_received + EXCLUDED.total_received
                    RETURNING (xmax = 0) AS created)
            SELECT count(*) FILTER (WHERE created) INTO t_accounts FROM credited;
        EXCEPTION WHEN unique_violation OR check_violation THEN
            v_plain := false; t_volume := 0; t_accounts := 0;
        END;
    END IF;
    IF v_plain THEN
        t_settled := n;
        o_code := NULL; o_message := NULL; o_outcome := 'settled'; o_replayed := false; o_expires_at := NULL;
        o_confirmed_at := p_now / 1000; o_retry_after := NULL;
        FOR i IN 1 .. n LOOP
            o_ref := v_refs[i]; o_remaining := v_remaining[i];
            RETURN NEXT;
        END LOOP;
    ELSE
        -- Payees without a key, last, in address order.
        PERFORM 1 FROM accounts WHERE address = ANY (p_payee) AND NOT address = ANY (v_locked) ORDER BY address FOR UPDATE;
        FOR i IN 1 .. n LOOP
            r := np_record_one(p_now, p_hold_timeout_s[i], p_mode[i], p_payer[i], p_nonce[i], p_payee[i], p_amount[i], p_valid_before[i],
                               p_digest[i], p_key[i], nullif(p_pid[i], ''),
                               CASE WHEN p_t_lifetime[i] > 0 THEN p_t_audience[i] END, CASE WHEN p_t_lifetime[i] > 0 THEN p_t_scope[i] END,
                               CASE WHEN p_t_lifetime[i] > 0 THEN p_t_lifetime[i] END, nullif(p_t_uses[i], 0),
                               p_reserve_timeout_s[i], nullif(p_token_hash[i], ''::bytea), v_volume + t_volume);
            o_code := r.o_code; o_message := r.o_message; o_outcome := r.o_outcome; o_replayed := r.o_replayed; o_ref := r.o_ref;
            o_expires_at := r.o_expires_at; o_remaining := r.o_remaining; o_confirmed_at := r.o_confirmed_at; o_retry_after := r.o_retry_after;
            t_settled := t_settled + r.d_settled; t_held := t_held + r.d_held; t_volume := t_volume + r.d_volume; t_accounts := t_accounts + r.d_accounts;
            RETURN NEXT;
        END LOOP;
    END IF;
    IF t_settled <> 0 OR t_held <> 0 OR t_accounts <> 0 THEN
        INSERT INTO totals AS t (writer, accounts, payments_settled, payments_held, volume)
            VALUES (p_writer, t_accounts, t_settled, t_held, t_volume)
            ON CONFLICT (writer) DO UPDATE SET accounts = t.accounts + t_accounts, payments_settled = t.payments_settled + t_settled,
                payments_held = t.payments_held + t_held, volume = t.volume + t_volume;
    END IF;
    -- One more row, outcome 'totals': the cluster's counters as this batch leaves them, so the
    -- replica's /stats is current when its callers are answered, at no extra round trip.
    o_code := NULL; o_message := NULL; o_outcome := 'totals'; o_replayed := false; o_ref := NULL; o_expires_at := NULL; o_remaining := NULL;
    o_confirmed_at := NULL; o_retry_after := NULL;
    o_message := concat_ws(',', s_accounts + t_accounts, s_settled + t_settled, s_held + t_held, s_approved, s_rejected, s_expired,
                           v_volume + t_volume, s_deposited, s_withdrawn);
    RETURN NEXT;
END $$;

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
    INSERT INTO totals AS t (writer) VALUES (p_writer) ON CONFLICT (writer) DO NOTHING;
    UPDATE totals SET
        accounts = accounts + CASE WHEN v_new_payee THEN 1 ELSE 0 END,
        payments_settled = payments_settled + CASE WHEN p_status = 'approved' AND v_is_reservation THEN 1 ELSE 0 END,
        payments_approved = payments_approved + CASE WHEN p_status = 'approved' AND NOT v_is_reservation THEN 1 ELSE 0 END,
        payments_rejected = payments_rejected + CASE WHEN p_status = 'rejected' AND NOT v_is_reservation THEN 1 ELSE 0 END,
        payments_expired = payments_expired + CASE WHEN p_status = 'expired' AND NOT v_is_reservation THEN 1 ELSE 0 END,
        payments_held = payments_held - CASE WHEN v_is_reservation THEN 0 ELSE 1 END,
        volume = volume + CASE WHEN p_status = 'approved' THEN v.amount ELSE 0 END
        WHERE writer = p_writer;
    RETURN v_cid;
END $$;

-- The expiry sweep, safe on every replica at once: each due hold is taken by one sweeper
-- (SKIP LOCKED) and resolved once. The holds' payers (an expiry touches nothing else) are locked
-- together in 0003's order, as a payment batch locks its payers. Returns how many it expired.
CREATE OR REPLACE FUNCTION np_expire_due(p_now bigint, p_writer text, p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_ids text[];
    v_id text;
BEGIN
    SELECT coalesce(array_agg(id), '{}') INTO v_ids FROM (
        SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= p_now
         ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED) due;
    PERFORM 1 FROM accounts WHERE address IN (SELECT payer FROM approvals WHERE id = ANY (v_ids)) ORDER BY public_key IS NULL, address FOR UPDATE;
    FOREACH v_id IN ARRAY v_ids LOOP
        PERFORM np_resolve_hold(v_id, 'expired', 'system:expiry', 'approval window ended', p_now, p_writer);
    END LOOP;
    RETURN cardinality(v_ids);
END $$;
