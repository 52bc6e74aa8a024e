-- Where a started stream runs, and what gc_stream_start says when it will not run here.
-- Two servers are sane, with an expected file each: without shared_preload_libraries
-- (stream_start.out) and with gcimpute preloaded for another database, the default
-- gcimpute.database = 'postgres' (stream_start_1.out).
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE ss_target (a float8);
SELECT gc_stream_create('ss1', '127.0.0.1:9', 'ss', 'ss_target') > 0 AS created;
SELECT started_system IS NULL AND started_database IS NULL AS never_started FROM gc_streams;
SELECT name, state, last_error FROM gc_stream_status;

-- gc_stream_start warns instead of leaving the stream "starting" forever
SELECT gc_stream_start('ss1');
SELECT name, state, last_error FROM gc_stream_status;
SELECT (started_system, started_database) = (SELECT system, database FROM gc_stream_here()) AS started_here
FROM gc_streams;

-- a copy started elsewhere (a restored dump: another cluster or database) is held until
-- gc_stream_start is run in it
UPDATE gc_streams SET started_system = started_system # 1;
SELECT name, state, last_error FROM gc_stream_status;
SET client_min_messages = error;
SELECT gc_stream_start('ss1');
SET client_min_messages = warning;
SELECT name, state = 'held' AS held FROM gc_stream_status;
UPDATE gc_streams SET started_database = 0;
SELECT name, state FROM gc_stream_status;

-- stopping keeps the record; a stopped stream is only "stopped"
SELECT gc_stream_stop('ss1');
SELECT name, state, last_error, started_database FROM gc_stream_status JOIN gc_streams USING (name);
SELECT gc_stream_drop('ss1');
DROP TABLE ss_target;
