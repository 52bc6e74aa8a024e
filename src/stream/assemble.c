/*
 * assemble.c — from messages to rows: validation, duplicate dropping, and assembly of
 * rows per (entity, event-time window).
 *
 * Without entity/time columns every message is one row.  With them, a message adds its
 * fields to the row of its entity and window [floor(t/w)*w, +w); a row is written when
 * the stream's event time passes the window's end plus the allowed lateness (after the
 * window ends, wait as long as late data are forecast to take; docs/streaming.md, Rows,
 * windows and lateness).  The stream's
 * event time is the largest event time seen, advanced by the wall clock while the topic
 * is idle, so quiet topics still flush.  A value for a window that was already written
 * goes to the writer as a late row, which updates the written row in place.
 *
 * window "auto": the median gap between an entity's consecutive readings over the first
 * messages (end-to-end latency is lowest when the window equals the arrival period),
 * rounded to 1, 2 or 5 times a power of ten milliseconds so that a restart re-derives
 * the same grid.  lateness "auto": from the best of lognormal, gamma and Weibull fitted to
 * the producer delays (Kafka timestamp minus event time), docs/latency.md.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/memutils.h"

#include "latency/latency.h"
#include "platform/sort.h"

#include "stream/stream.h"

typedef struct PendingEntry
{
	char		hkey[128];
	PendingRow *row;
} PendingEntry;

typedef struct LastSeen
{
	char		entity[128];
	int64		t;
} LastSeen;

typedef struct WarmMsg
{
	int32		partition;
	int64		offset;
	char	   *payload;
	size_t		len;
	char	   *key;
	size_t		keylen;
	int64		ts;
} WarmMsg;

#define WARMUP_GAPS 32
#define WARMUP_MAX_MSGS 5000

void
AssembleInit(StreamWorker *w)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = 128;
	ctl.entrysize = sizeof(PendingEntry);
	ctl.hcxt = w->rows_cxt;
	w->pending = hash_create("gcimpute pending rows", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.entrysize = sizeof(LastSeen);
	w->last_seen = hash_create("gcimpute arrival", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	w->window = w->cfg->window;
	w->eff_high = PG_INT64_MIN;
	w->lateness = w->cfg->lateness;
	w->gaps = MemoryContextAlloc(w->rows_cxt, sizeof(double) * WARMUP_GAPS);
	AssembleInitEntities(w);
}

/* The entities a worker has checked against the other workers (CheckEntityWorker). */
void
AssembleInitEntities(StreamWorker *w)
{
	HASHCTL		ctl;

	if (w->cfg->nworkers <= 1 || !w->cfg->assemble)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(uint64);
	ctl.hcxt = w->rows_cxt;
	w->entities = hash_create("gcimpute entities", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

void
AssembleDeadLetter(StreamWorker *w, int32 partition, int64 offset,
			  const char *payload, size_t len, const char *error)
{
	MemoryContext old = MemoryContextSwitchTo(w->batch_cxt);
	DeadLetter *d = palloc(sizeof(DeadLetter));

	d->partition = partition;
	d->offset = offset;
	d->len = (int) Min(len, (size_t) w->cfg->max_message_bytes + 1);
	d->payload = palloc(d->len + 1);
	if (payload && d->len > 0)
		memcpy(d->payload, payload, d->len);
	d->error = pstrdup(error);
	w->dead = lappend(w->dead, d);
	MemoryContextSwitchTo(old);
}

void
AssembleFreeRow(PendingRow *r)
{
	if (r->entity)
		pfree(r->entity);
	if (r->arena == NULL)
	{
		for (int i = 0; i < r->ncols; i++)
			if (r->texts[i])
				pfree(r->texts[i]);
		if (r->kkey)
			pfree(r->kkey);
		if (r->payload)
			pfree(r->payload);
	}
	list_free_deep(r->keys);
	pfree(r);
}

static PendingRow *NewRowExtra(StreamWorker *w, Size extra);

/* Record a message's partition and offset in its row: the lowest offset per partition. */
static void
RowAddPart(PendingRow *r, int32 partition, int64 offset)
{
	int			i;

	for (i = 0; i < r->nparts; i++)
		if (r->parts[i].partition == partition)
			break;
	if (i == r->nparts && i < (int) lengthof(r->parts))
	{
		r->parts[i].partition = partition;
		r->parts[i].offset = offset;
		r->nparts++;
	}
	else if (i == r->nparts)
	{
		/* more partitions than tracked: pin the lowest offset of the last slot */
		r->parts[i - 1].offset = Min(r->parts[i - 1].offset, offset);
	}
	else
		r->parts[i].offset = Min(r->parts[i].offset, offset);
}

/*
 * AssembleMergeRow: a later piece of the same entity and window (src, an assembled row,
 * not in append mode) into an earlier one, as if its messages had been assembled into it;
 * src keeps nothing and is marked merged.  Late pieces of one window read in different
 * poll rounds of one batch are two rows until the writer merges them.
 */
void
AssembleMergeRow(PendingRow *dst, PendingRow *src, int nvalues)
{
	for (int v = 0; v < nvalues; v++)
		if (src->have[v])
		{
			dst->vals[v] = src->vals[v];
			dst->have[v] = true;
		}
	for (int c = 0; c < src->ncols; c++)
		if (src->texts[c])
		{
			if (dst->texts[c])
				pfree(dst->texts[c]);
			dst->texts[c] = src->texts[c];
			src->texts[c] = NULL;
		}
	if (src->kkey)
	{
		if (dst->kkey)
			pfree(dst->kkey);
		dst->kkey = src->kkey;
		src->kkey = NULL;
	}
	for (int k = 0; k < src->nparts; k++)
		RowAddPart(dst, src->parts[k].partition, src->parts[k].offset);
	dst->event_us = Min(dst->event_us, src->event_us);
	dst->kafka_ts_ms = Max(dst->kafka_ts_ms, src->kafka_ts_ms);
	dst->partition = src->partition;
	dst->offset = src->offset;
	dst->keys = list_concat(dst->keys, src->keys);
	list_free(src->keys);
	src->keys = NIL;
	dst->nmsgs += src->nmsgs;
	src->nmsgs = 0;
	src->merged = true;
}

/* entities remembered as checked, at most; past that the set starts again */
#define ENTITIES_CHECKED_MAX 1000000
/* conflicting entities named in a WARNING each, at most, per worker */
#define ENTITY_WARNINGS_MAX 10

/*
 * Row assembly needs all of an entity's messages in one worker.  With several workers
 * the first time a worker sees an entity it claims it in shared memory; an entity that
 * another worker of the stream claimed first (it arrives on partitions of two workers:
 * the producers do not key by entity) is counted, named in a WARNING and in last_error.
 * Its rows are then assembled twice, each worker writing its part.
 */
static void
CheckEntityWorker(StreamWorker *w, const char *entity, int32 partition)
{
	uint64		h = hash_bytes_extended((const unsigned char *) entity, strlen(entity), 0);
	bool		found;
	int			other_worker;
	int32		other_partition;

	if (hash_get_num_entries(w->entities) >= ENTITIES_CHECKED_MAX)
	{
		hash_destroy(w->entities);
		w->entities = NULL;
		AssembleInitEntities(w);
	}
	(void) hash_search(w->entities, &h, HASH_ENTER, &found);
	if (found || gc_stream_claim_entity(w->cfg->id, w->cfg->worker, w->cfg->nworkers, h, partition,
										&other_worker, &other_partition))
		return;
	w->entity_conflicts++;
	StreamSetError(w, STREAM_ERR_ENTITY,
				   "entity \"%.100s\" arrives on partition %d (worker %d) and partition %d (worker %d): key messages by entity",
				   entity, (int) other_partition, other_worker, (int) partition, w->cfg->worker);
	if (w->entity_conflicts <= ENTITY_WARNINGS_MAX)
		ereport(WARNING,
				(errmsg("stream \"%s\": entity \"%s\" arrives on partition %d (worker %d) and partition %d (worker %d)",
						w->cfg->name, entity, (int) other_partition, other_worker, (int) partition, w->cfg->worker),
				 errdetail("Rows are assembled within one worker: this entity's rows are written in parts by two workers."),
				 errhint("Key the messages by entity, so that all of an entity's messages reach one partition.")));
}

static PendingRow *
NewRow(StreamWorker *w)
{
	return NewRowExtra(w, 0);
}

/* A copy of len bytes (plus a NUL) in the row's own block; see NewRowExtra. */
static char *
RowCopy(PendingRow *r, const char *src, size_t len)
{
	char	   *dst = r->arena + r->arena_used;

	Assert(r->arena_used + len + 1 <= r->arena_size);
	memcpy(dst, src, len);
	dst[len] = '\0';
	r->arena_used += len + 1;
	return dst;
}

/*
 * A row with extra bytes after its arrays: a row of one message (append mode) keeps its
 * strings there (payload, texts, Kafka key, dedup key), so that it is one palloc and
 * one pfree instead of about eight.
 */
static PendingRow *
NewRowExtra(StreamWorker *w, Size extra)
{
	/* one allocation per row: the row, then its values, text pointers and flags */
	int			nv = Max(w->cfg->nvalues, 1);
	Size		base = MAXALIGN(sizeof(PendingRow));
	Size		tpos = base + MAXALIGN(sizeof(double) * nv);
	Size		fpos = tpos + MAXALIGN(sizeof(char *) * Max(w->cfg->ncols, 1));
	Size		apos = fpos + 2 * nv;
	char	   *mem = palloc0(apos + extra);
	PendingRow *r = (PendingRow *) mem;

	if (extra > 0)
	{
		r->arena = mem + apos;
		r->arena_size = extra;
	}

	r->vals = (double *) (mem + base);
	r->texts = (char **) (mem + tpos);
	r->have = (bool *) (mem + fpos);
	r->imp = r->have + nv;
	r->ncols = w->cfg->ncols;
	return r;
}

/*
 * The stream's event time: the slowest partition's progress, so that one partition read
 * ahead of another (at start-up or after a restart) does not make the other's readings
 * look late.  A partition not heard from yet (neither a message nor its end), or with
 * unread messages and none delivered, holds windows open; an idle partition (nothing
 * unread) advances with the wall clock (one found empty from the stream's first reading
 * on, AdoptEmptyPartitions).
 */
static int64
EffectiveTime(StreamWorker *w, int64 now_us)
{
	int64		eff = PG_INT64_MAX;
	bool		any = false;
	bool		hold = false;

	for (int i = 0; i < w->nparts; i++)
	{
		bool		behind = (w->hw[i] >= 0 && w->pos[i] >= 0 && w->hw[i] > w->pos[i]);
		int64		cand;

		if (w->plast[i] == 0)
		{
			if (behind || !w->heard[i])
				hold = true;
			continue;
		}
		cand = w->pmax[i] + (behind ? 0 : Max(0, now_us - w->plast[i]));
		eff = Min(eff, cand);
		any = true;
	}
	/* before the first reading there is no event time to advance from */
	if (hold || w->last_arrival_us == 0)
		eff = PG_INT64_MIN;
	else if (!any)
		eff = w->max_event_us + Max(0, now_us - w->last_arrival_us);
	/* never move back: a window closed once stays closed (later data updates it) */
	w->eff_high = Max(w->eff_high, eff);
	return w->eff_high;
}

/*
 * A partition found empty before the stream read anything has no event time of its own:
 * it takes the first reading the stream sees after that, as if it had delivered it, and
 * from there advances with the wall clock like any idle partition.  Messages that reach
 * it later stop that advance (it is behind), so a backlog fetched from its neighbours
 * first does not close the windows its own messages still fill.
 */
static void
AdoptEmptyPartitions(StreamWorker *w, int64 event_us, int64 now_us)
{
	for (int i = 0; i < w->nparts; i++)
		if (w->heard[i] && w->plast[i] == 0)
		{
			w->pmax[i] = event_us;
			w->plast[i] = now_us;
			w->adopted[i] = true;
		}
	w->nempty = 0;
}

/*
 * The allowed lateness.  "auto": the latency distribution that fits the recent producer
 * delays best (lognormal, gamma or Weibull by AIC, src/latency/latency.h, docs/latency.md),
 * and the wait after a window's end until 99% of its readings have arrived;
 * refitted every 200 new delays.
 */
static int64
LatenessUs(StreamWorker *w)
{
	if (w->cfg->lateness_auto && w->ndelays >= 30 && w->ndelays - w->delays_at_fit >= 200)
	{
		int			n = Min(w->ndelays, (int) lengthof(w->delays));
		double		x[lengthof(w->delays)];
		gc_latency_fit_result r;

		memcpy(x, w->delays, sizeof(double) * n);	/* the fit sorts its input */
		if (gc_latency_fit(x, n, &r, NULL) == GC_LAT_OK)
		{
			double		q = gc_latency_allowed_lateness(&r.fits[r.best], 0.99, w->window);

			if (isfinite(q))
			{
				if (w->delays_at_fit == 0)
					ereport(LOG,
							(errmsg("stream \"%s\": auto lateness %.3f s (%s fit of %d delays)",
									w->cfg->name, Min(Max(q, 0.0), 3600.0),
									gc_latency_family_name(r.fits[r.best].family), n)));
				w->lateness = Min(Max(q, 0.0), 3600.0);
			}
		}
		w->delays_at_fit = w->ndelays;
	}
	return (int64) (w->lateness * 1e6);
}

/* A replayed message that was handled before the restart (its dead letter is written). */
static bool
SeenBefore(StreamWorker *w, int32 partition, int64 offset)
{
	int			i = ConsumerPartIndex(w, partition);

	return i >= 0 && offset < w->seen[i];
}

/*
 * A message handled for the first time counts towards its partition's stored total; a
 * replay after a restart (below seen) was counted in the transaction that stored seen.
 */
static void
CountFirstSeen(StreamWorker *w, int32 partition, int64 offset)
{
	int			i = ConsumerPartIndex(w, partition);

	if (i >= 0 && offset >= w->seen[i])
		w->pmessages[i]++;
}

static void
MarkProcessed(StreamWorker *w, int32 partition, int64 offset)
{
	int			i = ConsumerPartIndex(w, partition);

	if (i >= 0)
		w->pos[i] = offset + 1;
}

/* Decode, validate, dedup and assemble one message. */
/*
 * The dedup key of a decoded message, "publisher<US>data_id", if its fields pass the
 * checks AssembleMessage makes; its length, or 0.
 */
static size_t
MessageKey(StreamConfig *cfg, Decoded *d, char *dkey)
{
	int			fp = cfg->f_publisher,
				fd = cfg->f_data;
	size_t		lp,
				ld;

	if (d->kind[fp] != FK_STRING && !(cfg->csv && d->kind[fp] == FK_NUMBER))
		return 0;
	if (d->kind[fd] != FK_NUMBER || strspn(d->val[fd], "0123456789") != (size_t) d->len[fd])
		return 0;
	lp = d->len[fp];
	ld = d->len[fd];
	if (lp + ld >= 250)
		return 0;
	memcpy(dkey, d->val[fp], lp);
	dkey[lp] = '\x1f';
	memcpy(dkey + lp + 1, d->val[fd], ld + 1);
	return lp + 1 + ld;
}

/*
 * Decode a message before its turn (the worker's poll loop calls this for the next
 * message before it assembles the current one) and start loading its dedup slot.
 * AssembleMessage then finds the result by the payload pointer.
 */
void
AssemblePrepare(StreamWorker *w, const char *payload, size_t len)
{
	StreamConfig *cfg = w->cfg;
	Prepared   *p = &w->prep[w->prep_next];

	if (p->d == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		p->d = DecodedCreate(cfg);
		initStringInfo(&p->scratch);
		MemoryContextSwitchTo(old);
	}
	w->prep_next ^= 1;
	p->payload = payload;
	p->len = len;
	p->has_hash = false;
	resetStringInfo(&p->scratch);
	p->error = NULL;
	p->ok = DecodeMessage(cfg, payload, len, p->d, &p->scratch, &p->error);
	if (p->ok && cfg->dedup)
	{
		char		dkey[300];

		p->dklen = MessageKey(cfg, p->d, dkey);
		if (p->dklen > 0)
		{
			DedupHashPrefetch(w->dedup, dkey, p->dklen, p->h);
			p->has_hash = true;
		}
	}
	else if (!p->ok && p->error == NULL)
		p->error = "message could not be decoded";
}

void
AssembleMessage(StreamWorker *w, int32 partition, int64 offset,
				const char *payload, size_t len, const char *kkey, size_t keylen,
				int64 kafka_ts_ms, int64 now_us)
{
	StreamConfig *cfg = w->cfg;
	Decoded    *d = w->dec;
	Prepared   *prep = NULL;
	char	   *error = NULL;
	char		dkey[300];
	size_t		dklen = 0;
	bool		has_key = false;
	int64		event_us = 0;
	const char *entity = NULL;
	double	   *vals;
	bool	   *have;
	MemoryContext old;
	PendingRow *r;

	w->messages++;
	CountFirstSeen(w, partition, offset);
	MarkProcessed(w, partition, offset);
	for (int i = 0; i < 2; i++)
		if (w->prep[i].payload == payload && w->prep[i].len == len)
			prep = &w->prep[i];
	if (prep)
	{
		/* decoded ahead by AssemblePrepare */
		d = prep->d;
		prep->payload = NULL;
		if (!prep->ok)
			error = prep->error;
	}
	else
	{
		resetStringInfo(&w->scratch);
		if (!DecodeMessage(cfg, payload, len, d, &w->scratch, &error) && error == NULL)
			error = "message could not be decoded";
	}
	if (error)
	{
		if (!SeenBefore(w, partition, offset))
			AssembleDeadLetter(w, partition, offset, payload, len, error);
		return;
	}

	/* per-message scratch, allocated once */
	if (w->msg_vals == NULL)
	{
		w->msg_vals = MemoryContextAlloc(TopMemoryContext, sizeof(double) * Max(cfg->nvalues, 1));
		w->msg_have = MemoryContextAlloc(TopMemoryContext, sizeof(bool) * Max(cfg->nvalues, 1));
	}
	vals = w->msg_vals;
	have = w->msg_have;
	memset(have, 0, sizeof(bool) * Max(cfg->nvalues, 1));
	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];
		int			f = col->field;

		if (col->role != ROLE_VALUE || f < 0)
			continue;
		switch (d->kind[f])
		{
			case FK_ABSENT:
			case FK_NULL:
				break;
			case FK_NUMBER:
			case FK_STRING:
				if (d->numok[f])
					vals[col->value] = d->num[f];
				else if (!DecodeNumber(d->val[f], &vals[col->value]))
				{
					error = psprintf("field \"%s\" of column \"%s\" is not a number: %.40s",
									 cfg->fields[f], col->name, d->val[f]);
					break;
				}
				if (col->integral && (vals[col->value] != rint(vals[col->value]) ||
									  fabs(vals[col->value]) > 9.2e18 ||
									  (col->type != INT8OID && fabs(vals[col->value]) > 2147483647.0) ||
									  (col->type == INT2OID && fabs(vals[col->value]) > 32767.0)))
				{
					error = psprintf("field \"%s\" value %.40s does not fit integer column \"%s\"",
									 cfg->fields[f], d->val[f], col->name);
					break;
				}
				have[col->value] = true;
				break;
			default:
				error = psprintf("field \"%s\" of column \"%s\" is not a number", cfg->fields[f], col->name);
		}
		if (error)
			break;
	}
	if (!error && cfg->assemble)
	{
		if (d->kind[cfg->f_entity] != FK_STRING && !(cfg->csv && d->kind[cfg->f_entity] == FK_NUMBER))
			error = psprintf("entity field \"%s\" is missing or not a string", cfg->fields[cfg->f_entity]);
		else if (strlen(d->val[cfg->f_entity]) > 100)
			error = psprintf("entity field \"%s\" is longer than 100 bytes", cfg->fields[cfg->f_entity]);
		else
			entity = d->val[cfg->f_entity];
		if (!error && !DecodeEventTime(cfg, d->kind[cfg->f_time], d->val[cfg->f_time], &event_us, &error))
			error = psprintf("event time field \"%s\": %s", cfg->fields[cfg->f_time], error);
	}
	if (error)
	{
		if (!SeenBefore(w, partition, offset))
			AssembleDeadLetter(w, partition, offset, payload, len, error);
		return;
	}

	/* the message identity: required when duplicates are dropped */
	if (!error && cfg->dedup)
	{
		int			fp = cfg->f_publisher,
					fd = cfg->f_data;

		/* JSON has types: a string publisher and an integer data id; CSV has none */
		if (d->kind[fp] != FK_STRING && !(cfg->csv && d->kind[fp] == FK_NUMBER))
			error = psprintf("field \"%s\" (the publisher id) is missing or not a string", cfg->fields[fp]);
		else if (d->kind[fd] != FK_NUMBER)
			error = psprintf("field \"%s\" (the data id) is missing or not a number", cfg->fields[fd]);
		else if (strspn(d->val[fd], "0123456789") != (size_t) d->len[fd])
			error = psprintf("field \"%s\" (the data id) is not a non-negative integer: %.40s", cfg->fields[fd], d->val[fd]);
		else if (d->len[fp] + d->len[fd] >= 250)
			error = psprintf("fields \"%s\" and \"%s\" are too long", cfg->fields[fp], cfg->fields[fd]);
	}
	if (error)
	{
		if (!SeenBefore(w, partition, offset))
			AssembleDeadLetter(w, partition, offset, payload, len, error);
		return;
	}

	/* duplicate-instance rule on (publisher_id, data_id) */
	if (cfg->dedup)
	{
		/* publisher, unit separator, data id (lengths checked above) */
		size_t		lp = d->len[cfg->f_publisher],
					ld = d->len[cfg->f_data];

		memcpy(dkey, d->val[cfg->f_publisher], lp);
		dkey[lp] = '\x1f';
		memcpy(dkey + lp + 1, d->val[cfg->f_data], ld + 1);
		dklen = lp + 1 + ld;
		has_key = true;
	}
	else if (cfg->assemble)
	{
		/* replay protection for assembled rows of messages without ids */
		dklen = snprintf(dkey, sizeof(dkey), "\x1e%d\x1f" INT64_FORMAT, partition, offset);
		has_key = true;
	}
	if (has_key && (prep && prep->has_hash && prep->dklen == dklen && cfg->dedup
					? DedupSeenHash(w->dedup, prep->h, now_us)
					: DedupSeenLen(w->dedup, dkey, dklen, now_us)))
	{
		if (!SeenBefore(w, partition, offset))
		{
			int			i = ConsumerPartIndex(w, partition);

			w->duplicates++;
			if (i >= 0)
				w->pduplicates[i]++;
		}
		return;
	}

	old = MemoryContextSwitchTo(w->rows_cxt);
	if (!cfg->assemble)
	{
		Size		extra = len + 1;

		for (int c = 0; c < cfg->ncols; c++)
		{
			int			f = cfg->cols[c].field;

			if (cfg->cols[c].role == ROLE_TEXT && f >= 0 && d->kind[f] != FK_ABSENT &&
				d->kind[f] != FK_NULL)
				extra += d->len[f] + 1;
		}
		if (kkey)
			extra += keylen + 1;
		if (has_key)
			extra += dklen + 1;
		r = NewRowExtra(w, extra);
		r->payload = RowCopy(r, payload, len);
		r->payload_len = (int) len;
		w->ready = lappend(w->ready, r);
	}
	else
	{
		int64		win_us = (int64) (w->window * 1e6);
		int64		ws;
		char		hkey[128];
		bool		found;
		PendingEntry *e;

		if (kafka_ts_ms > 0)
		{
			double		delay = kafka_ts_ms / 1e3 - event_us / 1e6;

			if (delay > 1e-4 && delay < 1e6)
				w->delays[w->ndelays++ % lengthof(w->delays)] = delay;
		}
		if (event_us > w->max_event_us || w->max_event_us == 0)
			w->max_event_us = Max(event_us, w->max_event_us);
		w->last_arrival_us = now_us;
		{
			int			pi = ConsumerPartIndex(w, partition);

			if (w->nempty > 0)
				AdoptEmptyPartitions(w, event_us, now_us);
			if (pi >= 0)
			{
				if (w->plast[pi] == 0 || w->adopted[pi] || event_us > w->pmax[pi])
					w->pmax[pi] = event_us;
				w->plast[pi] = now_us;
				w->adopted[pi] = false;
			}
		}
		ws = (event_us >= 0 ? event_us / win_us : -((-event_us + win_us - 1) / win_us)) * win_us;
		snprintf(hkey, sizeof(hkey), INT64_FORMAT "\x1f%s", ws, entity);
		e = hash_search(w->pending, hkey, HASH_ENTER, &found);
		if (!found && w->entities != NULL)
			CheckEntityWorker(w, entity, partition);
		if (!found)
		{
			e->row = NewRow(w);
			strlcpy(e->row->hkey, hkey, sizeof(e->row->hkey));
			e->row->entity = pstrdup(entity);
			e->row->win_start = ws;
			e->row->event_us = event_us;
			e->row->late = (ws + win_us + LatenessUs(w) <= EffectiveTime(w, now_us));
		}
		r = e->row;
		r->event_us = Min(r->event_us, event_us);
		/* a late row stays here so that other late pieces merge into it */
	}

	for (int v = 0; v < cfg->nvalues; v++)
		if (have[v])
		{
			r->vals[v] = vals[v];
			r->have[v] = true;
		}
	for (int c = 0; c < cfg->ncols; c++)
	{
		int			f = cfg->cols[c].field;

		if (cfg->cols[c].role == ROLE_TEXT && f >= 0 && d->kind[f] != FK_ABSENT)
		{
			if (r->arena)
				r->texts[c] = d->kind[f] == FK_NULL ? NULL : RowCopy(r, d->val[f], d->len[f]);
			else
			{
				if (r->texts[c])
					pfree(r->texts[c]);
				r->texts[c] = d->kind[f] == FK_NULL ? NULL : pstrdup(d->val[f]);
			}
		}
	}
	if (kkey)
	{
		if (r->arena)
			r->kkey = RowCopy(r, kkey, keylen);
		else
		{
			if (r->kkey)
				pfree(r->kkey);
			r->kkey = pnstrdup(kkey, keylen);
		}
	}
	r->partition = partition;
	r->offset = offset;
	r->kafka_ts_ms = Max(r->kafka_ts_ms, kafka_ts_ms);
	RowAddPart(r, partition, offset);
	if (has_key && r->arena)
	{
		r->key1 = RowCopy(r, dkey, dklen);
		r->key1_len = (int) dklen;
	}
	else if (has_key)
		r->keys = lappend(r->keys, pstrdup(dkey));
	r->nmsgs++;
	MemoryContextSwitchTo(old);
}

/* 1, 2 or 5 times a power of ten milliseconds, nearest to s on a log scale. */
static double
NiceWindow(double s)
{
	double		best = 1.0,
				bestd = INFINITY;

	for (int e = -3; e <= 5; e++)
		for (int m = 0; m < 3; m++)
		{
			double		c = (m == 0 ? 1 : m == 1 ? 2 : 5) * pow(10.0, e);
			double		dist = fabs(log(c) - log(s));

			if (dist < bestd)
			{
				bestd = dist;
				best = c;
			}
		}
	return best;
}

/*
 * Auto window warm-up: hold the first messages until the arrival period is known, then
 * assemble them.  Called instead of AssembleMessage while w->window == 0.
 */
void
AssembleWarmupMessage(StreamWorker *w, rd_kafka_message_t *m, int64 now_us)
{
	StreamConfig *cfg = w->cfg;
	MemoryContext old = MemoryContextSwitchTo(w->rows_cxt);
	WarmMsg    *wm = palloc0(sizeof(WarmMsg));
	char	   *error;
	rd_kafka_timestamp_type_t tstype;
	ListCell   *lc;
	List	   *msgs;

	wm->partition = m->partition;
	wm->offset = m->offset;
	wm->len = m->len;
	wm->payload = palloc(m->len + 1);
	if (m->len)
		memcpy(wm->payload, m->payload, m->len);
	if (m->key)
	{
		wm->key = palloc(m->key_len + 1);
		memcpy(wm->key, m->key, m->key_len);
		wm->keylen = m->key_len;
	}
	wm->ts = rd_kafka_message_timestamp(m, &tstype);
	w->warmup = lappend(w->warmup, wm);
	MemoryContextSwitchTo(old);

	resetStringInfo(&w->scratch);
	if (DecodeMessage(cfg, wm->payload, wm->len, w->dec, &w->scratch, &error) &&
		(w->dec->kind[cfg->f_entity] == FK_STRING || w->dec->kind[cfg->f_entity] == FK_NUMBER) &&
		strlen(w->dec->val[cfg->f_entity]) < 100)
	{
		int64		t;

		if (DecodeEventTime(cfg, w->dec->kind[cfg->f_time], w->dec->val[cfg->f_time], &t, &error))
		{
			bool		found;
			LastSeen   *ls = hash_search(w->last_seen, w->dec->val[cfg->f_entity], HASH_ENTER, &found);

			if (found && t > ls->t && w->ngaps < WARMUP_GAPS)
				w->gaps[w->ngaps++] = (t - ls->t) / 1e6;
			if (!found || t > ls->t)
				ls->t = t;
		}
	}
	if (w->ngaps < WARMUP_GAPS && list_length(w->warmup) < WARMUP_MAX_MSGS)
		return;

	if (w->ngaps > 0)
	{
		gc_sort_doubles(w->gaps, w->ngaps);
		w->window = NiceWindow(w->gaps[w->ngaps / 2]);
	}
	else
		w->window = 1.0;
	ereport(LOG, (errmsg("stream \"%s\": auto window is %g s (median arrival gap over %d readings)",
						 cfg->name, w->window, w->ngaps)));
	msgs = w->warmup;
	w->warmup = NIL;
	foreach(lc, msgs)
	{
		WarmMsg    *x = lfirst(lc);

		AssembleMessage(w, x->partition, x->offset, x->payload, x->len, x->key, x->keylen, x->ts, now_us);
		pfree(x->payload);
		if (x->key)
			pfree(x->key);
	}
	list_free_deep(msgs);
}

/* Move rows whose window closed (or all rows) to the ready list; returns how many. */
int
AssembleCloseWindows(StreamWorker *w, int64 now_us, bool all)
{
	HASH_SEQ_STATUS st;
	PendingEntry *e;
	int			n = 0;
	int64		win_us,
				late_us,
				eff;

	if (!w->cfg->assemble || w->window <= 0)
		return 0;
	win_us = (int64) (w->window * 1e6);
	late_us = LatenessUs(w);
	eff = EffectiveTime(w, now_us);
	hash_seq_init(&st, w->pending);
	while ((e = hash_seq_search(&st)) != NULL)
	{
		if (all || e->row->late || e->row->win_start + win_us + late_us <= eff)
		{
			w->ready = lappend(w->ready, e->row);
			hash_search(w->pending, e->hkey, HASH_REMOVE, NULL);
			n++;
		}
	}
	return n;
}

/*
 * The offsets that may be committed: per partition, the next offset to process, held
 * back to the first message of any row not written yet (so a crash replays it).
 */
void
AssembleCommitOffsets(StreamWorker *w, int64 *next)
{
	HASH_SEQ_STATUS st;
	PendingEntry *e;
	ListCell   *lc;

	for (int i = 0; i < w->nparts; i++)
		next[i] = w->pos[i];
	if (w->pending)
	{
		hash_seq_init(&st, w->pending);
		while ((e = hash_seq_search(&st)) != NULL)
			for (int k = 0; k < e->row->nparts; k++)
			{
				int			i = ConsumerPartIndex(w, e->row->parts[k].partition);

				if (i >= 0 && (next[i] < 0 || e->row->parts[k].offset < next[i]))
					next[i] = e->row->parts[k].offset;
			}
	}
	foreach(lc, w->warmup)
	{
		WarmMsg    *x = lfirst(lc);
		int			i = ConsumerPartIndex(w, x->partition);

		if (i >= 0 && (next[i] < 0 || x->offset < next[i]))
			next[i] = x->offset;
	}
}
