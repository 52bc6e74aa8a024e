/*
 * gcimpute.c — module entry point: PG_MODULE_MAGIC and _PG_init.
 *
 * Each subsystem that has GUCs or background workers registers them from _PG_init, so
 * that loading the library through shared_preload_libraries or on first use sets
 * everything up in one place; the CPU level of the vector kernels is decided here too.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "gcimpute.h"
#include "platform/simd.h"
#include "stream/worker.h"

PG_MODULE_MAGIC;

void
_PG_init(void)
{
	/* the vector kernels' level, decided once for the process (and its children) */
	gc_simd_init();

	/* stream ingest: GUCs, shared memory and the launcher need shared_preload_libraries */
	if (process_shared_preload_libraries_in_progress)
		gc_worker_init();
}
