/*
 * mock_cluster.c
 *		A librdkafka mock cluster (rdkafka_mock.h, librdkafka >= 1.3; Debian has 2.0.2)
 *		in its own process, driven by commands on stdin, for fault-injection tests of
 *		the stream worker.
 *
 *	mock_cluster [-n BROKERS] [-t TOPIC:PARTITIONS]... [-w]
 *
 * At start it prints "bootstrap=HOST:PORT,..." (a line of its own) and then one reply
 * line per command: "ok [detail]" or "error: message".  The brokers listen on
 * ephemeral ports on 127.0.0.1 (librdkafka 2.0.2 has no way to choose them).
 * On end of input it exits, unless -w is given: then it runs until SIGTERM/SIGINT.
 *
 * Commands (API keys and error codes by name or number; names as in librdkafka's
 * rd_kafka_resp_err_t without the RD_KAFKA_RESP_ERR_ prefix, e.g. NOT_LEADER_FOR_PARTITION):
 *	topic NAME PARTITIONS [REPLICAS]	create a topic
 *	down BROKER | up BROKER				take a broker down (connections closed,
 *										new ones refused) or back up
 *	rtt BROKER MS						add MS milliseconds to every response
 *	error API ERR [COUNT]				the next COUNT (1) requests of API fail with ERR
 *	clear API							forget pending errors of API
 *	topic_error TOPIC ERR				metadata reports ERR for the topic
 *	leader TOPIC PARTITION BROKER		move a partition leader (-1: no leader)
 *	coordinator group|transaction KEY BROKER
 *	bootstrap							print the bootstrap servers again
 *	sleep MS							pause the command reader
 *	echo TEXT							print TEXT (to synchronise a driver)
 *	quit								destroy the cluster and exit
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_requested = 0;

static void
OnSignal(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static const struct
{
	const char *name;
	int16_t		key;
} apis[] = {
	{"Produce", 0}, {"Fetch", 1}, {"ListOffsets", 2}, {"Metadata", 3},
	{"OffsetCommit", 8}, {"OffsetFetch", 9}, {"FindCoordinator", 10},
	{"JoinGroup", 11}, {"Heartbeat", 12}, {"LeaveGroup", 13}, {"SyncGroup", 14},
	{"DescribeGroups", 15}, {"ListGroups", 16}, {"SaslHandshake", 17},
	{"ApiVersions", 18}, {"CreateTopics", 19}, {"DeleteTopics", 20},
	{"InitProducerId", 22}, {"AddPartitionsToTxn", 24}, {"AddOffsetsToTxn", 25},
	{"EndTxn", 26}, {"TxnOffsetCommit", 28},
};

static int
ParseApi(const char *s, int16_t *key)
{
	char	   *end;
	long		v = strtol(s, &end, 10);

	if (*s && *end == '\0' && v >= 0 && v < 100)
	{
		*key = (int16_t) v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
		if (strcasecmp(s, apis[i].name) == 0)
		{
			*key = apis[i].key;
			return 0;
		}
	return -1;
}

static int
ParseErr(const char *s, rd_kafka_resp_err_t *err)
{
	const struct rd_kafka_err_desc *descs;
	size_t		n;
	char	   *end;
	long		v = strtol(s, &end, 10);

	if (*s && *end == '\0')
	{
		*err = (rd_kafka_resp_err_t) v;
		return 0;
	}
	if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
		s += 18;
	rd_kafka_get_err_descs(&descs, &n);
	for (size_t i = 0; i < n; i++)
		if (descs[i].name && strcasecmp(descs[i].name, s) == 0)
		{
			*err = descs[i].code;
			return 0;
		}
	return -1;
}

static int
ParseInt(const char *s, long lo, long hi, long *out)
{
	char	   *end;
	long		v;

	if (!s)
		return -1;
	v = strtol(s, &end, 10);
	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static void
Reply(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Execute one command line; returns 1 on "quit". */
static int
Command(rd_kafka_mock_cluster_t *mc, char *line)
{
	char	   *argv[8];
	int			argc = 0;
	char	   *save = NULL;
	long		a,
				b,
				n;
	int16_t		api;
	rd_kafka_resp_err_t err,
				rc;

	for (char *tok = strtok_r(line, " \t\r\n", &save); tok && argc < 8;
		 tok = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = tok;
	if (argc == 0 || argv[0][0] == '#')
		return 0;
#define USAGE(u) do { Reply("error: usage: %s", u); return 0; } while (0)
#define RESULT(e) do { if (e) Reply("error: %s", rd_kafka_err2str(e)); else Reply("ok"); } while (0)

	if (strcmp(argv[0], "quit") == 0)
	{
		Reply("ok");
		return 1;
	}
	else if (strcmp(argv[0], "topic") == 0)
	{
		long		repl = 1;

		if (argc < 3 || ParseInt(argv[2], 1, 100000, &n) ||
			(argc > 3 && ParseInt(argv[3], 1, 100, &repl)))
			USAGE("topic NAME PARTITIONS [REPLICAS]");
		rc = rd_kafka_mock_topic_create(mc, argv[1], (int) n, (int) repl);
		RESULT(rc);
	}
	else if (strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0)
	{
		if (argc != 2 || ParseInt(argv[1], 0, 1000000, &a))
			USAGE("down|up BROKER");
		rc = argv[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t) a)
			: rd_kafka_mock_broker_set_up(mc, (int32_t) a);
		RESULT(rc);
	}
	else if (strcmp(argv[0], "rtt") == 0)
	{
		if (argc != 3 || ParseInt(argv[1], 0, 1000000, &a) || ParseInt(argv[2], 0, 3600000, &b))
			USAGE("rtt BROKER MS");
		rc = rd_kafka_mock_broker_set_rtt(mc, (int32_t) a, (int) b);
		RESULT(rc);
	}
	else if (strcmp(argv[0], "error") == 0)
	{
		rd_kafka_resp_err_t *errs;

		n = 1;
		if (argc < 3 || ParseApi(argv[1], &api) || ParseErr(argv[2], &err) ||
			(argc > 3 && ParseInt(argv[3], 1, 100000, &n)))
			USAGE("error API ERR [COUNT]");
		errs = malloc(sizeof(*errs) * (size_t) n);
		for (long i = 0; i < n; i++)
			errs[i] = err;
		rd_kafka_mock_push_request_errors_array(mc, api, (size_t) n, errs);
		free(errs);
		Reply("ok %s x%ld on api %d", rd_kafka_err2name(err), n, (int) api);
	}
	else if (strcmp(argv[0], "clear") == 0)
	{
		if (argc != 2 || ParseApi(argv[1], &api))
			USAGE("clear API");
		rd_kafka_mock_clear_request_errors(mc, api);
		Reply("ok");
	}
	else if (strcmp(argv[0], "topic_error") == 0)
	{
		if (argc != 3 || ParseErr(argv[2], &err))
			USAGE("topic_error TOPIC ERR");
		rd_kafka_mock_topic_set_error(mc, argv[1], err);
		Reply("ok");
	}
	else if (strcmp(argv[0], "leader") == 0)
	{
		if (argc != 4 || ParseInt(argv[2], 0, 1000000, &a) || ParseInt(argv[3], -1, 1000000, &b))
			USAGE("leader TOPIC PARTITION BROKER");
		rc = rd_kafka_mock_partition_set_leader(mc, argv[1], (int32_t) a, (int32_t) b);
		RESULT(rc);
	}
	else if (strcmp(argv[0], "coordinator") == 0)
	{
		if (argc != 4 || ParseInt(argv[3], 0, 1000000, &b) ||
			(strcmp(argv[1], "group") != 0 && strcmp(argv[1], "transaction") != 0))
			USAGE("coordinator group|transaction KEY BROKER");
		rc = rd_kafka_mock_coordinator_set(mc, argv[1], argv[2], (int32_t) b);
		RESULT(rc);
	}
	else if (strcmp(argv[0], "bootstrap") == 0)
		Reply("bootstrap=%s", rd_kafka_mock_cluster_bootstraps(mc));
	else if (strcmp(argv[0], "sleep") == 0)
	{
		struct timespec ts;

		if (argc != 2 || ParseInt(argv[1], 0, 3600000, &a))
			USAGE("sleep MS");
		ts.tv_sec = a / 1000;
		ts.tv_nsec = (a % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		Reply("ok");
	}
	else if (strcmp(argv[0], "echo") == 0)
	{
		for (int i = 1; i < argc; i++)
			printf("%s%s", argv[i], i + 1 < argc ? " " : "");
		Reply("");
	}
	else
		Reply("error: unknown command \"%s\"", argv[0]);
	return 0;
}

int
main(int argc, char **argv)
{
	char		err[512],
				line[4096];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	long		nbrokers = 1;
	int			wait_on_eof = 0,
				c;
	char	  **topics = calloc((size_t) argc, sizeof(char *));
	int			ntopics = 0;
	struct sigaction sa;

	while ((c = getopt(argc, argv, "n:t:w")) != -1)
	{
		switch (c)
		{
			case 'n':
				if (ParseInt(optarg, 1, 100, &nbrokers))
				{
					fprintf(stderr, "mock_cluster: -n expects 1..100\n");
					return 2;
				}
				break;
			case 't':
				topics[ntopics++] = optarg;
				break;
			case 'w':
				wait_on_eof = 1;
				break;
			default:
				fprintf(stderr, "usage: mock_cluster [-n BROKERS] [-t TOPIC:PARTITIONS]... [-w]\n");
				return 2;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = OnSignal;	/* no SA_RESTART: a blocked read returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* the cluster needs a client handle to live in; it talks to nobody itself */
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk)
	{
		fprintf(stderr, "mock_cluster: %s\n", err);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, (int) nbrokers);
	if (!mc)
	{
		fprintf(stderr, "mock_cluster: cannot create the mock cluster\n");
		return 1;
	}
	for (int i = 0; i < ntopics; i++)
	{
		char	   *colon = strrchr(topics[i], ':');
		long		parts = 1;

		if (colon)
		{
			*colon = '\0';
			if (ParseInt(colon + 1, 1, 100000, &parts))
			{
				fprintf(stderr, "mock_cluster: -t expects TOPIC:PARTITIONS\n");
				return 2;
			}
		}
		if (rd_kafka_mock_topic_create(mc, topics[i], (int) parts, 1))
		{
			fprintf(stderr, "mock_cluster: cannot create topic %s\n", topics[i]);
			return 1;
		}
	}
	Reply("bootstrap=%s", rd_kafka_mock_cluster_bootstraps(mc));

	while (!stop_requested && fgets(line, sizeof(line), stdin))
	{
		if (Command(mc, line))
			break;
	}
	if (wait_on_eof && !stop_requested && feof(stdin))
		while (!stop_requested)
			pause();

	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	free(topics);
	return 0;
}
