/*
 * kdump.c
 *		Read a whole Kafka topic (every partition, from the beginning up to the high
 *		watermark seen at start) and print one line per message, for tests.
 *
 *	kdump [-b BROKERS] [-t MS] [-T] [-p] [-X key=value]... TOPIC
 *
 * Each line is "key TAB payload" with backslash, NUL, tab and newline escaped as \\ \0
 * \t \n -- the format of gc_sensor_sim --out, so the two can be compared with sort and
 * diff.  -T prefixes the Kafka message timestamp (ms) and a TAB, -p the partition and
 * offset.  A summary "messages=N partitions=P" goes to stderr.  Exit status 1 when the
 * topic cannot be read completely within the timeout (default 30000 ms).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static void
Escape(FILE *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		char		c = p[i];

		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\0')
			fputs("\\0", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else
			fputc(c, f);
	}
}

static long long
NowMs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	const char *brokers = "127.0.0.1:19092";
	const char *topic;
	int			timeout = 30000;
	int			with_ts = 0,
				with_pos = 0;
	char		err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	const rd_kafka_metadata_t *md;
	rd_kafka_topic_t *rkt;
	rd_kafka_topic_partition_list_t *parts;
	int64_t    *high;
	int			nparts,
				remaining = 0,
				c;
	long long	total = 0,
				deadline;

	while ((c = getopt(argc, argv, "b:t:TpX:")) != -1)
	{
		switch (c)
		{
			case 'b':
				brokers = optarg;
				break;
			case 't':
				timeout = atoi(optarg);
				break;
			case 'T':
				with_ts = 1;
				break;
			case 'p':
				with_pos = 1;
				break;
			case 'X':
				{
					char	   *kv = strdup(optarg),
							   *eq = strchr(kv, '=');

					if (!eq)
					{
						fprintf(stderr, "kdump: -X expects key=value\n");
						return 2;
					}
					*eq = '\0';
					if (rd_kafka_conf_set(conf, kv, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK)
					{
						fprintf(stderr, "kdump: %s\n", err);
						return 2;
					}
					free(kv);
					break;
				}
			default:
				fprintf(stderr, "usage: kdump [-b BROKERS] [-t MS] [-T] [-p] [-X k=v] TOPIC\n");
				return 2;
		}
	}
	if (optind + 1 != argc)
	{
		fprintf(stderr, "usage: kdump [-b BROKERS] [-t MS] [-T] [-p] [-X k=v] TOPIC\n");
		return 2;
	}
	topic = argv[optind];
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "group.id", "kdump", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "enable.partition.eof", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK)
	{
		fprintf(stderr, "kdump: %s\n", err);
		return 2;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
	{
		fprintf(stderr, "kdump: %s\n", err);
		return 2;
	}
	deadline = NowMs() + timeout;
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, timeout) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		md->topic_cnt != 1 || md->topics[0].err)
	{
		fprintf(stderr, "kdump: no metadata for topic %s\n", topic);
		return 1;
	}
	nparts = md->topics[0].partition_cnt;
	high = calloc((size_t) nparts, sizeof(int64_t));
	parts = rd_kafka_topic_partition_list_new(nparts);
	for (int i = 0; i < nparts; i++)
	{
		int32_t		pid = md->topics[0].partitions[i].id;
		int64_t		lo,
					hi;

		if (rd_kafka_query_watermark_offsets(rk, topic, pid, &lo, &hi, timeout))
		{
			fprintf(stderr, "kdump: no watermarks for %s [%d]\n", topic, pid);
			return 1;
		}
		rd_kafka_topic_partition_list_add(parts, topic, pid)->offset = RD_KAFKA_OFFSET_BEGINNING;
		if (pid < nparts)
			high[pid] = hi;
		if (hi > lo)
			remaining++;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (rd_kafka_assign(rk, parts))
	{
		fprintf(stderr, "kdump: assign failed\n");
		return 1;
	}
	while (remaining > 0 && NowMs() < deadline)
	{
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (!m)
			continue;
		if (m->err)
		{
			fprintf(stderr, "kdump: %s\n", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		if (with_pos)
			printf("%d\t%lld\t", (int) m->partition, (long long) m->offset);
		if (with_ts)
			printf("%lld\t", (long long) rd_kafka_message_timestamp(m, NULL));
		Escape(stdout, m->key ? m->key : "", m->key ? m->key_len : 0);
		putchar('\t');
		Escape(stdout, m->payload ? m->payload : "", m->payload ? m->len : 0);
		putchar('\n');
		total++;
		if (m->partition < nparts && m->offset + 1 == high[m->partition])
			remaining--;
		rd_kafka_message_destroy(m);
	}
	fprintf(stderr, "messages=%lld partitions=%d\n", total, nparts);
	rd_kafka_topic_partition_list_destroy(parts);
	free(high);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return remaining > 0 ? 1 : 0;
}
