/*
 * kafka_tool.c — small librdkafka client for the stream tests.
 *
 *   kafka_tool produce BROKERS TOPIC < lines     one message per line; a line
 *                                                 "@P<TAB>payload" goes to partition P,
 *                                                 "\N" alone is an empty message
 *   kafka_tool create BROKERS TOPIC PARTITIONS   create a topic (admin API)
 *   kafka_tool partitions BROKERS TOPIC N        grow a topic to N partitions
 *   kafka_tool delete-records BROKERS TOPIC P OFFSET
 *                                                 move partition P's log start to OFFSET
 *                                                 (what retention does), print the new start
 *   kafka_tool delete-topic BROKERS TOPIC        delete a topic (admin API)
 *   kafka_tool mock BOOTSTRAP_FILE TOPIC PARTS   run a librdkafka mock cluster until killed
 *   kafka_tool rate BROKERS TOPIC RATE SECONDS ENTITIES SEED
 *                                                 paced JSON sensor readings (8 fields, some
 *                                                 dropped) stamped with the send time
 *
 * Lines may contain "\0" (a NUL byte is written in its place) to test NUL handling.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop = 0;

static void
on_signal(int sig)
{
	stop = 1;
}

static rd_kafka_t *
make_producer(const char *brokers)
{
	char		err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
		rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)) ||
		rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof(err)) ||
		rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)))
	{
		fprintf(stderr, "conf: %s\n", err);
		exit(2);
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));

	if (!rk)
	{
		fprintf(stderr, "producer: %s\n", err);
		exit(2);
	}
	return rk;
}

static int
produce_one(rd_kafka_t *rk, const char *topic, int partition, const char *buf, size_t len)
{
	for (;;)
	{
		rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
												  RD_KAFKA_V_PARTITION(partition),
												  RD_KAFKA_V_VALUE((void *) buf, len),
												  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
												  RD_KAFKA_V_END);

		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		{
			rd_kafka_poll(rk, 10);
			continue;
		}
		if (e)
		{
			fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
			return 1;
		}
		return 0;
	}
}

static int
finish(rd_kafka_t *rk)
{
	rd_kafka_resp_err_t e = rd_kafka_flush(rk, 60000);

	rd_kafka_destroy(rk);
	if (e)
	{
		fprintf(stderr, "flush: %s\n", rd_kafka_err2str(e));
		return 1;
	}
	return 0;
}

static int
cmd_produce(const char *brokers, const char *topic)
{
	rd_kafka_t *rk = make_producer(brokers);
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	long		count = 0;

	while ((n = getline(&line, &cap, stdin)) >= 0)
	{
		int			partition = RD_KAFKA_PARTITION_UA;
		char	   *p = line;
		size_t		len;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (p[0] == '@')
		{
			char	   *tab = strchr(p, '\t');

			if (tab)
			{
				partition = atoi(p + 1);
				p = tab + 1;
			}
		}
		len = strlen(p);
		if (strcmp(p, "\\N") == 0)
			len = 0;
		/* "\0" -> NUL byte */
		for (size_t i = 0; i + 1 < len; i++)
			if (p[i] == '\\' && p[i + 1] == '0')
			{
				p[i] = '\0';
				memmove(p + i + 1, p + i + 2, len - i - 1);
				len--;
			}
		if (produce_one(rk, topic, partition, p, len))
			return 1;
		count++;
		rd_kafka_poll(rk, 0);
	}
	free(line);
	fprintf(stderr, "produced %ld messages\n", count);
	return finish(rk);
}

static int
admin_wait(rd_kafka_t *rk, rd_kafka_queue_t *q, int type)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
	int			rc = 0;

	if (!ev)
	{
		fprintf(stderr, "admin: timeout\n");
		return 1;
	}
	if (rd_kafka_event_error(ev))
	{
		fprintf(stderr, "admin: %s\n", rd_kafka_event_error_string(ev));
		rc = 1;
	}
	else if (type == 0)
	{
		size_t		cnt;
		const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);

		for (size_t i = 0; i < cnt; i++)
			if (rd_kafka_topic_result_error(res[i]) &&
				rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			{
				fprintf(stderr, "create: %s\n", rd_kafka_topic_result_error_string(res[i]));
				rc = 1;
			}
	}
	else
	{
		size_t		cnt;
		const rd_kafka_topic_result_t **res = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &cnt);

		for (size_t i = 0; i < cnt; i++)
			if (rd_kafka_topic_result_error(res[i]))
			{
				fprintf(stderr, "partitions: %s\n", rd_kafka_topic_result_error_string(res[i]));
				rc = 1;
			}
	}
	rd_kafka_event_destroy(ev);
	return rc;
}

static int
cmd_create(const char *brokers, const char *topic, int parts, int grow)
{
	rd_kafka_t *rk = make_producer(brokers);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	char		err[512];
	int			rc;

	if (!grow)
	{
		rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(topic, parts, 1, err, sizeof(err));

		rd_kafka_CreateTopics(rk, &t, 1, NULL, q);
		rc = admin_wait(rk, q, 0);
		rd_kafka_NewTopic_destroy(t);
	}
	else
	{
		rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, parts, err, sizeof(err));

		rd_kafka_CreatePartitions(rk, &np, 1, NULL, q);
		rc = admin_wait(rk, q, 1);
		rd_kafka_NewPartitions_destroy(np);
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

/* An admin request's result event: its top-level error, then each topic's or partition's. */
static int
admin_result(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
	int			rc = 0;

	if (!ev)
	{
		fprintf(stderr, "%s: timeout\n", what);
		return 1;
	}
	if (rd_kafka_event_error(ev))
	{
		fprintf(stderr, "%s: %s\n", what, rd_kafka_event_error_string(ev));
		rc = 1;
	}
	else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DELETERECORDS_RESULT)
	{
		const rd_kafka_topic_partition_list_t *l =
			rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));

		for (int i = 0; i < l->cnt; i++)
		{
			if (l->elems[i].err)
			{
				fprintf(stderr, "%s: %s\n", what, rd_kafka_err2str(l->elems[i].err));
				rc = 1;
			}
			else
				printf("%lld\n", (long long) l->elems[i].offset);
		}
	}
	else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DELETETOPICS_RESULT)
	{
		size_t		cnt;
		const rd_kafka_topic_result_t **res =
			rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);

		for (size_t i = 0; i < cnt; i++)
			if (rd_kafka_topic_result_error(res[i]))
			{
				fprintf(stderr, "%s: %s\n", what, rd_kafka_topic_result_error_string(res[i]));
				rc = 1;
			}
	}
	rd_kafka_event_destroy(ev);
	return rc;
}

static int
cmd_delete_records(const char *brokers, const char *topic, int partition, long long offset)
{
	rd_kafka_t *rk = make_producer(brokers);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_DeleteRecords_t *dr;
	int			rc;

	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
	dr = rd_kafka_DeleteRecords_new(l);
	rd_kafka_DeleteRecords(rk, &dr, 1, NULL, q);
	rc = admin_result(q, "delete-records");
	rd_kafka_DeleteRecords_destroy(dr);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

static int
cmd_delete_topic(const char *brokers, const char *topic)
{
	rd_kafka_t *rk = make_producer(brokers);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_DeleteTopic_t *t = rd_kafka_DeleteTopic_new(topic);
	int			rc;

	rd_kafka_DeleteTopics(rk, &t, 1, NULL, q);
	rc = admin_result(q, "delete-topic");
	rd_kafka_DeleteTopic_destroy(t);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

static int
cmd_mock(const char *file, const char *topic, int parts)
{
	char		err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
	FILE	   *f;

	if (!mc)
	{
		fprintf(stderr, "mock cluster failed\n");
		return 1;
	}
	rd_kafka_mock_topic_create(mc, topic, parts, 1);
	f = fopen(file, "w");
	fprintf(f, "%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fclose(f);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		usleep(100000);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* paced sensor readings for the latency benchmark */
static int
cmd_rate(const char *brokers, const char *topic, double rate, double seconds, int entities, unsigned seed)
{
	rd_kafka_t *rk = make_producer(brokers);
	double		t0 = now_s();
	long		i = 0;
	char		buf[512];

	srand(seed);
	while (!stop)
	{
		double		t = now_s();
		long		due = (long) ((t - t0) * rate);

		if (t - t0 >= seconds)
			break;
		for (; i < due; i++)
		{
			int			n = snprintf(buf, sizeof(buf), "{\"publisher_id\":\"s%d\",\"data_id\":%ld,\"ts\":%.6f",
									 (int) (i % entities), i, t);

			for (int c = 0; c < 8; c++)
			{
				if (rand() % 10 == 0)
					continue;	/* dropped field */
				n += snprintf(buf + n, sizeof(buf) - n, ",\"c%d\":%.4f", c, (rand() % 20000) / 1000.0 - 10.0);
			}
			n += snprintf(buf + n, sizeof(buf) - n, "}");
			if (produce_one(rk, topic, RD_KAFKA_PARTITION_UA, buf, n))
				return 1;
		}
		rd_kafka_poll(rk, 0);
		usleep(500);
	}
	fprintf(stderr, "produced %ld messages\n", i);
	return finish(rk);
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "produce") == 0)
		return cmd_produce(argv[2], argv[3]);
	if (argc >= 5 && strcmp(argv[1], "create") == 0)
		return cmd_create(argv[2], argv[3], atoi(argv[4]), 0);
	if (argc >= 5 && strcmp(argv[1], "partitions") == 0)
		return cmd_create(argv[2], argv[3], atoi(argv[4]), 1);
	if (argc >= 6 && strcmp(argv[1], "delete-records") == 0)
		return cmd_delete_records(argv[2], argv[3], atoi(argv[4]), atoll(argv[5]));
	if (argc >= 4 && strcmp(argv[1], "delete-topic") == 0)
		return cmd_delete_topic(argv[2], argv[3]);
	if (argc >= 5 && strcmp(argv[1], "mock") == 0)
		return cmd_mock(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 8 && strcmp(argv[1], "rate") == 0)
		return cmd_rate(argv[2], argv[3], atof(argv[4]), atof(argv[5]), atoi(argv[6]), (unsigned) atoi(argv[7]));
	fprintf(stderr, "usage: see the header of kafka_tool.c\n");
	return 2;
}
