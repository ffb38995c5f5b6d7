-- np_record's statements are planned once per session, not once per batch.
--
-- They take the batch's arrays as parameters. Under the default plan_cache_mode a PL/pgSQL
-- statement is planned with each call's values (a custom plan) for its first five calls, and
-- kept that way whenever the generic plan's estimate (ten rows per array) comes out dearer than
-- the custom plans' (the batch's real length). For the plain batch's write that was every call:
-- measured with pg_stat_statements on a one-payment batch, 0.48 ms of planning for 0.59 ms of
-- execution, and about 0.15 ms more for the lock statement; at the replicas' usual batch of six,
-- planning was most of PostgreSQL's CPU per payment (BENCHMARKS.md, "Plans").
--
-- A generic plan is chosen for the smallest table it meets, and a plan made when `accounts`
-- held a thousand rows was a sequential scan of it for the payer debit (0.5 ms, growing with
-- the table, under the batch's locks; plans are remade only when a table they read is
-- invalidated). enable_seqscan = off keeps np_record's own statements on their indexes whatever
-- the table's size; the tables read in full (`totals`, one row per replica start) are still
-- scanned, at a nominal penalty that only matters to JIT, which is off: it compiled the totals
-- sum for 214 ms once the penalty crossed its threshold. (What np_record calls shares its cached
-- plans with calls from elsewhere, made without these settings: point lookups on unique keys.)
-- (nanopayd's sessions also start with jit = off, for the same reason.)
ALTER FUNCTION np_record(bigint, text, bigint[], text[], text[], bytea[], text[], numeric[], bigint[], bytea[], bytea[], text[],
                         text[], text[], bigint[], bigint[], bigint[], bytea[])
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
    SET jit = off;

-- The ids' SQL functions were declared IMMUTABLE but call convert_to, which is STABLE, so the
-- planner would not inline them: each batch planned and ran one as a nested query per row.
-- STABLE is what they are (convert_to depends on the database's encoding), and lets them inline.
ALTER FUNCTION np_confirmation_id(text, bytea, bigint) STABLE;
ALTER FUNCTION np_approval_id(text, bytea) STABLE;
ALTER FUNCTION np_reservation_id(text, bytea) STABLE;
