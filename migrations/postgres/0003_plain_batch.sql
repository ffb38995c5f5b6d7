-- A set-based path for the common group commit. A batch of plain payments (no policy on either
-- side, no replay, no payment identifier, no ticket, no reservation or dry run), whose payers are
-- not also payees of the batch, is written by a few statements per batch instead of
-- np_record_one's fifteen or so per payment (BENCHMARKS.md, "Replicas on PostgreSQL").
--
-- The path is taken only when its outcome is the one the per-payment loop would reach: every
-- payment of such a batch settles (each payer's whole batch fits its balance and no counter can
-- overflow), and since balances only fall for the batch's payers and only rise for its payees,
-- the order of its payments changes nothing but each receipt's remaining balance, which is the
-- running sum in batch order. Any other batch runs the loop of migration 0002 unchanged, so every
-- refusal is still decided by np_record_one alone. LedgerStoreContractTests, the ledger suites
-- run on both engines and the seeded simulation over two replicas hold both paths to the
-- embedded engine's behaviour.
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
    v_locked text[];
    v_keys bytea[];
    v_available numeric[];
    v_spent numeric[];
    v_received numeric[];
    v_id text;
    v_volume numeric;
    v_plain boolean;
    v_refs text[];
    v_remaining numeric[];
BEGIN
    -- Holds that are due expire first, as every batch of the embedded engine does (their funds
    -- are available to this batch); at most 64 here, the service's periodic sweep takes the rest.
    -- Locks: due holds (never waiting), then every account in address order.
    SELECT coalesce(array_agg(id), '{}') INTO v_due FROM (
        SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= p_now
         ORDER BY expires_at LIMIT 64 FOR UPDATE SKIP LOCKED) due;
    SELECT coalesce(array_agg(address), '{}'), array_agg(public_key), array_agg(available), array_agg(total_spent), array_agg(total_received)
      INTO v_locked, v_keys, v_available, v_spent, v_received FROM (
        SELECT address, public_key, available, total_spent, total_received FROM accounts
         WHERE address = ANY (p_payer || p_payee || ARRAY(SELECT payer FROM approvals WHERE id = ANY (v_due))
                              || ARRAY(SELECT payee FROM approvals WHERE id = ANY (v_due)))
         ORDER BY address FOR UPDATE) locked;
    FOREACH v_id IN ARRAY v_due LOOP
        PERFORM np_resolve_hold(v_id, 'expired', 'system:expiry', 'approval window ended', p_now, p_writer);
    END LOOP;
    SELECT coalesce(sum(volume), 0) INTO v_volume FROM totals;

    -- Is the batch plain? The accounts as locked above are current: no hold expired in this
    -- batch, and every payer is among them (a payer whose first deposit committed since takes
    -- the loop, which locks it).
    WITH b AS (
        SELECT * FROM unnest(p_mode, p_payer, p_nonce, p_payee, p_amount, p_valid_before, p_key, p_pid, p_t_lifetime)
            AS b(mode, payer, nonce, payee, amount, valid_before, key, pid, lifetime)
    ), payers AS (
        SELECT payer, sum(amount) AS total FROM b GROUP BY payer
    ), payees AS (
        SELECT payee, sum(amount) AS total FROM b GROUP BY payee
    ), known AS (
        SELECT * FROM unnest(v_locked, v_keys, v_available, v_spent, v_received) AS k(address, public_key, available, total_spent, total_received)
    )
    SELECT n > 0 AND cardinality(v_due) = 0
       AND (SELECT bool_and(mode = 'pay' AND pid = '' AND lifetime = 0 AND valid_before > p_now / 1000 AND payer = ANY (v_locked)) FROM b)
       AND (SELECT count(DISTINCT (payer, nonce)) FROM b) = n
       AND NOT EXISTS (SELECT 1 FROM payers JOIN payees ON payees.payee = payers.payer)
       AND NOT EXISTS (SELECT 1 FROM policies WHERE address = ANY (p_payer || p_payee))
       AND NOT EXISTS (SELECT 1 FROM b JOIN payments p ON p.payer = b.payer AND p.nonce = b.nonce AND p.live)
       AND NOT EXISTS (SELECT 1 FROM b LEFT JOIN known a ON a.address = b.payer WHERE a.public_key IS NULL OR a.public_key <> b.key)
       AND NOT EXISTS (SELECT 1 FROM payers JOIN known a ON a.address = payers.payer
                        WHERE a.available < payers.total OR a.total_spent + payers.total > c_max)
       AND NOT EXISTS (SELECT 1 FROM payees LEFT JOIN known a ON a.address = payees.payee
                        WHERE coalesce(a.available, 0) + payees.total > c_max OR coalesce(a.total_received, 0) + payees.total > c_max)
       AND v_volume + (SELECT sum(amount) FROM b) <= c_max
      INTO v_plain;

    IF v_plain THEN
        -- One statement: the rows read before any of its writes (one snapshot), payers debited,
        -- payees credited once each (a hot seller's row is written once per batch), payments in
        -- batch order.
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
        ), credited AS (
            INSERT INTO accounts AS a (address, available, held, total_deposited, total_spent, total_received, total_withdrawn, created_at)
                SELECT payee, sum(amount), 0, 0, 0, sum(amount), 0, p_now FROM b GROUP BY payee ORDER BY payee
                ON CONFLICT (address) DO UPDATE SET available = a.available + EXCLUDED.available,
                                                    total_received = a.total_received + EXCLUDED.total_received
                RETURNING (xmax = 0) AS created
        ), recorded AS (
            INSERT INTO payments (payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, created_at,
                                  remaining_balance, confirmed_at)
                SELECT payer, nonce, payee, amount, valid_before, digest, 'settled', cid, p_now, remaining, p_now / 1000
                  FROM b ORDER BY i
        )
        SELECT array_agg(cid ORDER BY i), array_agg(remaining ORDER BY i), sum(amount), (SELECT count(*) FILTER (WHERE created) FROM credited)
          INTO v_refs, v_remaining, t_volume, t_accounts FROM b;
        t_settled := n;
        o_code := NULL; o_message := NULL; o_outcome := 'settled'; o_replayed := false; o_expires_at := NULL;
        o_confirmed_at := p_now / 1000; o_retry_after := NULL;
        FOR i IN 1 .. n LOOP
            o_ref := v_refs[i]; o_remaining := v_remaining[i];
            RETURN NEXT;
        END LOOP;
    ELSE
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
    SELECT concat_ws(',', coalesce(sum(accounts), 0), coalesce(sum(payments_settled), 0), coalesce(sum(payments_held), 0),
                     coalesce(sum(payments_approved), 0), coalesce(sum(payments_rejected), 0), coalesce(sum(payments_expired), 0),
                     coalesce(sum(volume), 0), coalesce(sum(deposited), 0), coalesce(sum(withdrawn), 0)) INTO o_message FROM totals;
    RETURN NEXT;
END $$;
