-- gc_cms: Count-Min sketch point counts, heavy hitters and sliding windows.
SET extra_float_digits = 0;

-- dimensions: width ceil(e/eps), depth ceil(ln 1/delta)
SELECT gc_cms_info(gc_cms_agg(g)) - 'bytes' AS defaults FROM generate_series(1, 10) g;
SELECT gc_cms_info(gc_cms_agg(g::text, 0.01, 0.01)) AS small FROM generate_series(1, 10) g;
SELECT gc_cms_info(gc_cms_agg(g, 0.001, 0.001, 0)) -> 'depth' AS depth7,
       gc_cms_info(gc_cms_agg(g, 0.001, 0.001, 0)) -> 'candidates' AS no_candidates
FROM generate_series(1, 10) g;

-- NULLs are skipped; no rows gives NULL
SELECT gc_cms_info(gc_cms_agg(CASE WHEN g % 4 = 0 THEN NULL ELSE g % 3 END)) -> 'total' AS total
FROM generate_series(1, 100) g;
SELECT gc_cms_agg(g) IS NULL AS null_sketch FROM generate_series(1, 0) g;

-- the guarantee on a skewed stream: never under, over by <= eps*N on >= 1 - delta of keys
CREATE TABLE cms_stream AS
SELECT g, (floor(power((g * 0.6180339887) % 1, 3) * 3000))::int AS k FROM generate_series(1, 60000) g;
CREATE TABLE cms_sk AS SELECT gc_cms_agg(k, 0.002, 0.01) AS s FROM cms_stream;
SELECT count(*) AS keys,
       bool_and(gc_cms_count(s, k) >= n) AS never_under,
       avg((gc_cms_count(s, k) - n <= 0.002 * 60000)::int) >= 0.99 AS within_eps_n
FROM (SELECT k, count(*) AS n FROM cms_stream GROUP BY k) t, cms_sk;
SELECT gc_cms_count(s, -1) AS absent_key_small FROM cms_sk;

-- heavy hitters: value v occurs v times (v = 1..60)
CREATE TABLE cms_hh AS SELECT v FROM generate_series(1, 60) v, LATERAL generate_series(1, v);
SELECT * FROM gc_cms_topk((SELECT gc_cms_agg(v, 0.001, 0.01, 8) FROM cms_hh), 5);
SELECT * FROM gc_cms_topk((SELECT gc_cms_agg(v::text) FROM cms_hh), 3);
SELECT count(*) FROM gc_cms_topk((SELECT gc_cms_agg(v, 0.001, 0.01, 8) FROM cms_hh), 0);
SELECT * FROM gc_cms_topk((SELECT gc_cms_agg(v, 0.001, 0.01, 8) FROM cms_hh), 9);
SELECT * FROM gc_cms_topk((SELECT gc_cms_agg(v) FROM cms_hh), -1);
-- long values are kept as candidates cut to 1024 bytes; counts still use the full value
SELECT length(value), frequency
FROM gc_cms_topk((SELECT gc_cms_agg(repeat('x', 3000) || (g % 2)) FROM generate_series(1, 10) g), 2);

-- a sketch remembers its value type
SELECT gc_cms_count(gc_cms_agg(g), 1::bigint) FROM generate_series(1, 10) g;
SELECT gc_cms_count(gc_cms_agg(g::text), 'a') FROM generate_series(1, 10) g;
SELECT gc_cms_count(gc_cms_agg(g::text), '3'::text) FROM generate_series(1, 10) g;
SELECT gc_cms_union(gc_cms_agg(1), gc_cms_agg('1'::text));
-- a domain counts as its base type; arrays work too
CREATE DOMAIN cms_dom AS int;
SELECT gc_cms_count(gc_cms_agg(g::cms_dom), 5) AS via_domain,
       gc_cms_count(gc_cms_agg(g), 5::cms_dom) AS domain_query,
       gc_cms_count(gc_cms_agg(ARRAY[g % 10]), ARRAY[5]) AS arrays
FROM generate_series(1, 1000) g;
DROP DOMAIN cms_dom;

-- parameters are checked
SELECT gc_cms_agg(g, 0, 0.01) FROM generate_series(1, 3) g;
SELECT gc_cms_agg(g, 0.01, 1) FROM generate_series(1, 3) g;
SELECT gc_cms_agg(g, NULL, 0.01) FROM generate_series(1, 3) g;
SELECT gc_cms_agg(g, 1e-9, 0.01) FROM generate_series(1, 3) g;
SELECT gc_cms_agg(g, 0.01, 0.01, 2000) FROM generate_series(1, 3) g;
SELECT gc_cms_union(gc_cms_agg(1, 0.01, 0.01), gc_cms_agg(1, 0.001, 0.01));
SELECT gc_cms_union_agg(s) FROM (SELECT gc_cms_agg(1, 0.01, 0.1) s UNION ALL SELECT gc_cms_agg(1, 0.01, 0.01)) x;

-- per-minute sketches rolled up to hours equal the hour's sketch
CREATE TABLE cms_events AS
SELECT '2026-01-01 00:00+00'::timestamptz + (g % 7200) * interval '1 second' AS ts,
       '10.0.' || ((g * 37) % 13) || '.' || ((g * 101) % 7) AS ip
FROM generate_series(1, 30000) g;
CREATE TABLE cms_minutes AS
SELECT date_trunc('minute', ts) AS minute, gc_cms_agg(ip, 0.01, 0.01) AS s FROM cms_events GROUP BY 1;
SELECT r.hour, bool_and(gc_cms_count(r.s, e.ip) = gc_cms_count(d.s, e.ip)) AS same_counts,
       bool_and(gc_cms_count(r.s, e.ip) >= e.n) AS never_under
FROM (SELECT date_trunc('hour', minute) AS hour, gc_cms_union_agg(s) AS s FROM cms_minutes GROUP BY 1) r
JOIN (SELECT date_trunc('hour', ts) AS hour, gc_cms_agg(ip, 0.01, 0.01) AS s FROM cms_events GROUP BY 1) d USING (hour)
JOIN (SELECT date_trunc('hour', ts) AS hour, ip, count(*) AS n FROM cms_events GROUP BY 1, 2) e USING (hour)
GROUP BY r.hour ORDER BY 1;
SELECT value, frequency FROM gc_cms_topk((SELECT gc_cms_union_agg(s) FROM cms_minutes), 3);

-- sliding window (moving aggregate): counts equal a fresh sketch of each frame
CREATE TABLE cms_win AS SELECT g AS x, (g * g) % 11 AS v FROM generate_series(1, 300) g;
SELECT count(*) AS rows,
       bool_and(w.c = (SELECT gc_cms_count(gc_cms_agg(f.v, 0.01, 0.05), w.v) FROM cms_win f
                       WHERE f.x BETWEEN w.x - 49 AND w.x)) AS equals_fresh_frame,
       bool_and(w.c >= (SELECT count(*) FROM cms_win f WHERE f.x BETWEEN w.x - 49 AND w.x AND f.v = w.v)) AS never_under
FROM (SELECT x, v, gc_cms_count(gc_cms_agg(v, 0.01, 0.05) OVER (ORDER BY x ROWS 49 PRECEDING), v) AS c
      FROM cms_win) w;
SELECT x, v, gc_cms_count(gc_cms_agg(v, 0.01, 0.05) OVER (ORDER BY x ROWS 2 PRECEDING), v) AS in_last_3
FROM cms_win WHERE x <= 8 ORDER BY x;
SELECT x, (SELECT string_agg(value || ':' || frequency, ',') FROM gc_cms_topk(s, 2)) AS top2
FROM (SELECT x, gc_cms_agg(v, 0.01, 0.05, 4) OVER (ORDER BY x ROWS 19 PRECEDING) AS s FROM cms_win) w
WHERE x IN (20, 100, 300) ORDER BY x;

-- text I/O round trip and validation
SELECT s::text::gc_cms::text = s::text AS text_roundtrip FROM cms_sk;
SELECT 'xyz'::gc_cms;
SELECT '\x0100'::gc_cms;
SELECT ('\x' || encode(set_byte(s::text::bytea, 55, get_byte(s::text::bytea, 55) # 1), 'hex'))::gc_cms FROM cms_sk;
SELECT ('\x' || encode(set_byte(s::text::bytea, 0, 2), 'hex'))::gc_cms FROM cms_sk;
SELECT ('\x' || encode(s::text::bytea, 'hex') || '00')::gc_cms FROM cms_sk;

-- binary COPY round trip and garbage binary input
CREATE TABLE cms_copy (id int, s gc_cms);
INSERT INTO cms_copy SELECT 1, s FROM cms_sk;
INSERT INTO cms_copy SELECT 2, gc_cms_agg(v::text, 0.01, 0.01) FROM cms_hh;
INSERT INTO cms_copy VALUES (3, NULL);
CREATE TABLE cms_copy2 (LIKE cms_copy);
CREATE TABLE cms_bad (s gc_cms);
DO $$
DECLARE
	f text := '/tmp/gc_cms_regress_' || current_setting('port') || '_' || pg_backend_pid() || '.bin';
	bad text;
	msg text;
	detail text;
BEGIN
	EXECUTE format('COPY cms_copy TO PROGRAM %L WITH (FORMAT binary)', 'cat > ' || f);
	EXECUTE format('COPY cms_copy2 FROM PROGRAM %L WITH (FORMAT binary)', 'cat ' || f);
	FOREACH bad IN ARRAY ARRAY['\x01', '\x0100010000000017'] LOOP
		EXECUTE format('COPY (SELECT %L::bytea) TO PROGRAM %L WITH (FORMAT binary)', bad, 'cat > ' || f);
		BEGIN
			EXECUTE format('COPY cms_bad FROM PROGRAM %L WITH (FORMAT binary)', 'cat ' || f);
		EXCEPTION WHEN others THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
			RAISE NOTICE '% refused (%): % %', bad, SQLSTATE, msg, detail;
		END;
	END LOOP;
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat > /dev/null; rm -f ' || f);
END $$;
SELECT a.id, a.s::text IS NOT DISTINCT FROM b.s::text AS same
FROM cms_copy a JOIN cms_copy2 b USING (id) ORDER BY id;
SELECT * FROM gc_cms_topk((SELECT s FROM cms_copy2 WHERE id = 2), 2);
SELECT count(*) AS loaded FROM cms_bad;

-- forced parallel aggregation
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gc_cms_agg(k, 0.002, 0.01) FROM cms_stream;
EXPLAIN (COSTS OFF) SELECT gc_cms_union_agg(s) FROM cms_minutes;
CREATE TEMP TABLE cms_par AS SELECT gc_cms_agg(k, 0.002, 0.01) AS s FROM cms_stream;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT bool_and(gc_cms_count(p.s, t.k) = gc_cms_count(q.s, t.k)) AS same_counts,
       (SELECT (gc_cms_info(s) -> 'total')::int FROM cms_par) AS total
FROM cms_par p, cms_sk q, (SELECT DISTINCT k FROM cms_stream) t;

DROP TABLE cms_stream, cms_sk, cms_hh, cms_events, cms_minutes, cms_win, cms_copy, cms_copy2, cms_bad;

-- the element type a value records must name a hashable type: refused at input
SELECT overlay(gc_cms_agg(g)::text PLACING '00000000' FROM 11 FOR 8)::gc_cms FROM generate_series(1, 10) g;
SELECT overlay(gc_cms_agg(g)::text PLACING 'fffffff0' FROM 11 FOR 8)::gc_cms FROM generate_series(1, 10) g;
SELECT overlay(gc_cms_agg(g)::text PLACING lpad(to_hex('point'::regtype::oid::int), 8, '0') FROM 11 FOR 8)::gc_cms
FROM generate_series(1, 10) g;
SELECT gc_cms_count(overlay(gc_cms_agg(g)::text PLACING lpad(to_hex('int4'::regtype::oid::int), 8, '0') FROM 11 FOR 8)::gc_cms, 3)
FROM generate_series(1, 10) g;
