/*
 * consumer.c — the librdkafka side of a stream worker.
 *
 * Positions come from gc_stream_offsets only: the consumer never subscribes, it assigns
 * every partition of the topic with explicit offsets (rd_kafka_assign), so there is no
 * group rebalance at all and the broker's committed group offsets are never read
 * (enable.auto.commit=false).  New partitions are found by a periodic metadata refresh.
 * librdkafka's log and error callbacks may run on its own threads, so they only copy the
 * text into a mutex-protected ring that the main loop drains into elog.  Queue events
 * are turned into writes on a pipe that the main loop waits on together with its latch.
 */
#include "postgres.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "stream/stream.h"

#define LOGRING 32
#define LOGLEN 512

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static char log_ring[LOGRING][LOGLEN];
static int	log_level[LOGRING];
static StreamErrorKind log_kind[LOGRING];
static int	log_head = 0,
			log_tail = 0;

static void
RingPush(int level, StreamErrorKind kind, const char *text)
{
	pthread_mutex_lock(&log_mutex);
	if ((log_head + 1) % LOGRING != log_tail)
	{
		strlcpy(log_ring[log_head], text, LOGLEN);
		log_level[log_head] = level;
		log_kind[log_head] = kind;
		log_head = (log_head + 1) % LOGRING;
	}
	pthread_mutex_unlock(&log_mutex);
}

static void
LogCallback(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	char		text[LOGLEN];

	snprintf(text, sizeof(text), "librdkafka %s: %s", fac, buf);
	RingPush(level, STREAM_ERR_TRANSIENT, text);
}

static void
ErrorCallback(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char		text[LOGLEN];

	snprintf(text, sizeof(text), "kafka error: %s: %s", rd_kafka_err2str(err), reason);
	/* level 3 = error: becomes the stream's last_error */
	RingPush(err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ? 3 : 4,
			 STREAM_ERR_KAFKA, text);
}

/* Report queued librdkafka messages from the main thread. */
void
ConsumerDrainLogs(StreamWorker *w)
{
	for (;;)
	{
		char		text[LOGLEN];
		int			level;
		StreamErrorKind kind;

		pthread_mutex_lock(&log_mutex);
		if (log_tail == log_head)
		{
			pthread_mutex_unlock(&log_mutex);
			break;
		}
		memcpy(text, log_ring[log_tail], LOGLEN);
		level = log_level[log_tail];
		kind = log_kind[log_tail];
		log_tail = (log_tail + 1) % LOGRING;
		pthread_mutex_unlock(&log_mutex);
		ereport(level <= 4 ? LOG : DEBUG1,
				(errmsg("stream \"%s\": %s", w->cfg->name, text)));
		if (level <= 3)
			StreamSetError(w, kind, "%s", text);
	}
}

static void
SetConf(rd_kafka_conf_t *conf, const char *k, const char *v, bool user)
{
	char		err[512];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid librdkafka setting \"%s\"", k),
				 errdetail("%s", err),
				 user ? errhint("See the CONFIGURATION.md of librdkafka for consumer properties.") : 0));
	}
}

void
ConsumerCreate(StreamWorker *w)
{
	StreamConfig *cfg = w->cfg;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char		err[512];
	char		group[256];
	ListCell   *lc;

	snprintf(group, sizeof(group), "gcimpute-%u-%s", MyDatabaseId, cfg->name);

	/*
	 * librdkafka (before 2.1) stops fetching a partition for a whole second once its local
	 * queue holds queued.min.messages (100,000) messages: a worker that takes messages
	 * faster than that then runs dry and waits out the rest of the second.  Let the
	 * queue's byte limit (queued.max.messages.kbytes, 64 MB a partition) be the bound
	 * instead.  The stream's own "kafka" settings may change either.
	 */
	SetConf(conf, "queued.min.messages", "10000000", false);
	foreach(lc, cfg->kafka_conf)
	{
		char	  **kv = lfirst(lc);

		SetConf(conf, kv[0], kv[1], true);
	}
	SetConf(conf, "bootstrap.servers", cfg->brokers, false);
	SetConf(conf, "group.id", group, false);
	SetConf(conf, "enable.auto.commit", "false", false);
	SetConf(conf, "enable.auto.offset.store", "false", false);
	/* the end of a partition tells that it has nothing to hold event time back with */
	SetConf(conf, "enable.partition.eof", "true", false);
	SetConf(conf, "auto.offset.reset", "earliest", false);
	SetConf(conf, "log.queue", "true", false);
	SetConf(conf, "client.id", "gcimpute", false);
	rd_kafka_conf_set_log_cb(conf, LogCallback);
	rd_kafka_conf_set_error_cb(conf, ErrorCallback);

	w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (w->rk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not create the Kafka consumer of stream \"%s\"", cfg->name),
				 errdetail("%s", err)));
	/* logs and errors go to the consumer queue and are served by consumer_poll */
	rd_kafka_poll_set_consumer(w->rk);
	rd_kafka_set_log_queue(w->rk, NULL);
	w->queue = rd_kafka_queue_get_consumer(w->rk);
	if (pipe(w->pipefd) != 0)
		elog(ERROR, "could not create a pipe: %m");
	fcntl(w->pipefd[0], F_SETFL, O_NONBLOCK);
	fcntl(w->pipefd[1], F_SETFL, O_NONBLOCK);
	rd_kafka_queue_io_event_enable(w->queue, w->pipefd[1], "1", 1);
	w->nparts = 0;
	w->assigned = false;
}

/*
 * Shutting the client down.  rd_kafka_destroy waits until librdkafka's threads have ended,
 * and a broker thread ends only when every reference to it is gone: messages, events,
 * queues and topic handles the application holds, and the partitions of an assignment
 * (with librdkafka 2.0.2, a consumer whose topic was deleted under it never returns from
 * rd_kafka_destroy, even after a clean close: a partition reference librdkafka itself
 * keeps, as in its issue 4362).
 * So the worker lets go of everything it holds, closes the consumer through a queue it
 * polls for a bounded time (the assignment is dropped and the fetchers stop), and then
 * destroys the handle on a helper thread that it waits for a bounded time: the process
 * is ending, and a client that still does not let go must not keep it alive.
 */
#define CONSUMER_CLOSE_MS 2000
#define CONSUMER_DESTROY_MS 2000

/* Close the consumer; true when librdkafka reports it closed within CONSUMER_CLOSE_MS. */
static bool
ConsumerClose(StreamWorker *w)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(w->rk);
	rd_kafka_error_t *error;
	TimestampTz start = GetCurrentTimestamp();
	bool		closed;

	error = rd_kafka_consumer_close_queue(w->rk, q);
	if (error != NULL)
	{
		ereport(LOG,
				(errmsg("stream \"%s\": could not close the Kafka consumer: %s",
						w->cfg->name, rd_kafka_error_string(error))));
		rd_kafka_error_destroy(error);
	}
	while (!(closed = rd_kafka_consumer_closed(w->rk)) && error == NULL &&
		   !TimestampDifferenceExceeds(start, GetCurrentTimestamp(), CONSUMER_CLOSE_MS))
	{
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);

		if (ev != NULL)
			rd_kafka_event_destroy(ev);
	}
	rd_kafka_queue_destroy(q);
	return closed;
}

/* Messages fetched but never polled hold their partition: hand them back. */
static void
ConsumerDrain(StreamWorker *w)
{
	rd_kafka_event_t *ev;

	for (int i = 0; i < 100000 && (ev = rd_kafka_queue_poll(w->queue, 0)) != NULL; i++)
		rd_kafka_event_destroy(ev);
}

static void *
DestroyThreadMain(void *arg)
{
	rd_kafka_destroy_flags((rd_kafka_t *) arg, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	return NULL;
}

/*
 * rd_kafka_destroy on a thread of its own, waited for at most CONSUMER_DESTROY_MS.  The
 * thread blocks every signal: PostgreSQL's handlers must run on the main thread only.
 */
static bool
ConsumerDestroyBounded(rd_kafka_t *rk)
{
	pthread_t	th;
	sigset_t	all,
				old;
	struct timespec until;
	int			rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&th, NULL, DestroyThreadMain, rk);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return false;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CONSUMER_DESTROY_MS / 1000;
	until.tv_nsec += (long) (CONSUMER_DESTROY_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L)
	{
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(th, NULL, &until) == 0)
		return true;
	pthread_detach(th);
	return false;
}

/*
 * Let go of the client before the worker exits; returns within about
 * CONSUMER_CLOSE_MS + CONSUMER_DESTROY_MS whatever librdkafka does.
 */
void
ConsumerDestroy(StreamWorker *w)
{
	bool		closed;

	if (w->rk == NULL)
		return;
	rd_kafka_queue_io_event_enable(w->queue, -1, NULL, 0);
	ConsumerDrain(w);
	closed = ConsumerClose(w);
	ConsumerDrain(w);
	rd_kafka_queue_destroy(w->queue);
	w->queue = NULL;
	ConsumerDrainLogs(w);
	if (!ConsumerDestroyBounded(w->rk))
		ereport(LOG,
				(errmsg("stream \"%s\": the Kafka client did not shut down within %d ms%s; the worker exits without waiting for it",
						w->cfg->name, CONSUMER_DESTROY_MS, closed ? "" : " (the consumer did not close)")));
	w->rk = NULL;
	close(w->pipefd[0]);
	close(w->pipefd[1]);
}

int
ConsumerPartIndex(StreamWorker *w, int32 partition)
{
	for (int i = 0; i < w->nparts; i++)
		if (w->parts[i] == partition)
			return i;
	return -1;
}

/*
 * The position of a partition in the stream's share ("partitions" option), or -1 when it
 * is not in the share: p itself for the whole topic, p / m for the modulus form (the
 * share is r, r + m, r + 2m, ...), the place in the sorted list otherwise.  Partitions
 * added to the topic later get the next positions, so the worker that owns one is known
 * in advance.
 */
int
ConsumerShareIndex(StreamConfig *cfg, int32 partition)
{
	if (cfg->share_modulus > 0)
		return partition % cfg->share_modulus == cfg->share_remainder ? partition / cfg->share_modulus : -1;
	if (cfg->nshare == 0)
		return partition;
	for (int i = 0; i < cfg->nshare; i++)
		if (cfg->share[i] == partition)
			return i;
	return -1;
}

/*
 * Whether this worker reads a partition of the topic: it is in the stream's share, and
 * its position there falls to this worker ("workers" option: position % workers).
 */
bool
ConsumerOwnsPartition(StreamConfig *cfg, int32 partition)
{
	int			i = ConsumerShareIndex(cfg, partition);

	return i >= 0 && i % Max(cfg->nworkers, 1) == cfg->worker;
}

/*
 * Learn the topic's partitions; assign any new one from its stored offset (or the
 * stream's start position for a first run).  Returns true when the assignment changed.
 */
bool
ConsumerRefreshPartitions(StreamWorker *w, int timeout_ms)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->rk, w->cfg->topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	bool		changed = false;
	rd_kafka_topic_partition_list_t *list;

	err = rd_kafka_metadata(w->rk, 0, rkt, &md, timeout_ms);
	rd_kafka_topic_destroy(rkt);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err)
	{
		StreamSetError(w, STREAM_ERR_TRANSIENT, "cannot read metadata of topic \"%s\": %s",
				 w->cfg->topic,
				 rd_kafka_err2str(err ? err : (md && md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)));
		if (md)
			rd_kafka_metadata_destroy(md);
		return false;
	}
	for (int i = 0; i < md->topics[0].partition_cnt; i++)
	{
		int32		p = md->topics[0].partitions[i].id;

		if (!ConsumerOwnsPartition(w->cfg, p))
			continue;
		if (ConsumerPartIndex(w, p) < 0 && w->nparts < GC_STREAM_MAX_PARTS)
		{
			int			n = w->nparts++;

			w->parts[n] = p;
			/* a partition that appears after the first assignment starts at its beginning */
			w->pos[n] = w->initial_assign_done ? RD_KAFKA_OFFSET_BEGINNING
				: (w->cfg->start == -2 ? RD_KAFKA_OFFSET_BEGINNING
				   : w->cfg->start == -1 ? RD_KAFKA_OFFSET_END : w->cfg->start);
			w->committed[n] = -1;
			w->seen[n] = 0;
			w->pmessages[n] = 0;
			w->pduplicates[n] = 0;
			w->hw[n] = -1;
			w->pmax[n] = 0;
			w->plast[n] = 0;
			w->heard[n] = false;
			w->pclosed[n] = PG_INT64_MIN;
			w->adopted[n] = false;
			changed = true;
		}
	}
	rd_kafka_metadata_destroy(md);
	if (!changed && w->assigned)
		return false;
	w->initial_assign_done = true;

	/* stored offsets win over everything */
	StreamLoadOffsets(w);

	list = rd_kafka_topic_partition_list_new(w->nparts);
	for (int i = 0; i < w->nparts; i++)
		rd_kafka_topic_partition_list_add(list, w->cfg->topic, w->parts[i])->offset = w->pos[i];
	err = rd_kafka_assign(w->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (err)
	{
		StreamSetError(w, STREAM_ERR_TRANSIENT, "cannot assign partitions: %s", rd_kafka_err2str(err));
		return false;
	}
	w->assigned = true;
	return true;
}

/*
 * A partition's log can move under a stream.  When retention (or deleteRecords) has
 * removed the stored offset, or a recreated topic ends before it, the fetch is out of
 * range and librdkafka resets the position to the earliest offset on the log
 * (auto.offset.reset = earliest).  The stream goes on with what the topic holds and says
 * so here, at the first message after the move: messages deleted before the stream read
 * them are lost; on a recreated log none of the messages was handled before, whatever
 * gc_stream_offsets' seen_offset says about the old one.
 */
void
ConsumerCheckPosition(StreamWorker *w, rd_kafka_message_t *m)
{
	int			i = ConsumerPartIndex(w, m->partition);
	int64_t		lo = -1,
				hi = -1;

	if (i < 0 || w->pos[i] < 0 || m->offset == w->pos[i])
		return;
	if (m->offset < w->pos[i])
	{
		ereport(WARNING,
				(errmsg("stream \"%s\": partition %d of topic \"%s\" went back from offset %lld to %lld",
						w->cfg->name, (int) m->partition, w->cfg->topic,
						(long long) w->pos[i], (long long) m->offset),
				 errdetail("The topic was deleted and created again; the stream reads the new log from its start.")));
		w->seen[i] = 0;
		w->pos[i] = m->offset;
		return;
	}
	/* offsets skipped: transaction markers, or a log start that moved past them */
	if (rd_kafka_get_watermark_offsets(w->rk, w->cfg->topic, m->partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		lo <= w->pos[i])
		return;
	ereport(WARNING,
			(errmsg("stream \"%s\": offsets %lld to %lld of partition %d of topic \"%s\" were deleted before the stream read them",
					w->cfg->name, (long long) w->pos[i], (long long) lo - 1,
					(int) m->partition, w->cfg->topic),
			 errdetail("The log of the partition now starts at offset %lld; the stream continues from there.", (long long) lo),
			 errhint("Keep messages on the topic longer (retention.ms) than a stream may be stopped or behind.")));
	StreamSetError(w, STREAM_ERR_TRANSIENT, "partition %d: offsets %lld to %lld were deleted before they were read",
				   (int) m->partition, (long long) w->pos[i], (long long) lo - 1);
	w->pos[i] = Min(lo, m->offset);
}

/*
 * A partition is heard from at its first message or at its end (partition EOF, which
 * librdkafka reports at the stored offset of a partition with nothing to read): until
 * then it holds the stream's event time back (assemble.c, EffectiveTime).  The end also
 * gives a partition never read a real position, so that messages arriving there later
 * show it behind its high watermark.
 */
void
ConsumerHeardFrom(StreamWorker *w, rd_kafka_message_t *m)
{
	int			i = ConsumerPartIndex(w, m->partition);

	if (i < 0)
		return;
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
	{
		if (w->pos[i] < 0 && m->offset >= 0)
			w->pos[i] = m->offset;
		if (!w->heard[i] && w->plast[i] == 0)
			w->nempty++;
	}
	else if (m->err)
		return;
	w->heard[i] = true;
}

/*
 * High watermarks from librdkafka's cache (each fetch response updates it; no broker
 * round trip): a partition whose messages are fetched but not yet read is behind.
 */
void
ConsumerCacheWatermarks(StreamWorker *w)
{
	for (int i = 0; i < w->nparts; i++)
	{
		int64_t		lo = -1,
					hi = -1;

		if (rd_kafka_get_watermark_offsets(w->rk, w->cfg->topic, w->parts[i], &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR)
			hi = -1;
		w->hw[i] = hi;
	}
}

/* Cached high watermarks into the status slot. */
void
ConsumerUpdateWatermarks(StreamWorker *w)
{
	ConsumerCacheWatermarks(w);
	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	w->slot->nparts = w->nparts;
	for (int i = 0; i < w->nparts; i++)
	{
		w->slot->parts[i] = w->parts[i];
		w->slot->high_watermark[i] = w->hw[i];
	}
	LWLockRelease(GcShared->lock);
}
