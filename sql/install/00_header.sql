/*
 * gcimpute install script of the current version, assembled at build time from
 * sql/install/NN_*.sql (one part per concept). Every public object carries the gc_ prefix.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION gcimpute" to load this file. \quit

