/*
 * dedup.c — the duplicate-instance rule: a message whose (publisher_id, data_id) was
 * already seen is dropped (seeds/001, Algorithm 2 and Fig. 10C).
 *
 * The in-memory set keeps a 128-bit hash of each key (two independent 64-bit hashes, so
 * a false "duplicate" needs a 128-bit collision) with the time it was added, and forgets
 * keys older than the stream's dedup_retention.  The keys themselves are made durable in
 * gc_stream_dedup by the writer, in the transaction that writes the message's row, and
 * loaded back here when the worker starts.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/hsearch.h"

#include "stream.h"

typedef struct DedupKey
{
	uint64		h1;
	uint64		h2;
} DedupKey;

typedef struct DedupEntry
{
	DedupKey	key;
	int64		at;
} DedupEntry;

struct DedupSet
{
	HTAB	   *h;
};

/* the key is already a strong hash: its first word is the table's hash value */
static uint32
DedupHash(const void *key, Size keysize)
{
	return (uint32) ((const DedupKey *) key)->h1;
}

DedupSet *
DedupCreate(MemoryContext mcxt)
{
	HASHCTL		ctl;
	DedupSet   *ds = MemoryContextAlloc(mcxt, sizeof(DedupSet));

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(DedupKey);
	ctl.entrysize = sizeof(DedupEntry);
	ctl.hash = DedupHash;
	ctl.hcxt = mcxt;
	ds->h = hash_create("gcimpute dedup", 1 << 20, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_CONTEXT);
	return ds;
}

static void
HashKey(const char *key, DedupKey *k)
{
	size_t		len = strlen(key);

	k->h1 = hash_bytes_extended((const unsigned char *) key, (int) len, UINT64CONST(0x9E3779B97F4A7C15));
	k->h2 = hash_bytes_extended((const unsigned char *) key, (int) len, UINT64CONST(0xC2B2AE3D27D4EB4F));
}

/* True if key was seen; otherwise remember it (now) and return false. */
bool
DedupSeen(DedupSet *ds, const char *key, int64 now_us)
{
	DedupKey	k;
	bool		found;
	DedupEntry *e;

	HashKey(key, &k);
	e = hash_search(ds->h, &k, HASH_ENTER, &found);
	if (!found)
		e->at = now_us;
	return found;
}

void
DedupAdd(DedupSet *ds, const char *key, int64 now_us)
{
	(void) DedupSeen(ds, key, now_us);
}

void
DedupPrune(DedupSet *ds, int64 older_than_us)
{
	HASH_SEQ_STATUS st;
	DedupEntry *e;

	hash_seq_init(&st, ds->h);
	while ((e = hash_seq_search(&st)) != NULL)
		if (e->at < older_than_us)
			hash_search(ds->h, &e->key, HASH_REMOVE, NULL);
}

long
DedupCount(DedupSet *ds)
{
	return hash_get_num_entries(ds->h);
}
