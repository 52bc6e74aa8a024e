/*
 * dedup.c — the duplicate-instance rule: a message whose (publisher_id, data_id) was
 * already seen is dropped: a re-sent reading must not count twice (docs/streaming.md,
 * Exactly-once semantics).
 *
 * The in-memory set keeps a 128-bit hash of each key (two independent 64-bit hashes, so
 * a false "duplicate" needs a 128-bit collision) with the time it was added, and forgets
 * keys older than the stream's dedup_retention.  The keys themselves are made durable in
 * gc_stream_dedup by the writer, in the transaction that writes the message's row, and
 * loaded back here when the worker starts.
 */
#include "postgres.h"

#include "common/hashfn.h"

#include "stream/stream.h"

typedef struct DedupKey
{
	uint64		h1;
	uint64		h2;
} DedupKey;

/*
 * Open addressing (lib/simplehash.h): a lookup of a key not in the set, which is what
 * nearly every message is, touches one or two cache lines instead of a bucket chain.
 * The time a key was added is kept in whole seconds after the set's creation, rounded
 * up, so that an entry is 24 bytes and is never forgotten early.
 */
typedef struct DedupEntry
{
	DedupKey	key;
	int32		at_s;
	char		status;
} DedupEntry;

#define SH_PREFIX dedupset
#define SH_ELEMENT_TYPE DedupEntry
#define SH_KEY_TYPE DedupKey
#define SH_KEY key
/* the key is already a strong hash: its first word is the table's hash value */
#define SH_HASH_KEY(tb, k) ((uint32) (k).h1)
#define SH_EQUAL(tb, a, b) ((a).h1 == (b).h1 && (a).h2 == (b).h2)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct DedupSet
{
	dedupset_hash *h;
	int64		base_us;		/* times are whole seconds after this */
	bool		have_base;
};

DedupSet *
DedupCreate(MemoryContext mcxt)
{
	DedupSet   *ds = MemoryContextAlloc(mcxt, sizeof(DedupSet));

	/* small at first: simplehash grows with the keys, a quiet stream stays small */
	ds->h = dedupset_create(mcxt, 1 << 12, NULL);
	ds->base_us = 0;
	ds->have_base = false;
	return ds;
}

static void
HashKey(const char *key, size_t len, DedupKey *k)
{
	k->h1 = hash_bytes_extended((const unsigned char *) key, (int) len, UINT64CONST(0x9E3779B97F4A7C15));
	k->h2 = hash_bytes_extended((const unsigned char *) key, (int) len, UINT64CONST(0xC2B2AE3D27D4EB4F));
}

static int32
Seconds(DedupSet *ds, int64 us, bool up)
{
	int64		d;

	if (!ds->have_base)
	{
		ds->base_us = us - INT64CONST(1000000000) * 1000;	/* room for old keys */
		ds->have_base = true;
	}
	d = us - ds->base_us;
	if (d <= 0)
		return 0;
	d = up ? (d + 999999) / 1000000 : d / 1000000;
	return (int32) Min(d, (int64) PG_INT32_MAX);
}

/* True if key was seen; otherwise remember it (now) and return false. */
bool
DedupSeen(DedupSet *ds, const char *key, int64 now_us)
{
	return DedupSeenLen(ds, key, strlen(key), now_us);
}

/* The same, for a key of known length. */
bool
DedupSeenLen(DedupSet *ds, const char *key, size_t len, int64 now_us)
{
	DedupKey	k;
	bool		found;
	DedupEntry *e;

	HashKey(key, len, &k);
	e = dedupset_insert(ds->h, k, &found);
	if (!found)
		e->at_s = Seconds(ds, now_us, true);
	return found;
}

/*
 * The hash of a key (h[2]), and a prefetch of the set's slot for it: a message's key is
 * known when it is decoded, some time before it is looked up (DedupSeenHash).
 */
void
DedupHashPrefetch(DedupSet *ds, const char *key, size_t len, uint64 *h)
{
	DedupKey	k;

	HashKey(key, len, &k);
	h[0] = k.h1;
	h[1] = k.h2;
#ifdef __GNUC__
	__builtin_prefetch(&ds->h->data[((uint32) k.h1) & ds->h->sizemask], 1);
#endif
}

/* DedupSeenLen for a key hashed by DedupHashPrefetch. */
bool
DedupSeenHash(DedupSet *ds, const uint64 *h, int64 now_us)
{
	DedupKey	k = {h[0], h[1]};
	bool		found;
	DedupEntry *e;

	e = dedupset_insert(ds->h, k, &found);
	if (!found)
		e->at_s = Seconds(ds, now_us, true);
	return found;
}

void
DedupAdd(DedupSet *ds, const char *key, int64 now_us)
{
	(void) DedupSeen(ds, key, now_us);
}

/* Forget the keys added before older_than_us (to the second, never early). */
void
DedupPrune(DedupSet *ds, int64 older_than_us)
{
	dedupset_iterator it;
	DedupEntry *e;
	int32		cut = Seconds(ds, older_than_us, false);

	dedupset_start_iterate(ds->h, &it);
	while ((e = dedupset_iterate(ds->h, &it)) != NULL)
		if (e->at_s < cut)
			dedupset_delete_item(ds->h, e);
}

long
DedupCount(DedupSet *ds)
{
	return (long) ds->h->members;
}
