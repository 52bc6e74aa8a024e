/*
 * gcimpute 0.1 -> 0.2: every catalog change since 0.1, in the order it was made.
 *
 * A change to the extension's objects goes both into its part under sql/install/ (what a
 * fresh CREATE EXTENSION runs) and here; the lifecycle tests compare an updated database
 * with a fresh install object by object.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gcimpute UPDATE TO '0.2'" to load this file. \quit

-- PostgreSQL 14: the status views filter by owner themselves instead of being
-- security_invoker (CREATE OR REPLACE replaces the view options too)
CREATE OR REPLACE VIEW gc_stream_dedup_keys WITH (security_barrier = true) AS
	SELECT d.stream_id, d.at,
		   split_part(k, E'\x1f', 1) AS publisher_id,
		   split_part(k, E'\x1f', 2) AS data_id
	FROM gc_stream_dedup d, unnest(d.keys) AS k
	WHERE EXISTS (SELECT 1 FROM gc_streams s
				  WHERE s.id = d.stream_id AND pg_catalog.pg_has_role(current_user, s.owner, 'USAGE'));
CREATE OR REPLACE VIEW gc_stream_status WITH (security_barrier = true) AS
	SELECT s.name, s.topic, s.target, s.owner,
		   CASE WHEN e.state IS NOT NULL THEN e.state
				WHEN NOT s.enabled THEN 'stopped'
				WHEN w.pid IS NULL THEN 'starting'
				ELSE w.state END AS state,
		   w.pid,
		   o.partitions,
		   o.committed_offsets,
		   w.high_watermarks,
		   (SELECT sum(greatest(hw - co, 0))::bigint
			FROM unnest(w.partitions, w.high_watermarks) AS h(p, hw)
			JOIN unnest(o.partitions, o.committed_offsets) AS c(p, co) USING (p)) AS lag,
		   w.rows_written, w.rows_per_s, w.messages, w.duplicates,
		   (SELECT count(*) FROM @extschema@.gc_dead_letters d WHERE d.stream = s.name) AS dead_letters,
		   w.imputed_cells, w.late_updates, w.pending_rows,
		   coalesce(e.last_error, w.last_error) AS last_error,
		   w.latency_p50_ms, w.latency_p99_ms
	FROM @extschema@.gc_streams s
	LEFT JOIN @extschema@.gc_stream_worker_status() w ON w.stream_id = s.id
	LEFT JOIN @extschema@.gc_stream_errors e ON e.stream_id = s.id
	LEFT JOIN LATERAL (
		SELECT array_agg(f.partition ORDER BY f.partition) AS partitions,
			   array_agg(f.next_offset ORDER BY f.partition) AS committed_offsets
		FROM @extschema@.gc_stream_offsets f WHERE f.stream_id = s.id) o ON true
	WHERE pg_catalog.pg_has_role(current_user, s.owner, 'USAGE');
