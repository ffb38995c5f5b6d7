-- The ledger's state machine, in the database: the same rules as the SQLite engine
-- (Sources/Ledger/LedgerTransaction+*.swift), held to the same behaviour by
-- LedgerStoreContractTests, which runs against both engines. Running it here makes a group commit
-- of any number of payments one statement, one round trip and one fsync.
--
-- Locking (docs/ARCHITECTURE.md): READ COMMITTED; a batch locks every existing account it touches
-- first, in address order (`FOR UPDATE`), so two replicas never deadlock on accounts and a
-- payer's payments are serialized across replicas. Hold resolution locks the hold's row first,
-- then its two accounts in address order. Refusals are values, decided before anything is
-- written, so one refused payment never undoes its batch.

-- One payment (or reservation, or dry run) of a batch whose accounts are already locked.
-- o_code is NULL when it went through; otherwise a stable error code and o_message.
CREATE FUNCTION np_record_one(
    p_now bigint, p_hold_timeout_s bigint, p_mode text,
    p_payer text, p_nonce bytea, p_payee text, p_amount numeric, p_valid_before bigint,
    p_digest bytea, p_key bytea, p_pid text,
    p_t_audience text, p_t_scope text, p_t_lifetime bigint, p_t_uses bigint,
    p_reserve_timeout_s bigint, p_token_hash bytea, p_volume_before numeric,
    OUT o_code text, OUT o_message text, OUT o_outcome text, OUT o_replayed boolean, OUT o_ref text,
    OUT o_expires_at bigint, OUT o_remaining numeric, OUT o_confirmed_at bigint, OUT o_retry_after bigint,
    OUT d_settled bigint, OUT d_held bigint, OUT d_volume numeric, OUT d_accounts bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c_max CONSTANT numeric := 340282366920938463463374607431768211455;
    v_pay payments%ROWTYPE;
    v_payer accounts%ROWTYPE;
    v_payee_received numeric;
    v_payee_available numeric;
    v_terms ticket_terms%ROWTYPE;
    v_has_terms boolean;
    v_policy policies%ROWTYPE;
    v_side text;
    v_who text;
    v_now_us bigint := p_now * 1000;
    v_tat bigint;
    v_interval bigint;
    v_base bigint;
    v_new_tat bigint;
    v_out_tat bigint;
    v_in_tat bigint;
    v_wait bigint;
    v_reasons text[] := '{}';
    v_spent numeric;
    v_available numeric;
    v_hold_id text;
    v_is_reservation boolean;
    v_timeout_ms numeric;
    v_expires numeric;
    v_approval approvals%ROWTYPE;
    v_cid text;
    v_created boolean;
BEGIN
    o_replayed := false; d_settled := 0; d_held := 0; d_volume := 0; d_accounts := 0;
    -- The service checked validBefore when the request arrived; a batch that waited (for a lock,
    -- or for the database to come back) must not pay an authorization that has since expired.
    -- A resubmission of a recorded one is still answered (as the embedded engine answers it).
    IF p_valid_before <= p_now / 1000 AND NOT EXISTS (SELECT 1 FROM payments WHERE payer = p_payer AND nonce = p_nonce AND live) THEN
        o_code := 'expired'; o_message := format('authorization expired at %s (validBefore)', p_valid_before); RETURN;
    END IF;

    -- Nonce state: an identical resubmission gets the original outcome; any other use is refused.
    SELECT * INTO v_pay FROM payments WHERE payer = p_payer AND nonce = p_nonce AND live;
    IF FOUND THEN
        IF p_mode = 'reserve' THEN
            o_code := 'authorization_in_use'; o_message := 'this authorization is already reserved, settled or held; sign a new one'; RETURN;
        END IF;
        IF v_pay.auth_digest <> p_digest THEN
            o_code := 'nonce_reused'; o_message := 'this nonce was already used by a different authorization from this payer'; RETURN;
        END IF;
        SELECT * INTO v_terms FROM ticket_terms WHERE payer = p_payer AND auth_digest = p_digest;
        v_has_terms := FOUND;
        IF p_t_audience IS NOT NULL AND v_has_terms THEN
            IF v_terms.audience <> p_t_audience OR v_terms.scope <> p_t_scope OR v_terms.lifetime_seconds <> p_t_lifetime
               OR v_terms.uses IS DISTINCT FROM p_t_uses THEN
                o_code := 'ticket_terms_conflict'; o_message := 'this authorization already bought a ticket for other terms; a replay gets that ticket only'; RETURN;
            END IF;
        ELSIF p_t_audience IS NULL AND v_has_terms THEN
            o_code := 'authorization_in_use'; o_message := 'this authorization bought a ticket; present the ticket instead'; RETURN;
        ELSIF p_t_audience IS NOT NULL AND NOT v_has_terms THEN
            o_code := 'authorization_in_use'; o_message := 'this authorization was spent on something other than a ticket'; RETURN;
        END IF;
        IF v_pay.status NOT IN ('settled','approved') AND v_pay.approval_id LIKE 'res\_%' THEN
            o_code := 'authorization_in_use';
            o_message := CASE WHEN v_pay.status = 'held' THEN 'this authorization is reserved by a gateway until it is captured or voided'
                              ELSE 'this authorization''s reservation was voided or expired (nothing was charged); sign a new one' END;
            RETURN;
        END IF;
        CASE v_pay.status
        WHEN 'settled', 'approved' THEN
            o_outcome := 'settled'; o_ref := v_pay.confirmation_id; o_remaining := v_pay.remaining_balance; o_confirmed_at := v_pay.confirmed_at;
            IF v_pay.status = 'settled' THEN
                o_replayed := true;
            ELSE
                -- The buyer is served by the first verify after approval; later ones are replays.
                o_replayed := v_pay.served;
                IF NOT v_pay.served AND p_mode <> 'check' THEN
                    UPDATE payments SET served = true WHERE seq = v_pay.seq;
                END IF;
            END IF;
        WHEN 'held' THEN
            SELECT * INTO v_approval FROM approvals WHERE id = v_pay.approval_id;
            IF v_approval.expires_at <= p_now THEN
                o_code := 'approval_expired'; o_message := 'this payment''s approval window expired before a decision'; RETURN;
            END IF;
            o_outcome := 'held'; o_ref := v_approval.id; o_expires_at := v_approval.expires_at;
        WHEN 'rejected' THEN
            o_code := 'approval_rejected'; o_message := 'this payment was rejected by an operator';
        ELSE
            o_code := 'approval_expired'; o_message := 'this payment''s approval window expired before a decision';
        END CASE;
        RETURN;
    END IF;

    -- Locked here too: a payer whose first deposit committed after this batch took its locks
    -- was not among them.
    SELECT * INTO v_payer FROM accounts WHERE address = p_payer FOR UPDATE;
    IF NOT FOUND OR v_payer.public_key IS NULL THEN
        o_code := 'unknown_payer'; o_message := format('payer %s has no registered key; deposit first', p_payer); RETURN;
    END IF;
    IF v_payer.public_key <> p_key THEN
        o_code := 'invalid_signature'; o_message := 'the payer''s registered key changed; sign again'; RETURN;
    END IF;

    -- Policies of both sides: rate limits (GCRA) refuse; maxAmount and dailyCap hold.
    FOREACH v_side IN ARRAY ARRAY['out', 'in'] LOOP
        SELECT * INTO v_policy FROM policies WHERE address = CASE WHEN v_side = 'out' THEN p_payer ELSE p_payee END;
        CONTINUE WHEN NOT FOUND;
        v_who := CASE WHEN v_side = 'out' THEN 'payer' ELSE 'payee' END;
        IF v_policy.rate_limit IS NOT NULL THEN
            SELECT tat INTO v_tat FROM rate_state WHERE address = v_policy.address AND direction = v_side;
            v_interval := (60000000 + v_policy.rate_limit - 1) / v_policy.rate_limit;
            v_base := greatest(coalesce(v_tat, v_now_us), v_now_us);
            v_new_tat := v_base + v_interval;
            IF v_new_tat - v_now_us > v_interval * coalesce(v_policy.rate_burst, v_policy.rate_limit) THEN
                v_wait := greatest((v_new_tat - v_interval * coalesce(v_policy.rate_burst, v_policy.rate_limit) - v_now_us + 999999) / 1000000, 1);
                o_code := 'rate_limited'; o_retry_after := v_wait;
                o_message := format('%s rate limit of %s payments per minute reached; retry in %s s', v_who, v_policy.rate_limit, v_wait);
                RETURN;
            END IF;
            IF v_side = 'out' THEN v_out_tat := v_new_tat; ELSE v_in_tat := v_new_tat; END IF;
        END IF;
        IF v_policy.max_amount IS NOT NULL AND p_amount > v_policy.max_amount THEN
            v_reasons := v_reasons || format('amount %s exceeds the %s''s maxAmount %s', p_amount, v_who, v_policy.max_amount);
        END IF;
        IF v_policy.daily_cap IS NOT NULL THEN
            IF v_side = 'out' THEN
                SELECT coalesce(sum(amount), 0) INTO v_spent FROM payments
                 WHERE payer = p_payer AND created_at > p_now - 86400000 AND status IN ('settled','held','approved');
            ELSE
                SELECT coalesce(sum(amount), 0) INTO v_spent FROM payments
                 WHERE payee = p_payee AND created_at > p_now - 86400000 AND status IN ('settled','held','approved');
            END IF;
            IF v_spent + p_amount > v_policy.daily_cap THEN
                v_reasons := v_reasons || format('amount %s would take the %s''s 24 h total past its dailyCap %s (already %s)',
                                                 p_amount, v_who, v_policy.daily_cap, v_spent);
            END IF;
        END IF;
    END LOOP;

    v_available := v_payer.available - p_amount;
    IF v_available < 0 THEN
        o_code := 'insufficient_balance'; o_message := format('available balance %s is less than %s', v_payer.available, p_amount); RETURN;
    END IF;
    IF p_pid IS NOT NULL AND EXISTS (SELECT 1 FROM payment_identifiers WHERE id = p_pid) THEN
        o_code := 'payment_identifier_conflict'; o_message := format('payment identifier %s is already bound to another payment', p_pid); RETURN;
    END IF;

    v_is_reservation := p_mode = 'reserve' AND cardinality(v_reasons) = 0;
    IF cardinality(v_reasons) > 0 OR p_mode = 'reserve' THEN
        IF v_payer.held + p_amount > c_max THEN
            o_code := 'amount_overflow'; o_message := 'held balance would overflow'; RETURN;
        END IF;
        v_hold_id := CASE WHEN v_is_reservation THEN np_reservation_id(p_payer, p_digest) ELSE np_approval_id(p_payer, p_digest) END;
        -- validBefore is the buyer's number: saturate rather than wrap.
        v_timeout_ms := (CASE WHEN v_is_reservation THEN p_reserve_timeout_s ELSE p_hold_timeout_s END)::numeric * 1000;
        v_expires := least(p_now + v_timeout_ms, p_valid_before::numeric * 1000, 9223372036854775807);
        o_ref := v_hold_id; o_expires_at := v_expires::bigint;
        o_outcome := CASE WHEN v_is_reservation THEN 'reserved' ELSE 'held' END;
        IF p_mode = 'check' THEN RETURN; END IF;
        UPDATE accounts SET available = available - p_amount, held = held + p_amount WHERE address = p_payer;
        INSERT INTO transfers (kind, debit_account, credit_account, amount, reference, created_at)
            VALUES ('hold', p_payer, p_payee, p_amount, v_hold_id, p_now);
        INSERT INTO approvals (id, payer, nonce, payee, amount, status, reason, requested_at, expires_at, kind, capture_token_hash)
            VALUES (v_hold_id, p_payer, p_nonce, p_payee, p_amount, 'pending',
                    CASE WHEN v_is_reservation THEN 'reserved until captured or voided' ELSE array_to_string(v_reasons, '; ') END,
                    p_now, o_expires_at, CASE WHEN v_is_reservation THEN 'reservation' ELSE 'approval' END,
                    CASE WHEN v_is_reservation THEN p_token_hash END);
        INSERT INTO payments (payer, nonce, payee, amount, valid_before, auth_digest, status, approval_id, created_at)
            VALUES (p_payer, p_nonce, p_payee, p_amount, p_valid_before, p_digest, 'held', v_hold_id, p_now);
        IF NOT v_is_reservation THEN d_held := 1; END IF;
    ELSE
        SELECT available, total_received INTO v_payee_available, v_payee_received FROM accounts WHERE address = p_payee;
        -- The cluster's volume counter is a u128 too, as in the embedded engine.
        IF v_payer.total_spent + p_amount > c_max OR coalesce(v_payee_available, 0) + p_amount > c_max
           OR coalesce(v_payee_received, 0) + p_amount > c_max OR p_volume_before + p_amount > c_max THEN
            o_code := 'amount_overflow'; o_message := 'the payment would overflow a 128-bit balance'; RETURN;
        END IF;
        v_cid := np_confirmation_id(p_payer, p_digest, p_now);
        o_outcome := 'settled'; o_ref := v_cid; o_remaining := v_available; o_confirmed_at := p_now / 1000;
        IF p_mode = 'check' THEN RETURN; END IF;
        UPDATE accounts SET available = available - p_amount, total_spent = total_spent + p_amount WHERE address = p_payer;
        INSERT INTO accounts AS a (address, available, held, total_deposited, total_spent, total_received, total_withdrawn, created_at)
            VALUES (p_payee, p_amount, 0, 0, 0, p_amount, 0, p_now)
            ON CONFLICT (address) DO UPDATE SET available = a.available + p_amount, total_received = a.total_received + p_amount
            RETURNING (xmax = 0) INTO v_created;
        IF v_created THEN d_accounts := 1; END IF;
        INSERT INTO payments (payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, created_at,
                              remaining_balance, confirmed_at)
            VALUES (p_payer, p_nonce, p_payee, p_amount, p_valid_before, p_digest, 'settled', v_cid, p_now, v_available, p_now / 1000);
        d_settled := 1; d_volume := p_amount;
    END IF;

    IF v_out_tat IS NOT NULL THEN
        INSERT INTO rate_state (address, direction, tat) VALUES (p_payer, 'out', v_out_tat)
            ON CONFLICT (address, direction) DO UPDATE SET tat = EXCLUDED.tat;
    END IF;
    IF v_in_tat IS NOT NULL THEN
        INSERT INTO rate_state (address, direction, tat) VALUES (p_payee, 'in', v_in_tat)
            ON CONFLICT (address, direction) DO UPDATE SET tat = EXCLUDED.tat;
    END IF;
    IF p_pid IS NOT NULL THEN
        INSERT INTO payment_identifiers (id, payer, nonce, valid_before, created_at) VALUES (p_pid, p_payer, p_nonce, p_valid_before, p_now);
    END IF;
    IF p_t_audience IS NOT NULL THEN
        INSERT INTO ticket_terms (payer, auth_digest, audience, scope, lifetime_seconds, uses, created_at)
            VALUES (p_payer, p_digest, p_t_audience, p_t_scope, p_t_lifetime, p_t_uses, p_now)
            ON CONFLICT (payer, auth_digest) DO NOTHING;
    END IF;
END $$;

-- A group commit: every existing account of the batch locked in address order, then each item in
-- order (later items see earlier ones), then this writer's totals once. One row per item.
-- Arrays cannot hold a typed NULL from the client: an absent payment identifier or capture token
-- is '' and absent ticket terms have lifetime 0 (a real one is 1 ... 3600).
CREATE FUNCTION np_record(
    p_now bigint, p_writer text, p_hold_timeout_s bigint[], p_mode text[],
    p_payer text[], p_nonce bytea[], p_payee text[], p_amount numeric[], p_valid_before bigint[],
    p_digest bytea[], p_key bytea[], p_pid text[],
    p_t_audience text[], p_t_scope text[], p_t_lifetime bigint[], p_t_uses bigint[],
    p_reserve_timeout_s bigint[], p_token_hash bytea[])
RETURNS TABLE (o_code text, o_message text, o_outcome text, o_replayed boolean, o_ref text,
               o_expires_at bigint, o_remaining numeric, o_confirmed_at bigint, o_retry_after bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    t_settled bigint := 0; t_held bigint := 0; t_volume numeric := 0; t_accounts bigint := 0;
    v_due text[];
    v_id text;
    v_volume numeric;
BEGIN
    -- Holds that are due expire first, as every batch of the embedded engine does (their funds
    -- are available to this batch); at most 64 here, the service's periodic sweep takes the rest.
    -- Locks: due holds (never waiting), then every account in address order.
    SELECT coalesce(array_agg(id), '{}') INTO v_due FROM (
        SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= p_now
         ORDER BY expires_at LIMIT 64 FOR UPDATE SKIP LOCKED) due;
    PERFORM 1 FROM accounts
     WHERE address = ANY (p_payer || p_payee || ARRAY(SELECT payer FROM approvals WHERE id = ANY (v_due))
                          || ARRAY(SELECT payee FROM approvals WHERE id = ANY (v_due)))
     ORDER BY address FOR UPDATE;
    FOREACH v_id IN ARRAY v_due LOOP
        PERFORM np_resolve_hold(v_id, 'expired', 'system:expiry', 'approval window ended', p_now, p_writer);
    END LOOP;
    SELECT coalesce(sum(volume), 0) INTO v_volume FROM totals;
    FOR i IN 1 .. coalesce(array_length(p_payer, 1), 0) LOOP
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
    IF t_settled <> 0 OR t_held <> 0 OR t_accounts <> 0 THEN
        INSERT INTO totals AS t (writer, accounts, payments_settled, payments_held, volume)
            VALUES (p_writer, t_accounts, t_settled, t_held, t_volume)
            ON CONFLICT (writer) DO UPDATE SET accounts = t.accounts + t_accounts, payments_settled = t.payments_settled + t_settled,
                payments_held = t.payments_held + t_held, volume = t.volume + t_volume;
    END IF;
    -- One more row, outcome 'totals': the cluster's counters as this batch leaves them, so the
    -- replica's /stats is current when its callers are answered, at no extra round trip.
    o_code := NULL; o_outcome := 'totals'; o_replayed := false; o_ref := NULL; o_expires_at := NULL; o_remaining := NULL;
    o_confirmed_at := NULL; o_retry_after := NULL;
    SELECT concat_ws(',', coalesce(sum(accounts), 0), coalesce(sum(payments_settled), 0), coalesce(sum(payments_held), 0),
                     coalesce(sum(payments_approved), 0), coalesce(sum(payments_rejected), 0), coalesce(sum(payments_expired), 0),
                     coalesce(sum(volume), 0), coalesce(sum(deposited), 0), coalesce(sum(withdrawn), 0)) INTO o_message FROM totals;
    RETURN NEXT;
END $$;

-- Moves a pending hold (approval or reservation) to its final state with the matching transfer.
-- The caller holds the hold's row lock and has checked it is pending. Returns the confirmation
-- id when posted.
CREATE FUNCTION np_resolve_hold(p_id text, p_status text, p_by text, p_reason text, p_now bigint, p_writer text)
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
    PERFORM 1 FROM accounts WHERE address IN (v.payer, v.payee) ORDER BY address FOR UPDATE;
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
-- (SKIP LOCKED) and resolved once. The holds' accounts are locked together in address order, as
-- a payment batch locks them. Returns how many it expired.
CREATE FUNCTION np_expire_due(p_now bigint, p_writer text, p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_ids text[];
    v_id text;
BEGIN
    SELECT coalesce(array_agg(id), '{}') INTO v_ids FROM (
        SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= p_now
         ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED) due;
    PERFORM 1 FROM accounts WHERE address IN (SELECT payer FROM approvals WHERE id = ANY (v_ids)
                                              UNION SELECT payee FROM approvals WHERE id = ANY (v_ids))
        ORDER BY address FOR UPDATE;
    FOREACH v_id IN ARRAY v_ids LOOP
        PERFORM np_resolve_hold(v_id, 'expired', 'system:expiry', 'approval window ended', p_now, p_writer);
    END LOOP;
    RETURN cardinality(v_ids);
END $$;
