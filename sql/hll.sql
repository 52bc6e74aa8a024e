-- gc_hll: HyperLogLog distinct counts.
SET extra_float_digits = 0;

-- small sets are exact (sparse form); NULLs are skipped
SELECT gc_hll_count(gc_hll_agg(x)) AS c100,
       gc_approx_count_distinct(x) AS a100
FROM (SELECT CASE WHEN g % 10 = 0 THEN NULL ELSE g END AS x
      FROM generate_series(1, 110) g) s;
SELECT gc_hll_count(gc_hll_agg(g % 7)) FROM generate_series(1, 1000) g;

-- no rows: the sketch is NULL, the convenience count is 0; only NULLs: empty sketch
SELECT gc_hll_agg(g) IS NULL AS null_sketch, gc_approx_count_distinct(g) AS zero
FROM generate_series(1, 0) g;
SELECT gc_hll_count(gc_hll_agg(NULL::int)) FROM generate_series(1, 5);
SELECT gc_hll_agg(NULL::int) FROM generate_series(1, 5);

-- equal values hash equally whatever their type or storage
SELECT gc_hll_agg(g::int2)::text = gc_hll_agg(g::int8)::text AS int2_int8,
       gc_hll_agg(g::int4)::text = gc_hll_agg(g::int8)::text AS int4_int8
FROM generate_series(-50, 50) g;
SELECT gc_hll_agg(md5(g::text)::varchar)::text = gc_hll_agg(md5(g::text))::text AS varchar_text,
       gc_hll_agg(md5(g::text) COLLATE "C")::text = gc_hll_agg(md5(g::text))::text AS c_default,
       gc_hll_agg(decode(md5(g::text), 'hex'))::text <> gc_hll_agg(md5(g::text))::text AS bytea_differs
FROM generate_series(1, 1000) g;
-- gc_sketch_hash: the inline hash paths give exactly the types' own extended hash
-- functions with seed 0 (lengths 0..79 cover every lookup3 tail; multibyte text)
SELECT count(*) AS n,
       count(*) FILTER (WHERE gc_sketch_hash(t) <> hashtextextended(t, 0)) AS text_bad,
       count(*) FILTER (WHERE gc_sketch_hash(t::varchar) <> hashtextextended(t, 0)) AS varchar_bad,
       count(*) FILTER (WHERE gc_sketch_hash(t COLLATE "C") <> hashtextextended(t COLLATE "C", 0)) AS c_bad,
       count(*) FILTER (WHERE gc_sketch_hash((t || pad)::bpchar) <> hashbpcharextended((t || pad)::bpchar, 0)) AS bpchar_bad,
       count(*) FILTER (WHERE gc_sketch_hash((t || pad)::bpchar) <> gc_sketch_hash(t::bpchar)) AS bpchar_blanks_bad,
       -- bytea's hashvarlenaextended takes internal; it hashes the bytes as text does
       count(*) FILTER (WHERE gc_sketch_hash(convert_to(a, 'UTF8')) <> hashtextextended(a, 0)) AS bytea_bad
FROM (SELECT left(repeat(md5(g::text) || 'äß€', 3), g % 80) AS t, repeat(' ', g % 4) AS pad,
             left(repeat(md5(g::text), 3), g % 80) AS a
      FROM generate_series(0, 3000) g) s;
-- stored values: one-byte varlena headers, so the bytes start unaligned on disk pages
CREATE TEMP TABLE hll_hash_t AS
SELECT left(repeat(md5(g::text), 3), g % 80) AS t, left(repeat(md5(g::text), 3), g % 80)::bpchar(90) AS b,
       convert_to(left(repeat(md5(g::text), 3), g % 80), 'UTF8') AS y
FROM generate_series(0, 3000) g;
SELECT count(*) FILTER (WHERE gc_sketch_hash(t) <> hashtextextended(t, 0)) AS text_bad,
       count(*) FILTER (WHERE gc_sketch_hash(b) <> hashbpcharextended(b, 0)) AS bpchar_bad,
       count(*) FILTER (WHERE gc_sketch_hash(y) <> hashtextextended(t, 0)) AS bytea_bad
FROM hll_hash_t;
DROP TABLE hll_hash_t;
SET timezone = 'UTC';
SELECT count(*) AS n,
       count(*) FILTER (WHERE gc_sketch_hash(i::int2) <> hashint2extended(i::int2, 0)) AS int2_bad,
       count(*) FILTER (WHERE gc_sketch_hash(i) <> hashint4extended(i, 0)) AS int4_bad,
       count(*) FILTER (WHERE gc_sketch_hash(l) <> hashint8extended(l, 0)) AS int8_bad,
       count(*) FILTER (WHERE gc_sketch_hash(i::int8) <> gc_sketch_hash(i)) AS int8_int4_bad,
       count(*) FILTER (WHERE gc_sketch_hash(i::oid) <> hashoidextended(i::oid, 0)) AS oid_bad,
       count(*) FILTER (WHERE gc_sketch_hash(l::float8 / 7) <> hashfloat8extended(l::float8 / 7, 0)) AS float8_bad,
       count(*) FILTER (WHERE gc_sketch_hash(i::float4 / 7::float4) <> hashfloat4extended(i::float4 / 7::float4, 0)) AS float4_bad,
       count(*) FILTER (WHERE gc_sketch_hash(md5(i::text)::uuid) <> uuid_hash_extended(md5(i::text)::uuid, 0)) AS uuid_bad,
       count(*) FILTER (WHERE gc_sketch_hash(ts) <> timestamp_hash_extended(ts, 0)) AS ts_bad,
       -- timestamptz's hash is timestamp's: under UTC the cast keeps the int64
       count(*) FILTER (WHERE gc_sketch_hash(ts::timestamptz) <> timestamp_hash_extended(ts::timestamptz::timestamp, 0)) AS tstz_bad,
       count(*) FILTER (WHERE gc_sketch_hash(ts::time) <> time_hash_extended(ts::time, 0)) AS time_bad,
       count(*) FILTER (WHERE gc_sketch_hash(ts::date) <> hashint4extended(ts::date - date '2000-01-01', 0)) AS date_bad,
       count(*) FILTER (WHERE gc_sketch_hash(i::numeric / 8) <> hash_numeric_extended(i::numeric / 8, 0)) AS numeric_bad
FROM (SELECT i, i::int8 * 2654435761 * 10007 AS l,
             timestamp '2020-02-29 12:00' + i * interval '7 hours 17.25 seconds' AS ts
      FROM generate_series(-30000, 30000, 7) i) s;
RESET timezone;
SELECT gc_sketch_hash(x) = hashfloat8extended(x, 0) AS same, gc_sketch_hash(x) = 0 AS zero
FROM (VALUES ('0'::float8), ('-0'), ('NaN'), ('-NaN'), ('Infinity'), ('-Infinity'), ('1e-320')) v(x);
SELECT gc_sketch_hash(x::float4) = hashfloat4extended(x::float4, 0) AS same, gc_sketch_hash(x::float4) = gc_sketch_hash(x) AS as_float8
FROM (VALUES ('0'::float8), ('-0'), ('NaN'), ('Infinity'), ('0.5')) v(x);
SELECT gc_sketch_hash(x) = hashcharextended(x::int::"char", 0) AS bool_same FROM (VALUES (true), (false)) v(x);
SELECT gc_sketch_hash(x) = hashcharextended(x, 0) AS char_same
FROM (SELECT chr(g)::"char" AS x FROM generate_series(1, 127, 9) g UNION ALL SELECT '\377'::"char") s;
SELECT gc_sketch_hash(NULL::int) IS NULL AS strict;
CREATE TABLE hll_toast (v text);
ALTER TABLE hll_toast ALTER COLUMN v SET STORAGE external;
INSERT INTO hll_toast SELECT repeat(md5(g::text), 200) FROM generate_series(1, 20) g;
SELECT (SELECT gc_hll_agg(v)::text FROM hll_toast) =
       (SELECT gc_hll_agg(repeat(md5(g::text), 200))::text FROM generate_series(1, 20) g) AS toasted_same;
-- compressed in line (default storage): hashed after decompression, like the type's function
CREATE TABLE hll_compressed (v text);
INSERT INTO hll_compressed SELECT repeat(md5(g::text), 200) FROM generate_series(1, 20) g;
SELECT count(*) FILTER (WHERE pg_column_size(v) < octet_length(v)) AS compressed,
       count(*) FILTER (WHERE gc_sketch_hash(v) <> hashtextextended(v, 0)) AS hash_bad,
       (SELECT gc_hll_agg(v)::text FROM hll_toast) = gc_hll_agg(v)::text AS same_sketch
FROM hll_compressed;
DROP TABLE hll_compressed;

-- short strings are hashed in batches (on CPUs with AVX2 or AVX-512) once a sketch has
-- seen 64 of them: the sketch is byte for byte the one built a value at a time (a
-- one-row group never batches), for every length class, the one-at-a-time path past
-- 47 bytes, bpchar (trailing blanks) and bytea; final functions flush the batch
CREATE TEMP TABLE hll_batch AS
SELECT g, left(repeat(md5(g::text) || 'äß€', 2), g % 60) AS t FROM generate_series(1, 5000) g;
SELECT (SELECT gc_hll_agg(t, 14)::text FROM hll_batch) =
       (SELECT gc_hll_union_agg(h)::text FROM (SELECT gc_hll_agg(t, 14) h FROM hll_batch GROUP BY g) x) AS text_same,
       (SELECT gc_hll_agg((t || '  ')::bpchar, 14)::text FROM hll_batch) =
       (SELECT gc_hll_union_agg(h)::text FROM (SELECT gc_hll_agg(t::bpchar, 14) h FROM hll_batch GROUP BY g) x) AS bpchar_same,
       (SELECT gc_hll_agg(convert_to(t, 'UTF8'), 14)::text FROM hll_batch) =
       (SELECT gc_hll_agg(t, 14)::text FROM hll_batch) AS bytea_same,
       (SELECT gc_approx_count_distinct(t) FROM hll_batch) =
       (SELECT gc_hll_count(gc_hll_agg(t)) FROM hll_batch) AS count_same;
SELECT count(*) AS groups, count(*) FILTER (WHERE a.h::text <> b.h::text) AS groups_bad
FROM (SELECT g % 7 AS k, gc_hll_agg(t) AS h FROM hll_batch GROUP BY 1) a
JOIN (SELECT k, gc_hll_union_agg(h) AS h
      FROM (SELECT g % 7 AS k, gc_hll_agg(t) AS h FROM hll_batch GROUP BY g) x GROUP BY k) b USING (k);
-- a window aggregate calls the final function on every row and goes on adding
SELECT count(*) FILTER (WHERE c <> g) AS running_bad
FROM (SELECT g, gc_hll_count(gc_hll_agg(md5(g::text)) OVER (ORDER BY g)) AS c
      FROM generate_series(1, 300) g) s;
DROP TABLE hll_batch;

-- accuracy: within 3 standard errors (1.04/sqrt(m)) across the sparse->dense switch
SELECT n, log2m,
       abs(gc_hll_count(gc_hll_agg(g, log2m)) - n)::float8 / n <= 3 * 1.04 / sqrt(2 ^ log2m) AS within
FROM (VALUES (700, 12), (800, 12), (5000, 12), (100000, 12), (100000, 10), (300000, 16), (40, 4)) p(n, log2m),
     LATERAL generate_series(1, n) g
GROUP BY n, log2m ORDER BY log2m, n;

-- representation and size
SELECT gc_hll_info(gc_hll_agg(g)) FROM generate_series(1, 3) g;
SELECT gc_hll_info(gc_hll_agg(g, 10)) - 'estimate' FROM generate_series(1, 10000) g;

-- log2m is checked
SELECT gc_hll_agg(g, 3) FROM generate_series(1, 3) g;
SELECT gc_hll_agg(g, 19) FROM generate_series(1, 3) g;
SELECT gc_hll_agg(g, NULL) FROM generate_series(1, 3) g;

-- union: of sketches equals the sketch of the union (byte for byte), sparse and dense
SELECT gc_hll_union(a, b)::text = u::text AS union_equal, gc_hll_count(gc_hll_union(a, b)) AS n
FROM (SELECT gc_hll_agg(g) FILTER (WHERE g <= 300) AS a,
             gc_hll_agg(g) FILTER (WHERE g > 200) AS b,
             gc_hll_agg(g) AS u
      FROM generate_series(1, 500) g) s;
SELECT gc_hll_union(a, b)::text = u::text AS union_equal
FROM (SELECT gc_hll_agg(g) FILTER (WHERE g <= 60000) AS a,
             gc_hll_agg(g) FILTER (WHERE g > 20000) AS b,
             gc_hll_agg(g) AS u
      FROM generate_series(1, 100000) g) s;
SELECT gc_hll_count(gc_hll_union(NULL, gc_hll_agg(g))) FROM generate_series(1, 9) g;
SELECT gc_hll_union(NULL, NULL) IS NULL AS both_null;

-- per-minute sketches rolled up to hours: same as sketching the hour directly
CREATE TABLE hll_events (ts timestamptz, user_id int);
INSERT INTO hll_events
SELECT '2026-01-01 00:00+00'::timestamptz + (g % 7200) * interval '1 second', (g * 7919) % 5000
FROM generate_series(1, 40000) g;
CREATE TABLE hll_minutes AS
SELECT date_trunc('minute', ts) AS minute, gc_hll_agg(user_id) AS users
FROM hll_events GROUP BY 1;
SELECT r.hour, gc_hll_count(r.users) AS approx, d.exact, r.users::text = d.direct::text AS same_sketch
FROM (SELECT date_trunc('hour', minute) AS hour, gc_hll_union_agg(users) AS users
      FROM hll_minutes GROUP BY 1) r
JOIN (SELECT date_trunc('hour', ts) AS hour, count(DISTINCT user_id) AS exact, gc_hll_agg(user_id) AS direct
      FROM hll_events GROUP BY 1) d USING (hour)
ORDER BY 1;
-- sliding window of 30 minutes over the per-minute sketches, against exact counts
SELECT count(*) AS windows,
       bool_and(abs(w.approx - (SELECT count(DISTINCT user_id) FROM hll_events e
                                WHERE e.ts >= w.minute - interval '29 minutes'
                                  AND e.ts < w.minute + interval '1 minute'))
                <= 3 * 0.01625 * w.approx) AS within_3_sigma
FROM (SELECT minute, gc_hll_count(gc_hll_union_agg(users) OVER (ORDER BY minute ROWS 29 PRECEDING)) AS approx
      FROM hll_minutes) w;

-- different log2m cannot be combined: the error names both
SELECT gc_hll_union(gc_hll_agg(1, 10), gc_hll_agg(1, 12));
SELECT gc_hll_union_agg(h) FROM (SELECT gc_hll_agg(1, 10) h UNION ALL SELECT gc_hll_agg(1, 11)) s;

-- text I/O round trip and validation
SELECT gc_hll_agg(g)::text::gc_hll::text = gc_hll_agg(g)::text AS text_roundtrip
FROM generate_series(1, 20000) g;
SELECT gc_hll_count('\x01010c0100000000');
SELECT 'abc'::gc_hll;
SELECT '\x01010c01000000'::gc_hll;
SELECT '\x02010c0100000000'::gc_hll;
SELECT '\x01010c0100000001'::gc_hll;
SELECT '\x01011f0100000000'::gc_hll;
SELECT '\x01030c0100000000'::gc_hll;
SELECT '\x01020401000000000000'::gc_hll;
SELECT '\x0102040100000000ffffffffffffffffffffffff'::gc_hll;
SELECT '\x01010c01000000020000014300000143'::gc_hll;
SELECT '\x0101zz0100000000'::gc_hll;

-- binary COPY round trip (send/recv) through a per-backend file
CREATE TABLE hll_copy (id int, h gc_hll);
INSERT INTO hll_copy
SELECT n, gc_hll_agg(g) FROM (VALUES (0), (5), (2000), (50000)) v(n), LATERAL generate_series(1, n) g GROUP BY n;
INSERT INTO hll_copy VALUES (-1, NULL);
CREATE TABLE hll_copy2 (LIKE hll_copy);
DO $$
DECLARE f text := '/tmp/gc_hll_regress_' || current_setting('port') || '_' || pg_backend_pid() || '.bin';
BEGIN
	EXECUTE format('COPY hll_copy TO PROGRAM %L WITH (FORMAT binary)', 'cat > ' || f);
	EXECUTE format('COPY hll_copy2 FROM PROGRAM %L WITH (FORMAT binary)', 'cat ' || f);
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat > /dev/null; rm -f ' || f);
END $$;
SELECT a.id, a.h::text IS NOT DISTINCT FROM b.h::text AS same, gc_hll_count(b.h)
FROM hll_copy a JOIN hll_copy2 b USING (id) ORDER BY id;
-- garbage bytes through binary input are refused
CREATE TABLE hll_bad (h gc_hll);
DO $$
DECLARE
	f text := '/tmp/gc_hll_bad_' || current_setting('port') || '_' || pg_backend_pid() || '.bin';
	bad text;
	msg text;
	detail text;
BEGIN
	FOREACH bad IN ARRAY ARRAY['\x01010c0100000005', '\x0101', '\x01020c0100000000ff'] LOOP
		EXECUTE format('COPY (SELECT %L::bytea) TO PROGRAM %L WITH (FORMAT binary)', bad, 'cat > ' || f);
		BEGIN
			EXECUTE format('COPY hll_bad FROM PROGRAM %L WITH (FORMAT binary)', 'cat ' || f);
		EXCEPTION WHEN others THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
			RAISE NOTICE '% refused (%): % %', bad, SQLSTATE, msg, detail;
		END;
	END LOOP;
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat > /dev/null; rm -f ' || f);
END $$;
SELECT count(*) AS loaded FROM hll_bad;

-- forced parallel aggregation: partial aggregates combine to the same sketch
CREATE TABLE hll_par AS SELECT g AS v FROM generate_series(1, 200000) g;
ANALYZE hll_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gc_hll_agg(v), gc_approx_count_distinct(v) FROM hll_par;
EXPLAIN (COSTS OFF) SELECT gc_hll_union_agg(users) FROM hll_minutes;
CREATE TEMP TABLE hll_par_res AS SELECT gc_hll_agg(v) AS h, gc_approx_count_distinct(v) AS c FROM hll_par;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SET max_parallel_workers_per_gather = 0;
SELECT r.h::text = s.h::text AS same_sketch, r.c = s.c AS same_count, abs(r.c - 200000) < 3 * 0.01625 * 200000 AS accurate
FROM hll_par_res r, (SELECT gc_hll_agg(v) AS h, gc_approx_count_distinct(v) AS c FROM hll_par) s;
RESET max_parallel_workers_per_gather;
-- parallel text: each worker flushes its batch before its state is serialized
CREATE TABLE hll_par_t AS SELECT md5(g::text) AS t FROM generate_series(1, 100000) g;
ANALYZE hll_par_t;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gc_hll_agg(t) FROM hll_par_t;
CREATE TEMP TABLE hll_par_t_res AS SELECT gc_hll_agg(t) AS h FROM hll_par_t;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SET max_parallel_workers_per_gather = 0;
SELECT r.h::text = (SELECT gc_hll_agg(t)::text FROM hll_par_t) AS parallel_text_same FROM hll_par_t_res r;
RESET max_parallel_workers_per_gather;
DROP TABLE hll_par_t;

-- any hashable type: arrays, named composites, numeric (1.0, 1.00 and 1 are one value), domains
CREATE TYPE hll_pair AS (a int, b text);
CREATE DOMAIN hll_dom AS bigint;
SELECT gc_hll_count(gc_hll_agg(ARRAY[g, g + 1])) AS arrays,
       gc_hll_count(gc_hll_agg((g, g::text)::hll_pair)) AS composites,
       (SELECT gc_hll_count(gc_hll_agg(x)) FROM (VALUES (1.0), (1.00), (1::numeric)) v(x)) AS numeric_scales,
       gc_hll_agg(g::hll_dom)::text = gc_hll_agg(g)::text AS domain_is_base
FROM generate_series(1, 1000) g;
DROP TYPE hll_pair;
DROP DOMAIN hll_dom;
-- types without an extended hash function are refused clearly
SELECT gc_hll_agg(point(1, 2));
SELECT gc_hll_agg(ROW(1, 2));


-- the count of the aggregate state is the count of the stored sketch, also just past the
-- sparse limit (768 entries at log2m 12), where the stored form is dense
SELECT n, gc_approx_count_distinct(g) = gc_hll_count(gc_hll_agg(g)) AS int_same,
       gc_approx_count_distinct(g::text) = gc_hll_count(gc_hll_agg(g::text)) AS text_same,
       gc_hll_count(gc_hll_agg(g, 10)) = gc_hll_count(gc_hll_agg(g, 10)::text::gc_hll) AS roundtrip_same
FROM (VALUES (100), (700), (769), (1000), (3000), (50000)) v(n), LATERAL generate_series(1, n) g
GROUP BY n ORDER BY n;
DROP TABLE hll_toast, hll_events, hll_minutes, hll_copy, hll_copy2, hll_bad, hll_par;
