/*
 * gcimpute 0.1 -> 0.2: every catalog change since 0.1, in the order it was made.
 *
 * A change to the extension's objects goes both into its part under sql/install/ (what a
 * fresh CREATE EXTENSION runs) and here; the lifecycle tests compare an updated database
 * with a fresh install object by object.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gcimpute UPDATE TO '0.2'" to load this file. \quit
