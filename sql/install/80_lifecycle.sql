
/*
 * 80_lifecycle.sql — what pg_dump keeps of the extension's tables.
 *
 * The extension's tables are created by CREATE EXTENSION, so pg_dump would leave out
 * their rows; pg_extension_config_dump marks the ones that hold the user's data for
 * dumping, each whole (the extension puts no rows of its own into them).  Together they
 * restore every model and stream with its exact position: the offsets, dedup keys and
 * dead letters are dumped in the same snapshot as the stream's target table, so a
 * restored stream neither loses nor repeats a row.  A restored stream does not start by
 * itself (gc_streams.started_system/started_database name the cluster and database it
 * was started in); it waits for gc_stream_start.  Every table of the extension is marked
 * here: a later table that holds no user data says so in this file.
 */

SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_model_grants', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_streams', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_streams_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_stream_offsets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_stream_dedup', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_stream_errors', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gc_dead_letters_id_seq', '');
