/*
 * gc_sensor_sim.c
 *		Sensor simulator for the gcimpute stream worker: publishes readings of N
 *		entities to a Kafka topic through librdkafka.
 *
 * Each reading ("row") of an entity at an event time carries p columns whose joint
 * distribution is a Gaussian copula: z ~ N(0, Sigma), x_j = F_j^-1(Phi(z_j)) for the
 * marginal F_j of column j.  With --ar A each entity's latent row follows a stationary
 * AR(1) in time, z_t = A z_{t-1} + sqrt(1 - A^2) e_t with e_t ~ N(0, Sigma), so every row
 * still has the copula's distribution and consecutive rows are alike.  The stream is then damaged the way real sensor networks
 * damage it: cells dropped (MCAR), rows optionally split into several messages, messages
 * lost, messages resent with the same (publisher_id, data_id), every message delivered
 * after a lognormal delay, and malformed messages mixed in.  Everything is drawn from
 * seeded generators (one stream per purpose, so that e.g. --drop does not change the
 * values), so a seed fixes the content and the order of the messages.
 *
 * The message format is the contract documented in docs/kafka-dev.md.  At the end the
 * program prints counts of everything it sent, and --print-truth writes the full true
 * rows together with what of them was delivered, so tests can compute the expected
 * contents of the target table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_COLS 64
#define MAX_PARTS 3

/* ----------------------------------------------------------------------------
 * Random numbers: xoshiro256** seeded by splitmix64, one independent stream per
 * purpose.
 * ---------------------------------------------------------------------------- */
typedef struct Rng
{
	uint64_t	s[4];
	bool		have_spare;
	double		spare;
} Rng;

static uint64_t
SplitMix(uint64_t *x)
{
	uint64_t	z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
RngInit(Rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t	x = seed ^ (0x632be59bd9b4e019ULL * (stream + 1));

	for (int i = 0; i < 4; i++)
		r->s[i] = SplitMix(&x);
	r->have_spare = false;
}

static inline uint64_t
Rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
RngNext(Rng *r)
{
	uint64_t   *s = r->s;
	uint64_t	result = Rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = Rotl(s[3], 45);
	return result;
}

/* uniform in [0, 1) */
static double
RngUniform(Rng *r)
{
	return (RngNext(r) >> 11) * 0x1.0p-53;
}

static bool
RngBernoulli(Rng *r, double p)
{
	return p > 0 && RngUniform(r) < p;
}

static uint64_t
RngBelow(Rng *r, uint64_t n)
{
	return n <= 1 ? 0 : RngNext(r) % n;
}

/* standard normal, Marsaglia polar method */
static double
RngNormal(Rng *r)
{
	double		u,
				v,
				s;

	if (r->have_spare)
	{
		r->have_spare = false;
		return r->spare;
	}
	do
	{
		u = 2.0 * RngUniform(r) - 1.0;
		v = 2.0 * RngUniform(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	s = sqrt(-2.0 * log(s) / s);
	r->spare = v * s;
	r->have_spare = true;
	return u * s;
}

enum
{
	RNG_VALUES, RNG_DROP, RNG_SPLIT, RNG_LOSE, RNG_DUP, RNG_MALFORMED, RNG_DELAY, RNG_CORR,
	RNG_JITTER, RNG_DROPOUT,
	RNG_COUNT
};

/* ----------------------------------------------------------------------------
 * Columns and their marginals
 * ---------------------------------------------------------------------------- */
typedef enum Marginal
{
	M_NORMAL, M_EXP, M_LOGNORMAL, M_UNIFORM, M_ORDINAL
} Marginal;

typedef struct Column
{
	char		name[64];
	Marginal	kind;
	double		a,
				b;
} Column;

static const char *default_columns =
"temp:normal(20,3),hum:uniform(0.2,0.9),pres:normal(1013,8),light:exp(0.01),"
"co2:lognormal(6,0.3),noise:normal(40,5),vib:exp(2),door:ordinal(2)";

/* ----------------------------------------------------------------------------
 * Options and counters
 * ---------------------------------------------------------------------------- */
typedef enum Format
{
	F_JSON, F_CSV
} Format;

static struct
{
	const char *brokers;
	const char *topic;
	int			entities;
	int			first_entity;
	const char *entity_prefix;
	Column		cols[MAX_COLS];
	int			ncols;
	double		rate;			/* rows per second; 0 = as fast as possible */
	double		period_ms;		/* event-time step when rate == 0 */
	long long	count;			/* rows */
	double		duration;
	uint64_t	seed;
	double		ar;				/* AR(1) coefficient of the latent rows in time */
	double		dropout;		/* per row: probability that a sensor (column) drops out */
	int			dropout_min,
				dropout_max;	/* rows a dropout lasts */
	double		drop,
				lose,
				dup,
				malformed,
				split;
	double		ts_jitter_ms;	/* event time of a message: row time + U[0, jitter) */
	double		delay_mu,
				delay_sigma,
				delay_scale,
				delay_max;
	Format		format;
	const char *truth_path;
	const char *out_path;
	const char *sigma_path;
	const char *corr;
	int			decimals;
	long long	start_ms;
	long long	data_id_base;
	size_t		oversize;
	unsigned	malformed_kinds;
	bool		null_dropped;
	bool		dry_run;
	bool		quiet;
	char	  **kafka_conf;
	int			nkafka_conf;
} opt;

enum
{
	BAD_JSON, BAD_TYPE, BAD_NUL, BAD_OVERSIZE, BAD_EMPTY, BAD_KINDS
};
static const char *bad_names[BAD_KINDS] = {"syntax", "type", "nul", "oversize", "empty"};

static struct
{
	long long	rows;
	long long	cells;
	long long	cells_dropped;
	long long	cells_observed;
	long long	rows_split;
	long long	valid_messages;		/* generated valid messages (row parts), before loss */
	long long	lost;
	long long	valid_sent;			/* valid - lost: unique valid messages sent */
	long long	duplicates;			/* extra copies of valid messages */
	long long	malformed;
	long long	bad[BAD_KINDS];
	long long	rows_announced;		/* rows with >= 1 valid message sent */
	long long	produced;			/* every produce() call that succeeded */
	long long	delivered;
	long long	failed;
	long long	bytes;
	uint64_t	digest;
	double		lag_max;			/* real time: latest send behind schedule, s */
	double		lag_sum;
} cnt;

static double run_t0;			/* real time: monotonic start of the run */
static double Now(void);

static volatile sig_atomic_t stop_requested = 0;

static void
Fatal(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "gc_sensor_sim: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ----------------------------------------------------------------------------
 * Growable byte buffer
 * ---------------------------------------------------------------------------- */
typedef struct Buf
{
	char	   *data;
	size_t		len,
				cap;
} Buf;

static void
BufReserve(Buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->cap)
	{
		size_t		ncap = b->cap ? b->cap : 256;

		while (ncap < b->len + extra + 1)
			ncap *= 2;
		b->data = realloc(b->data, ncap);
		if (!b->data)
			Fatal("out of memory");
		b->cap = ncap;
	}
}

static void
BufPrintf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	BufReserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

static void
BufAppend(Buf *b, const void *p, size_t n)
{
	BufReserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* ----------------------------------------------------------------------------
 * Parsing of options
 * ---------------------------------------------------------------------------- */
static double
ParseDouble(const char *s, const char *what, double lo, double hi)
{
	char	   *end;
	double		v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		Fatal("invalid %s \"%s\" (expected a number in [%g, %g])", what, s, lo, hi);
	return v;
}

static long long
ParseInt(const char *s, const char *what, long long lo, long long hi)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		Fatal("invalid %s \"%s\" (expected an integer in [%lld, %lld])", what, s, lo, hi);
	return v;
}

/* "name[:kind(a[,b])]" separated by commas; a bare number p means c1..cp normal(0,1) */
static void
ParseColumns(const char *spec)
{
	char	   *copy = strdup(spec),
			   *save = NULL,
			   *tok;
	char	   *end;
	long		p = strtol(spec, &end, 10);

	opt.ncols = 0;
	if (*spec && *end == '\0')
	{
		if (p < 1 || p > MAX_COLS)
			Fatal("--columns: between 1 and %d columns", MAX_COLS);
		for (int j = 0; j < p; j++)
		{
			snprintf(opt.cols[j].name, sizeof(opt.cols[j].name), "c%d", j + 1);
			opt.cols[j].kind = M_NORMAL;
			opt.cols[j].a = 0;
			opt.cols[j].b = 1;
		}
		opt.ncols = (int) p;
		free(copy);
		return;
	}
	/* split on commas that are not inside parentheses */
	int			depth = 0;

	for (char *c = copy; *c; c++)
	{
		if (*c == '(')
			depth++;
		else if (*c == ')')
			depth--;
		else if (*c == ',' && depth > 0)
			*c = ';';
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		Column	   *col;
		char	   *colon = strchr(tok, ':');
		char		kind[32];
		double		a = 0,
					b = 1;
		int			n;

		if (opt.ncols >= MAX_COLS)
			Fatal("--columns: at most %d columns", MAX_COLS);
		col = &opt.cols[opt.ncols];
		if (colon)
			*colon = '\0';
		if (strlen(tok) == 0 || strlen(tok) >= sizeof(col->name))
			Fatal("--columns: bad column name \"%s\"", tok);
		for (char *c = tok; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				  (*c >= '0' && *c <= '9') || *c == '_'))
				Fatal("--columns: column name \"%s\" must be [A-Za-z0-9_]", tok);
		for (int j = 0; j < opt.ncols; j++)
			if (strcmp(opt.cols[j].name, tok) == 0)
				Fatal("--columns: duplicate column \"%s\"", tok);
		if (strcmp(tok, "publisher_id") == 0 || strcmp(tok, "data_id") == 0 ||
			strcmp(tok, "entity") == 0 || strcmp(tok, "ts") == 0)
			Fatal("--columns: \"%s\" is a reserved field name", tok);
		strcpy(col->name, tok);
		col->kind = M_NORMAL;
		col->a = 0;
		col->b = 1;
		if (colon)
		{
			n = sscanf(colon + 1, "%31[a-z](%lf;%lf)", kind, &a, &b);
			if (n < 2)
				Fatal("--columns: bad marginal \"%s\" (e.g. normal(20;3) written normal(20,3))", colon + 1);
			if (strcmp(kind, "normal") == 0 && n == 3 && b > 0)
				col->kind = M_NORMAL;
			else if (strcmp(kind, "exp") == 0 && n == 2 && a > 0)
				col->kind = M_EXP;
			else if (strcmp(kind, "lognormal") == 0 && n == 3 && b > 0)
				col->kind = M_LOGNORMAL;
			else if (strcmp(kind, "uniform") == 0 && n == 3 && b > a)
				col->kind = M_UNIFORM;
			else if (strcmp(kind, "ordinal") == 0 && n == 2 && a >= 2 && a <= 1000 && a == floor(a))
				col->kind = M_ORDINAL;
			else
				Fatal("--columns: bad marginal \"%s\" for column %s (normal(m,s), exp(rate), "
					  "lognormal(m,s), uniform(a,b), ordinal(k))", colon + 1, tok);
			col->a = a;
			col->b = b;
		}
		opt.ncols++;
	}
	free(copy);
	if (opt.ncols == 0)
		Fatal("--columns: no columns");
}

static void
ParseMalformedKinds(const char *spec)
{
	char	   *copy = strdup(spec),
			   *save = NULL;

	opt.malformed_kinds = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		int			k;

		for (k = 0; k < BAD_KINDS; k++)
			if (strcmp(tok, bad_names[k]) == 0)
				break;
		if (k == BAD_KINDS)
			Fatal("--malformed-kinds: unknown kind \"%s\" (syntax,type,nul,oversize,empty)", tok);
		opt.malformed_kinds |= 1u << k;
	}
	free(copy);
	if (!opt.malformed_kinds)
		Fatal("--malformed-kinds: empty");
}

/* "2026-11-22T03:00:00Z", "2026-11-22T03:00:00.123Z" or milliseconds since the epoch */
static long long
ParseStart(const char *s)
{
	struct tm	tm;
	char	   *rest;
	int			ms = 0;

	if (strspn(s, "0123456789") == strlen(s))
		return ParseInt(s, "--start-time", 0, 253402300799999LL);
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		Fatal("invalid --start-time \"%s\" (e.g. 2026-11-22T03:00:00Z)", s);
	if (*rest == '.')
	{
		int			digits = 0;

		rest++;
		while (*rest >= '0' && *rest <= '9')
		{
			if (digits < 3)
				ms = ms * 10 + (*rest - '0');
			digits++;
			rest++;
		}
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (strcmp(rest, "Z") != 0 && *rest != '\0')
		Fatal("invalid --start-time \"%s\": only UTC (suffix Z) is accepted", s);
	return (long long) timegm(&tm) * 1000 + ms;
}

/* ----------------------------------------------------------------------------
 * Correlation matrix and its Cholesky factor
 * ---------------------------------------------------------------------------- */
static double sigma[MAX_COLS][MAX_COLS];
static double chol[MAX_COLS][MAX_COLS];

static void
BuildSigma(Rng *r)
{
	int			p = opt.ncols;

	if (strcmp(opt.corr, "random") == 0)
	{
		/* W W' + D with k = max(1, p/2) factors, rescaled to a correlation matrix */
		int			k = p / 2 > 1 ? p / 2 : 1;
		double		w[MAX_COLS][MAX_COLS];

		for (int i = 0; i < p; i++)
			for (int f = 0; f < k; f++)
				w[i][f] = RngNormal(r);
		for (int i = 0; i < p; i++)
			for (int j = 0; j < p; j++)
			{
				double		s = 0;

				for (int f = 0; f < k; f++)
					s += w[i][f] * w[j][f];
				sigma[i][j] = s + (i == j ? 0.2 + RngUniform(r) : 0);
			}
		for (int i = 0; i < p; i++)
			for (int j = 0; j < p; j++)
				if (i != j)
					sigma[i][j] /= sqrt(sigma[i][i] * sigma[j][j]);
		for (int i = 0; i < p; i++)
			sigma[i][i] = 1;
	}
	else if (strncmp(opt.corr, "file:", 5) == 0)
	{
		FILE	   *f = fopen(opt.corr + 5, "r");

		if (!f)
			Fatal("--corr: cannot open %s: %s", opt.corr + 5, strerror(errno));
		for (int i = 0; i < p; i++)
			for (int j = 0; j < p; j++)
				if (fscanf(f, " %lf%*[, \t\r\n]", &sigma[i][j]) != 1)
					Fatal("--corr: %s must hold a %dx%d matrix (comma or space separated)",
						  opt.corr + 5, p, p);
		fclose(f);
		for (int i = 0; i < p; i++)
			for (int j = 0; j < p; j++)
				if (fabs(sigma[i][j] - sigma[j][i]) > 1e-9 || fabs(sigma[i][i] - 1) > 1e-9)
					Fatal("--corr: matrix must be symmetric with unit diagonal");
	}
	else
	{
		double		rho = ParseDouble(opt.corr, "--corr", -1, 1);

		for (int i = 0; i < p; i++)
			for (int j = 0; j < p; j++)
				sigma[i][j] = i == j ? 1 : rho;
	}
	/* Cholesky; fails on a matrix that is not positive definite */
	for (int j = 0; j < p; j++)
	{
		double		s = sigma[j][j];

		for (int k = 0; k < j; k++)
			s -= chol[j][k] * chol[j][k];
		if (s <= 1e-12)
			Fatal("--corr: correlation matrix is not positive definite");
		chol[j][j] = sqrt(s);
		for (int i = j + 1; i < p; i++)
		{
			double		t = sigma[i][j];

			for (int k = 0; k < j; k++)
				t -= chol[i][k] * chol[j][k];
			chol[i][j] = t / chol[j][j];
		}
		for (int i = 0; i < j; i++)
			chol[i][j] = 0;
	}
}

static double
Round(double x, int decimals)
{
	static int	cached = -1;
	static double f;

	if (decimals != cached)
	{
		f = pow(10, decimals);
		cached = decimals;
	}
	return round(x * f) / f;
}

/*
 * One row of values from the copula, rounded as it is printed.  zprev (the entity's
 * previous latent row, updated) carries the AR(1) dynamics; first says there is none yet.
 */
static void
DrawRow(Rng *r, double *x, double *zprev, bool first)
{
	double		g[MAX_COLS],
				z;
	int			p = opt.ncols;
	double		keep = first ? 0 : opt.ar,
				fresh = first ? 1 : sqrt(1 - opt.ar * opt.ar);

	for (int j = 0; j < p; j++)
		g[j] = RngNormal(r);
	for (int i = 0; i < p; i++)
	{
		const Column *c = &opt.cols[i];
		double		u,
					v,
					e = 0;

		for (int k = 0; k <= i; k++)
			e += chol[i][k] * g[k];
		z = keep * zprev[i] + fresh * e;
		zprev[i] = z;
		/* Phi(z) and 1 - Phi(z) without cancellation in the tails */
		u = 0.5 * erfc(-z / M_SQRT2);
		switch (c->kind)
		{
			case M_NORMAL:
				v = c->a + c->b * z;
				break;
			case M_EXP:
				v = -log(0.5 * erfc(z / M_SQRT2)) / c->a;
				break;
			case M_LOGNORMAL:
				v = exp(c->a + c->b * z);
				break;
			case M_UNIFORM:
				v = c->a + (c->b - c->a) * u;
				break;
			case M_ORDINAL:
			default:
				v = floor(u * c->a) + 1;
				if (v > c->a)
					v = c->a;
				break;
		}
		x[i] = c->kind == M_ORDINAL ? v : Round(v, opt.decimals);
	}
}

/* ----------------------------------------------------------------------------
 * Pending messages: a binary heap ordered by delivery time, then by sequence
 * number (so equal times keep generation order and the order is deterministic).
 * ---------------------------------------------------------------------------- */
typedef struct Pending
{
	double		send;			/* seconds after the start */
	uint64_t	seq;
	int			entity;
	char	   *payload;
	size_t		len;
} Pending;

static Pending *heap;
static size_t heap_len,
			heap_cap;

static bool
PendLess(const Pending *a, const Pending *b)
{
	return a->send < b->send || (a->send == b->send && a->seq < b->seq);
}

static void
HeapPush(Pending p)
{
	size_t		i;

	if (heap_len == heap_cap)
	{
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		heap = realloc(heap, heap_cap * sizeof(Pending));
		if (!heap)
			Fatal("out of memory");
	}
	i = heap_len++;
	while (i > 0 && PendLess(&p, &heap[(i - 1) / 2]))
	{
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = p;
}

static Pending
HeapPop(void)
{
	Pending		top = heap[0],
				last = heap[--heap_len];
	size_t		i = 0;

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && PendLess(&heap[c + 1], &heap[c]))
			c++;
		if (!PendLess(&heap[c], &last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}

/* ----------------------------------------------------------------------------
 * Kafka
 * ---------------------------------------------------------------------------- */
static rd_kafka_t *rk;
static rd_kafka_topic_t *rkt;
static FILE *out_file;

static void
DeliveryReport(rd_kafka_t *k, const rd_kafka_message_t *m, void *opaque)
{
	(void) k;
	(void) opaque;
	if (m->err)
	{
		if (cnt.failed < 5)
			fprintf(stderr, "gc_sensor_sim: delivery failed: %s\n", rd_kafka_err2str(m->err));
		cnt.failed++;
	}
	else
		cnt.delivered++;
}

static void
KafkaInit(void)
{
	char		err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *defaults[][2] = {
		{"bootstrap.servers", opt.brokers},
		/* idempotent producer: librdkafka's own retries never add duplicates, so the
		 * duplicates on the topic are exactly the ones the simulator meant to send */
		{"enable.idempotence", "true"},
		{"linger.ms", "5"},
		{"queue.buffering.max.messages", "1000000"},
		{"queue.buffering.max.kbytes", "1048576"},
		{"message.max.bytes", "1000000"},
		{"client.id", "gc_sensor_sim"},
	};

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
			Fatal("%s", err);
	for (int i = 0; i < opt.nkafka_conf; i++)
	{
		char	   *kv = strdup(opt.kafka_conf[i]);
		char	   *eq = strchr(kv, '=');

		if (!eq)
			Fatal("-X expects key=value, got \"%s\"", kv);
		*eq = '\0';
		if (rd_kafka_conf_set(conf, kv, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK)
			Fatal("-X %s: %s", kv, err);
		free(kv);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, DeliveryReport);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk)
		Fatal("cannot create producer: %s", err);
	rkt = rd_kafka_topic_new(rk, opt.topic, NULL);
	if (!rkt)
		Fatal("cannot create topic handle: %s", rd_kafka_err2str(rd_kafka_last_error()));
}

static void
EntityName(char *dst, size_t n, int e)
{
	snprintf(dst, n, "%s%d", opt.entity_prefix, opt.first_entity + e);
}

static uint64_t
Fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
	{
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void
Produce(Pending *p, long long start_ms)
{
	char		key[96];
	long long	ts = start_ms + (long long) llround(p->send * 1000.0);
	rd_kafka_resp_err_t err;

	EntityName(key, sizeof(key), p->entity);
	if (opt.rate > 0)
	{
		double		lag = Now() - run_t0 - p->send;

		if (lag > cnt.lag_max)
			cnt.lag_max = lag;
		cnt.lag_sum += lag > 0 ? lag : 0;
	}
	cnt.digest = Fnv(cnt.digest, key, strlen(key) + 1);
	cnt.digest = Fnv(cnt.digest, p->payload, p->len);
	cnt.bytes += (long long) p->len;
	if (out_file)
	{
		/* key TAB payload, with backslash, NUL, tab and newline escaped */
		fputs(key, out_file);
		fputc('\t', out_file);
		for (size_t i = 0; i < p->len; i++)
		{
			char		ch = p->payload[i];

			if (ch == '\\')
				fputs("\\\\", out_file);
			else if (ch == '\0')
				fputs("\\0", out_file);
			else if (ch == '\n')
				fputs("\\n", out_file);
			else if (ch == '\t')
				fputs("\\t", out_file);
			else
				fputc(ch, out_file);
		}
		fputc('\n', out_file);
	}
	if (opt.dry_run)
	{
		cnt.produced++;
		cnt.delivered++;
		free(p->payload);
		return;
	}
	for (;;)
	{
		err = rd_kafka_producev(rk,
								RD_KAFKA_V_RKT(rkt),
								RD_KAFKA_V_KEY(key, strlen(key)),
								RD_KAFKA_V_VALUE(p->payload, p->len),
								RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
								RD_KAFKA_V_TIMESTAMP(ts),
								RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 50);
	}
	if (err)
	{
		if (cnt.failed < 5)
			fprintf(stderr, "gc_sensor_sim: produce failed: %s\n", rd_kafka_err2str(err));
		cnt.failed++;
		free(p->payload);
		return;
	}
	cnt.produced++;
	rd_kafka_poll(rk, 0);
}

/* ----------------------------------------------------------------------------
 * Message bodies
 * ---------------------------------------------------------------------------- */
static void
FormatTs(char *dst, size_t n, long long ms)
{
	static long long last_ms = -1;
	static char last[80];
	time_t		s = (time_t) (ms / 1000);
	struct tm	tm;

	/* all entities of a step share the time stamp */
	if (ms == last_ms && n <= sizeof(last))
	{
		memcpy(dst, last, n);
		return;
	}
	gmtime_r(&s, &tm);
	snprintf(dst, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (ms % 1000));
	if (n <= sizeof(last))
	{
		memcpy(last, dst, n);
		last_ms = ms;
	}
}

static void
BufAppendStr(Buf *b, const char *s)
{
	BufAppend(b, s, strlen(s));
}

static void
BufAppendInt(Buf *b, long long v)
{
	char		tmp[24];
	int			n = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;

	do
	{
		tmp[n++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[n++] = '-';
	BufReserve(b, (size_t) n);
	while (n > 0)
		b->data[b->len++] = tmp[--n];
	b->data[b->len] = '\0';
}

/*
 * A real value with exactly opt.decimals decimals, like printf("%.*f") but without
 * its cost (float formatting was most of the simulator's time).  Values are already
 * rounded to the decimals, so the scaled integer is exact.
 */
static void
BufAppendFixed(Buf *b, double v)
{
	static const long long pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
	100000000, 1000000000, 10000000000LL, 100000000000LL, 1000000000000LL};
	long long	f = pow10[opt.decimals];
	double		scaled = v * (double) f;
	long long	n,
				ip,
				fp;
	char		frac[16];

	if (!(fabs(scaled) < 9e18))
	{
		BufPrintf(b, "%.*f", opt.decimals, v);
		return;
	}
	n = llround(scaled);
	if (n < 0)
	{
		BufAppend(b, "-", 1);
		n = -n;
	}
	ip = n / f;
	fp = n % f;
	BufAppendInt(b, ip);
	if (opt.decimals > 0)
	{
		for (int i = opt.decimals - 1; i >= 0; i--)
		{
			frac[i] = (char) ('0' + fp % 10);
			fp /= 10;
		}
		BufAppend(b, ".", 1);
		BufAppend(b, frac, (size_t) opt.decimals);
	}
}

static void
AppendValue(Buf *b, int col, double v)
{
	if (opt.cols[col].kind == M_ORDINAL)
		BufAppendInt(b, (long long) v);
	else
		BufAppendFixed(b, v);
}

/*
 * A valid message: the header fields and the columns whose bit is set in "take".
 * Columns that were dropped are absent (or null with --null-dropped) in JSON and
 * empty in CSV.
 */
static void
BuildValid(Buf *b, const char *entity, long long data_id, const char *ts,
		   const double *x, const bool *take, const bool *dropped)
{
	b->len = 0;
	if (opt.format == F_JSON)
	{
		BufAppendStr(b, "{\"publisher_id\":\"");
		BufAppendStr(b, entity);
		BufAppendStr(b, "\",\"data_id\":");
		BufAppendInt(b, data_id);
		BufAppendStr(b, ",\"entity\":\"");
		BufAppendStr(b, entity);
		BufAppendStr(b, "\",\"ts\":\"");
		BufAppendStr(b, ts);
		BufAppend(b, "\"", 1);
		for (int j = 0; j < opt.ncols; j++)
		{
			if (take[j] || (opt.null_dropped && dropped[j]))
			{
				BufAppend(b, ",\"", 2);
				BufAppendStr(b, opt.cols[j].name);
				BufAppend(b, "\":", 2);
				if (take[j])
					AppendValue(b, j, x[j]);
				else
					BufAppend(b, "null", 4);
			}
		}
		BufAppend(b, "}", 1);
	}
	else
	{
		BufAppendStr(b, entity);
		BufAppend(b, ",", 1);
		BufAppendInt(b, data_id);
		BufAppend(b, ",", 1);
		BufAppendStr(b, entity);
		BufAppend(b, ",", 1);
		BufAppendStr(b, ts);
		for (int j = 0; j < opt.ncols; j++)
		{
			BufAppend(b, ",", 1);
			if (take[j])
				AppendValue(b, j, x[j]);
		}
	}
}

/* A malformed message of a kind drawn among the enabled kinds. */
static int
BuildMalformed(Buf *b, Rng *r, const char *entity, long long data_id, const char *ts)
{
	int			kinds[BAD_KINDS],
				nk = 0,
				kind,
				variant;
	bool		take[MAX_COLS] = {0},
				none[MAX_COLS] = {0};
	double		x[MAX_COLS] = {0};

	for (int k = 0; k < BAD_KINDS; k++)
		if (opt.malformed_kinds & (1u << k))
			kinds[nk++] = k;
	kind = kinds[RngBelow(r, (uint64_t) nk)];
	variant = (int) RngBelow(r, 4);
	b->len = 0;
	switch (kind)
	{
		case BAD_JSON:
			if (opt.format == F_JSON)
			{
				if (variant == 0)
				{
					/* a valid message cut in the middle */
					take[0] = true;
					x[0] = 1;
					BuildValid(b, entity, data_id, ts, x, take, none);
					b->len /= 2;
					b->data[b->len] = '\0';
				}
				else if (variant == 1)
					BufPrintf(b, "{\"publisher_id\":\"%s\",\"data_id\":%lld,ts:%s}", entity, data_id, ts);
				else if (variant == 2)
					BufPrintf(b, "[\"%s\",%lld,\"%s\"]", entity, data_id, ts);
				else
					BufPrintf(b, "not json at all %lld", data_id);
			}
			else
			{
				if (variant == 0 || variant == 1)	/* wrong number of fields */
					BufPrintf(b, "%s,%lld,%s", entity, data_id, ts);
				else if (variant == 2)	/* unterminated quote */
					BufPrintf(b, "%s,%lld,\"%s,%s", entity, data_id, entity, ts);
				else
				{
					BufPrintf(b, "%s,%lld,%s,%s", entity, data_id, entity, ts);
					for (int j = 0; j <= opt.ncols; j++)
						BufAppend(b, ",1", 2);
				}
			}
			break;
		case BAD_TYPE:
			{
				/* well-formed, but a field has the wrong type or an invalid value */
				const char *badval[] = {"\"warm\"", "true", "[1,2]", "{\"v\":1}"};
				int			col = (int) RngBelow(r, (uint64_t) opt.ncols);

				if (opt.format == F_JSON)
				{
					if (variant == 0)
						BufPrintf(b, "{\"publisher_id\":\"%s\",\"data_id\":%lld,\"entity\":\"%s\",\"ts\":\"%s\",\"%s\":%s}",
								  entity, data_id, entity, ts, opt.cols[col].name,
								  badval[RngBelow(r, 4)]);
					else if (variant == 1)
						BufPrintf(b, "{\"publisher_id\":\"%s\",\"data_id\":\"x%lld\",\"entity\":\"%s\",\"ts\":\"%s\"}",
								  entity, data_id, entity, ts);
					else if (variant == 2)
						BufPrintf(b, "{\"publisher_id\":\"%s\",\"data_id\":%lld,\"entity\":\"%s\",\"ts\":\"yesterday\"}",
								  entity, data_id, entity);
					else
						BufPrintf(b, "{\"publisher_id\":\"%s\",\"data_id\":%lld,\"ts\":\"%s\"}",
								  entity, data_id, ts);	/* entity missing */
				}
				else
				{
					/* 0, 3: a word in a numeric column; 1: data_id not an integer; 2: bad ts */
					bool		word = variant == 0 || variant == 3;

					BufPrintf(b, "%s,%s%lld,%s,%s", entity, variant == 1 ? "x" : "", data_id,
							  entity, variant == 2 ? "yesterday" : ts);
					for (int j = 0; j < opt.ncols; j++)
					{
						if (word && j == col)
							BufAppend(b, ",warm", 5);
						else
							BufAppend(b, ",", 1);
					}
				}
				break;
			}
		case BAD_NUL:
			{
				/* a valid message with a NUL byte in a string */
				size_t		at;

				take[0] = true;
				x[0] = 1;
				BuildValid(b, entity, data_id, ts, x, take, none);
				at = opt.format == F_JSON ? strlen("{\"publisher_id\":\"") + 1 : 1;
				if (at > b->len)
					at = b->len;
				b->data[at] = '\0';
				break;
			}
		case BAD_OVERSIZE:
			{
				/* well-formed but larger than --oversize-bytes */
				size_t		pad;

				if (opt.format == F_JSON)
					BufPrintf(b, "{\"publisher_id\":\"%s\",\"data_id\":%lld,\"entity\":\"%s\",\"ts\":\"%s\",\"pad\":\"",
							  entity, data_id, entity, ts);
				else
					BufPrintf(b, "%s,%lld,%s,%s,\"", entity, data_id, entity, ts);
				pad = opt.oversize > b->len + 2 ? opt.oversize - b->len - 2 : 1;
				BufReserve(b, pad + 2);
				memset(b->data + b->len, 'x', pad);
				b->len += pad;
				BufAppend(b, opt.format == F_JSON ? "\"}" : "\"", opt.format == F_JSON ? 2 : 1);
				break;
			}
		case BAD_EMPTY:
		default:
			b->len = 0;
			break;
	}
	return kind;
}

static char *
CopyBuf(const Buf *b)
{
	char	   *p = malloc(b->len + 1);

	if (!p)
		Fatal("out of memory");
	memcpy(p, b->data, b->len);
	p[b->len] = '\0';
	return p;
}

/* ----------------------------------------------------------------------------
 * Main loop
 * ---------------------------------------------------------------------------- */
static double
Now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void
SleepUntil(double t0, double at)
{
	for (;;)
	{
		double		left = at - (Now() - t0);

		struct timespec ts;

		if (left <= 0 || stop_requested)
			return;
		/* serve delivery reports, then sleep precisely (poll's timeout is in ms) */
		if (!opt.dry_run)
			rd_kafka_poll(rk, 0);
		if (left > 0.05)
			left = 0.05;
		ts.tv_sec = (time_t) left;
		ts.tv_nsec = (long) ((left - ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

/*
 * Real time: until "at" (seconds after t0), send every pending message when its
 * delivery time comes, not only at step boundaries, so that delays are not rounded up
 * to the step interval.
 */
static void
RunUntil(double t0, double at)
{
	while (!stop_requested)
	{
		double		now = Now() - t0;
		double		next;

		while (heap_len > 0 && heap[0].send <= now && heap[0].send <= at)
		{
			Pending		p = HeapPop();

			Produce(&p, opt.start_ms);
		}
		if (now >= at)
			return;
		next = heap_len > 0 && heap[0].send < at ? heap[0].send : at;
		SleepUntil(t0, next);
	}
}

static void
OnSignal(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static void
Usage(FILE *f)
{
	fprintf(f,
			"usage: gc_sensor_sim [options]\n"
			"  --brokers HOSTS        bootstrap servers (default 127.0.0.1:19092)\n"
			"  --topic NAME           topic (default sensors)\n"
			"  --entities N           number of sensors/entities (default 10)\n"
			"  --first-entity K       first entity number (default 1): names PREFIX K..K+N-1\n"
			"  --entity-prefix S      entity/publisher name prefix (default s)\n"
			"  --columns SPEC         name:marginal,... marginals normal(m,s) exp(rate) lognormal(m,s)\n"
			"                         uniform(a,b) ordinal(k); or a number p for c1..cp normal(0,1)\n"
			"                         (default %s)\n"
			"  --corr RHO|random|file:PATH  copula correlation (default random)\n"
			"  --rate R               rows per second in real time; 0 = as fast as possible,\n"
			"                         event time advancing by --period (default 0)\n"
			"  --period MS            event-time step of each entity when --rate 0 (default 1000)\n"
			"  --count N              rows to generate (default 1000)\n"
			"  --duration S           generate rate*S rows instead of --count (needs --rate)\n"
			"  --seed N               random seed (default 1)\n"
			"  --drop P               probability that a cell is dropped (MCAR, default 0.1)\n"
			"  --null-dropped         dropped cells as JSON null instead of absent keys\n"
			"  --ar A                 AR(1) coefficient of each entity's latent rows in time,\n"
			"                         in [0, 1) (default 0: rows independent)\n"
			"  --dropout P            probability per row that one of the entity's columns (a\n"
			"                         sensor) drops out for a run of rows (default 0)\n"
			"  --dropout-rows MIN:MAX length of a dropout in rows (default 5:20)\n"
			"  --split P              probability that a row is split into 2-3 messages (default 0)\n"
			"  --lose P               probability that a message is lost (default 0)\n"
			"  --dup P                probability that a sent message is sent again (default 0)\n"
			"  --malformed P          share of malformed messages (default 0)\n"
			"  --malformed-kinds K,.. syntax,type,nul,oversize,empty (default all)\n"
			"  --oversize-bytes N     size of oversize messages (default 131072)\n"
			"  --delay-mu M --delay-sigma S  lognormal delivery delay in seconds\n"
			"                         (default -0.2359 1.8964, PeerJ CS 426)\n"
			"  --delay-scale F        multiply delays by F (default 1; 0 = no delay)\n"
			"  --delay-max S          cap delays at S seconds (default 60; 0 = no cap)\n"
			"  --format json|csv      message format (default json)\n"
			"  --decimals D           decimals of real values (default 3)\n"
			"  --start-time T         event time of the first row, RFC 3339 UTC or epoch ms\n"
			"                         (default now)\n"
			"  --data-id-base N       first data_id of every publisher (default 1)\n"
			"  --ts-jitter MS         each message's ts = row time + uniform [0, MS) ms (default 0)\n"
			"  --print-truth FILE     write the true full rows as CSV\n"
			"  --print-sigma FILE     write the correlation matrix as CSV\n"
			"  --out FILE             also write every message (key TAB escaped payload)\n"
			"  --dry-run              do not connect to Kafka\n"
			"  -X key=value           librdkafka producer property (repeatable)\n"
			"  --quiet                no progress on stderr\n",
			default_columns);
}

int
main(int argc, char **argv)
{
	enum
	{
		O_BROKERS = 256, O_TOPIC, O_ENTITIES, O_FIRST, O_PREFIX, O_COLUMNS, O_CORR, O_RATE,
		O_PERIOD, O_COUNT, O_DURATION, O_SEED, O_DROP, O_NULLDROP, O_SPLIT, O_LOSE, O_DUP,
		O_MALFORMED, O_KINDS, O_OVERSIZE, O_MU, O_SIGMA, O_DSCALE, O_DMAX, O_FORMAT,
		O_DECIMALS, O_START, O_DIDBASE, O_JITTER, O_TRUTH, O_SIGMAOUT, O_OUT, O_DRY, O_QUIET, O_HELP,
		O_AR, O_DROPOUT, O_DROPOUT_ROWS
	};
	static const struct option longopts[] = {
		{"brokers", required_argument, NULL, O_BROKERS},
		{"topic", required_argument, NULL, O_TOPIC},
		{"entities", required_argument, NULL, O_ENTITIES},
		{"first-entity", required_argument, NULL, O_FIRST},
		{"entity-prefix", required_argument, NULL, O_PREFIX},
		{"columns", required_argument, NULL, O_COLUMNS},
		{"corr", required_argument, NULL, O_CORR},
		{"rate", required_argument, NULL, O_RATE},
		{"period", required_argument, NULL, O_PERIOD},
		{"count", required_argument, NULL, O_COUNT},
		{"duration", required_argument, NULL, O_DURATION},
		{"seed", required_argument, NULL, O_SEED},
		{"drop", required_argument, NULL, O_DROP},
		{"null-dropped", no_argument, NULL, O_NULLDROP},
		{"split", required_argument, NULL, O_SPLIT},
		{"lose", required_argument, NULL, O_LOSE},
		{"dup", required_argument, NULL, O_DUP},
		{"malformed", required_argument, NULL, O_MALFORMED},
		{"malformed-kinds", required_argument, NULL, O_KINDS},
		{"oversize-bytes", required_argument, NULL, O_OVERSIZE},
		{"delay-mu", required_argument, NULL, O_MU},
		{"delay-sigma", required_argument, NULL, O_SIGMA},
		{"delay-scale", required_argument, NULL, O_DSCALE},
		{"delay-max", required_argument, NULL, O_DMAX},
		{"format", required_argument, NULL, O_FORMAT},
		{"decimals", required_argument, NULL, O_DECIMALS},
		{"start-time", required_argument, NULL, O_START},
		{"data-id-base", required_argument, NULL, O_DIDBASE},
		{"ts-jitter", required_argument, NULL, O_JITTER},
		{"print-truth", required_argument, NULL, O_TRUTH},
		{"print-sigma", required_argument, NULL, O_SIGMAOUT},
		{"out", required_argument, NULL, O_OUT},
		{"dry-run", no_argument, NULL, O_DRY},
		{"quiet", no_argument, NULL, O_QUIET},
		{"help", no_argument, NULL, O_HELP},
		{"ar", required_argument, NULL, O_AR},
		{"dropout", required_argument, NULL, O_DROPOUT},
		{"dropout-rows", required_argument, NULL, O_DROPOUT_ROWS},
		{NULL, 0, NULL, 0}
	};
	Rng			rng[RNG_COUNT];
	Buf			buf = {0},
				tbuf = {0};
	FILE	   *truth = NULL;
	long long  *next_id;
	double	   *zstate;
	int		   *out_col,
			   *out_left;
	double		interval,
				t0,
				tgen = 0,
				elapsed;
	uint64_t	seq = 0;
	bool		count_given = false;
	int			c;

	opt.brokers = "127.0.0.1:19092";
	opt.topic = "sensors";
	opt.entities = 10;
	opt.first_entity = 1;
	opt.entity_prefix = "s";
	opt.period_ms = 1000;
	opt.count = 1000;
	opt.seed = 1;
	opt.drop = 0.1;
	opt.dropout_min = 5;
	opt.dropout_max = 20;
	opt.delay_mu = -0.2359;
	opt.delay_sigma = 1.8964;
	opt.delay_scale = 1;
	opt.delay_max = 60;
	opt.decimals = 3;
	opt.start_ms = -1;
	opt.data_id_base = 1;
	opt.oversize = 131072;
	opt.corr = "random";
	opt.malformed_kinds = (1u << BAD_KINDS) - 1;
	opt.kafka_conf = calloc((size_t) argc, sizeof(char *));
	ParseColumns(default_columns);

	while ((c = getopt_long(argc, argv, "X:h", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case O_BROKERS: opt.brokers = optarg; break;
			case O_TOPIC: opt.topic = optarg; break;
			case O_ENTITIES: opt.entities = (int) ParseInt(optarg, "--entities", 1, 10000000); break;
			case O_FIRST: opt.first_entity = (int) ParseInt(optarg, "--first-entity", 0, 1000000000); break;
			case O_PREFIX:
				if (!*optarg || strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(optarg) || strlen(optarg) > 60)
					Fatal("--entity-prefix must be 1-60 characters of [A-Za-z0-9_.-]");
				opt.entity_prefix = optarg;
				break;
			case O_COLUMNS: ParseColumns(optarg); break;
			case O_CORR: opt.corr = optarg; break;
			case O_RATE: opt.rate = ParseDouble(optarg, "--rate", 0, 1e8); break;
			case O_PERIOD: opt.period_ms = ParseDouble(optarg, "--period", 0.001, 1e9); break;
			case O_COUNT: opt.count = ParseInt(optarg, "--count", 0, (long long) 1e12); count_given = true; break;
			case O_DURATION: opt.duration = ParseDouble(optarg, "--duration", 0, 1e8); break;
			case O_SEED: opt.seed = (uint64_t) ParseInt(optarg, "--seed", 0, INT64_MAX); break;
			case O_DROP: opt.drop = ParseDouble(optarg, "--drop", 0, 1); break;
			case O_NULLDROP: opt.null_dropped = true; break;
			case O_SPLIT: opt.split = ParseDouble(optarg, "--split", 0, 1); break;
			case O_LOSE: opt.lose = ParseDouble(optarg, "--lose", 0, 1); break;
			case O_DUP: opt.dup = ParseDouble(optarg, "--dup", 0, 1); break;
			case O_MALFORMED: opt.malformed = ParseDouble(optarg, "--malformed", 0, 0.99); break;
			case O_KINDS: ParseMalformedKinds(optarg); break;
			case O_OVERSIZE: opt.oversize = (size_t) ParseInt(optarg, "--oversize-bytes", 256, 100000000); break;
			case O_MU: opt.delay_mu = ParseDouble(optarg, "--delay-mu", -50, 50); break;
			case O_SIGMA: opt.delay_sigma = ParseDouble(optarg, "--delay-sigma", 0, 20); break;
			case O_DSCALE: opt.delay_scale = ParseDouble(optarg, "--delay-scale", 0, 1e6); break;
			case O_DMAX: opt.delay_max = ParseDouble(optarg, "--delay-max", 0, 1e7); break;
			case O_FORMAT:
				if (strcmp(optarg, "json") == 0)
					opt.format = F_JSON;
				else if (strcmp(optarg, "csv") == 0)
					opt.format = F_CSV;
				else
					Fatal("--format must be json or csv");
				break;
			case O_DECIMALS: opt.decimals = (int) ParseInt(optarg, "--decimals", 0, 12); break;
			case O_START: opt.start_ms = ParseStart(optarg); break;
			case O_DIDBASE: opt.data_id_base = ParseInt(optarg, "--data-id-base", 0, (long long) 1e15); break;
			case O_JITTER: opt.ts_jitter_ms = ParseDouble(optarg, "--ts-jitter", 0, 1e9); break;
			case O_TRUTH: opt.truth_path = optarg; break;
			case O_SIGMAOUT: opt.sigma_path = optarg; break;
			case O_OUT: opt.out_path = optarg; break;
			case O_DRY: opt.dry_run = true; break;
			case O_QUIET: opt.quiet = true; break;
			case O_AR: opt.ar = ParseDouble(optarg, "--ar", 0, 0.999999); break;
			case O_DROPOUT: opt.dropout = ParseDouble(optarg, "--dropout", 0, 1); break;
			case O_DROPOUT_ROWS:
				{
					char	   *colon = strchr(optarg, ':');

					if (colon == NULL)
						Fatal("--dropout-rows: expected MIN:MAX, got \"%s\"", optarg);
					*colon = '\0';
					opt.dropout_min = (int) ParseInt(optarg, "--dropout-rows", 1, 1000000);
					opt.dropout_max = (int) ParseInt(colon + 1, "--dropout-rows", opt.dropout_min, 1000000);
					break;
				}
			case 'X': opt.kafka_conf[opt.nkafka_conf++] = optarg; break;
			case 'h':
			case O_HELP: Usage(stdout); return 0;
			default: Usage(stderr); return 2;
		}
	}
	if (optind < argc)
		Fatal("unexpected argument \"%s\"", argv[optind]);
	if (opt.duration > 0)
	{
		if (opt.rate <= 0)
			Fatal("--duration needs --rate > 0");
		if (count_given)
			Fatal("give --count or --duration, not both");
		opt.count = (long long) ceil(opt.duration * opt.rate);
	}
	if (opt.ts_jitter_ms > 0 &&
		opt.ts_jitter_ms >= (opt.rate > 0 ? 1000.0 * opt.entities / opt.rate : opt.period_ms))
		Fatal("--ts-jitter must be shorter than the time step (%g ms)",
			  opt.rate > 0 ? 1000.0 * opt.entities / opt.rate : opt.period_ms);
	if (opt.oversize > 1000000 && !opt.dry_run)
		fprintf(stderr, "gc_sensor_sim: warning: --oversize-bytes above the producer's message.max.bytes (1000000) are rejected unless raised with -X\n");
	if (opt.start_ms < 0)
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		opt.start_ms = (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
	}

	for (int i = 0; i < RNG_COUNT; i++)
		RngInit(&rng[i], opt.seed, (uint64_t) i);
	BuildSigma(&rng[RNG_CORR]);
	if (opt.sigma_path)
	{
		FILE	   *f = fopen(opt.sigma_path, "w");

		if (!f)
			Fatal("cannot write %s: %s", opt.sigma_path, strerror(errno));
		for (int j = 0; j < opt.ncols; j++)
			fprintf(f, "%s%s", j ? "," : "", opt.cols[j].name);
		fputc('\n', f);
		for (int i = 0; i < opt.ncols; i++)
			for (int j = 0; j < opt.ncols; j++)
				fprintf(f, "%.17g%c", sigma[i][j], j + 1 < opt.ncols ? ',' : '\n');
		fclose(f);
	}
	if (opt.truth_path)
	{
		truth = fopen(opt.truth_path, "w");
		if (!truth)
			Fatal("cannot write %s: %s", opt.truth_path, strerror(errno));
		fprintf(truth, "entity,ts,messages,observed");
		for (int j = 0; j < opt.ncols; j++)
			fprintf(truth, ",%s", opt.cols[j].name);
		fputc('\n', truth);
	}
	if (opt.out_path)
	{
		out_file = fopen(opt.out_path, "w");
		if (!out_file)
			Fatal("cannot write %s: %s", opt.out_path, strerror(errno));
	}
	if (!opt.dry_run)
		KafkaInit();
	signal(SIGINT, OnSignal);
	signal(SIGTERM, OnSignal);

	next_id = malloc(sizeof(long long) * (size_t) opt.entities);
	for (int e = 0; e < opt.entities; e++)
		next_id[e] = opt.data_id_base;
	/* per entity: the previous latent row, and the column out and the rows it stays out */
	zstate = calloc((size_t) opt.entities * MAX_COLS, sizeof(double));
	out_col = malloc(sizeof(int) * (size_t) opt.entities);
	out_left = calloc((size_t) opt.entities, sizeof(int));
	if (!next_id || !zstate || !out_col || !out_left)
		Fatal("out of memory");
	cnt.digest = 0xcbf29ce484222325ULL;

	/* seconds of event time (and, with --rate, of wall time) between two steps */
	interval = opt.rate > 0 ? opt.entities / opt.rate : opt.period_ms / 1000.0;
	t0 = Now();
	run_t0 = t0;

	for (long long row = 0; row < opt.count && !stop_requested; row++)
	{
		int			e = (int) (row % opt.entities);
		long long	step = row / opt.entities;
		double		x[MAX_COLS];
		bool		dropped[MAX_COLS],
					observed[MAX_COLS] = {0};
		int			part_of[MAX_COLS],
					nparts = 1,
					present = 0,
					sent_parts = 0;
		char		entity[96],
					ts[80];
		long long	ts_ms;

		tgen = step * interval;
		ts_ms = opt.start_ms + (long long) llround(tgen * 1000.0);
		EntityName(entity, sizeof(entity), e);
		FormatTs(ts, sizeof(ts), ts_ms);

		/* emit everything due before this step's generation time */
		if (opt.rate > 0)
			RunUntil(t0, tgen);
		while (heap_len > 0 && heap[0].send <= tgen)
		{
			Pending		p = HeapPop();

			Produce(&p, opt.start_ms);
		}

		DrawRow(&rng[RNG_VALUES], x, zstate + (size_t) e * MAX_COLS, step == 0);
		cnt.rows++;
		cnt.cells += opt.ncols;
		if (opt.dropout > 0 && out_left[e] == 0 && RngBernoulli(&rng[RNG_DROPOUT], opt.dropout))
		{
			out_col[e] = (int) RngBelow(&rng[RNG_DROPOUT], (uint64_t) opt.ncols);
			out_left[e] = opt.dropout_min +
				(int) RngBelow(&rng[RNG_DROPOUT], (uint64_t) (opt.dropout_max - opt.dropout_min + 1));
		}
		for (int j = 0; j < opt.ncols; j++)
		{
			dropped[j] = RngBernoulli(&rng[RNG_DROP], opt.drop) ||
				(out_left[e] > 0 && j == out_col[e]);
			if (j == opt.ncols - 1 && out_left[e] > 0)
				out_left[e]--;
			if (dropped[j])
				cnt.cells_dropped++;
			else
				present++;
			part_of[j] = 0;
		}
		/* split the present cells into 2..3 non-empty parts */
		if (RngBernoulli(&rng[RNG_SPLIT], opt.split) && present >= 2)
		{
			int			k = 0;

			nparts = 2 + (int) RngBelow(&rng[RNG_SPLIT], present >= 3 ? 2 : 1);
			for (int j = 0; j < opt.ncols; j++)
				if (!dropped[j])
				{
					/* first nparts present cells seed the parts, the rest go anywhere */
					part_of[j] = k < nparts ? k : (int) RngBelow(&rng[RNG_SPLIT], (uint64_t) nparts);
					k++;
				}
			cnt.rows_split++;
		}

		for (int part = 0; part < nparts; part++)
		{
			bool		take[MAX_COLS];
			double		delay,
						jitter;
			char		pts[80];
			Pending		p;

			/* malformed messages are extra messages, placed before this one */
			while (RngBernoulli(&rng[RNG_MALFORMED], opt.malformed))
			{
				int			kind = BuildMalformed(&buf, &rng[RNG_MALFORMED], entity,
												  next_id[e]++, ts);

				cnt.malformed++;
				cnt.bad[kind]++;
				p.send = tgen;
				p.seq = seq++;
				p.entity = e;
				p.payload = CopyBuf(&buf);
				p.len = buf.len;
				HeapPush(p);
			}

			for (int j = 0; j < opt.ncols; j++)
				take[j] = !dropped[j] && part_of[j] == part;
			/* the parts of a row need not carry the same time stamp: the consumer
			 * has to assemble rows by event-time window, not by equal ts */
			jitter = 0;
			if (opt.ts_jitter_ms > 0)
			{
				jitter = floor(RngUniform(&rng[RNG_JITTER]) * opt.ts_jitter_ms) / 1000.0;
				FormatTs(pts, sizeof(pts), ts_ms + (long long) llround(jitter * 1000.0));
			}
			else
				strcpy(pts, ts);
			BuildValid(&buf, entity, next_id[e]++, pts, x, take, dropped);
			cnt.valid_messages++;
			/* draw every random number whether or not it is used, so that the
			 * other decisions do not depend on e.g. --lose */
			delay = opt.delay_scale * exp(opt.delay_mu + opt.delay_sigma * RngNormal(&rng[RNG_DELAY]));
			if (opt.delay_max > 0 && delay > opt.delay_max)
				delay = opt.delay_max;
			if (RngBernoulli(&rng[RNG_LOSE], opt.lose))
			{
				cnt.lost++;
				continue;
			}
			cnt.valid_sent++;
			sent_parts++;
			for (int j = 0; j < opt.ncols; j++)
				if (take[j])
				{
					observed[j] = true;
					cnt.cells_observed++;
				}
			p.send = tgen + jitter + delay;
			p.seq = seq++;
			p.entity = e;
			p.payload = CopyBuf(&buf);
			p.len = buf.len;
			HeapPush(p);
			/* a resend after a lost acknowledgement: same bytes, a later delivery */
			if (RngBernoulli(&rng[RNG_DUP], opt.dup))
			{
				double		again = opt.delay_scale * exp(opt.delay_mu + opt.delay_sigma * RngNormal(&rng[RNG_DUP]));

				if (opt.delay_max > 0 && again > opt.delay_max)
					again = opt.delay_max;
				p.send = tgen + jitter + delay + again;
				p.seq = seq++;
				p.payload = CopyBuf(&buf);
				HeapPush(p);
				cnt.duplicates++;
			}
		}
		if (sent_parts > 0)
			cnt.rows_announced++;
		if (truth)
		{
			tbuf.len = 0;
			BufAppendStr(&tbuf, entity);
			BufAppend(&tbuf, ",", 1);
			BufAppendStr(&tbuf, ts);
			BufAppend(&tbuf, ",", 1);
			BufAppendInt(&tbuf, sent_parts);
			BufAppend(&tbuf, ",", 1);
			for (int j = 0; j < opt.ncols; j++)
				BufAppend(&tbuf, observed[j] ? "1" : "0", 1);
			for (int j = 0; j < opt.ncols; j++)
			{
				BufAppend(&tbuf, ",", 1);
				AppendValue(&tbuf, j, x[j]);
			}
			BufAppend(&tbuf, "\n", 1);
			fwrite(tbuf.data, 1, tbuf.len, truth);
		}
		if (!opt.quiet && (row + 1) % 100000 == 0)
			fprintf(stderr, "gc_sensor_sim: %lld rows\n", row + 1);
	}
	/* the tail: everything still delayed */
	while (heap_len > 0 && !stop_requested)
	{
		Pending		p = HeapPop();

		if (opt.rate > 0)
			SleepUntil(t0, p.send);
		Produce(&p, opt.start_ms);
	}
	while (heap_len > 0)
		free(HeapPop().payload);
	if (!opt.dry_run)
	{
		rd_kafka_resp_err_t err = rd_kafka_flush(rk, 60000);

		if (err)
			fprintf(stderr, "gc_sensor_sim: flush: %s (%d messages not delivered)\n",
					rd_kafka_err2str(err), rd_kafka_outq_len(rk));
		cnt.failed += rd_kafka_outq_len(rk);
	}
	elapsed = Now() - t0;

	printf("rows=%lld\n", cnt.rows);
	printf("rows_split=%lld\n", cnt.rows_split);
	printf("rows_announced=%lld\n", cnt.rows_announced);
	printf("cells=%lld\n", cnt.cells);
	printf("cells_dropped=%lld\n", cnt.cells_dropped);
	printf("cells_observed=%lld\n", cnt.cells_observed);
	printf("valid_messages=%lld\n", cnt.valid_messages);
	printf("lost=%lld\n", cnt.lost);
	printf("valid_sent=%lld\n", cnt.valid_sent);
	printf("duplicates=%lld\n", cnt.duplicates);
	printf("malformed=%lld\n", cnt.malformed);
	for (int k = 0; k < BAD_KINDS; k++)
		printf("malformed_%s=%lld\n", bad_names[k], cnt.bad[k]);
	printf("total_sent=%lld\n", cnt.valid_sent + cnt.duplicates + cnt.malformed);
	printf("produced=%lld\n", cnt.produced);
	printf("delivered=%lld\n", cnt.delivered);
	printf("failed=%lld\n", cnt.failed);
	printf("bytes=%lld\n", cnt.bytes);
	printf("seconds=%.3f\n", elapsed);
	printf("msgs_per_sec=%.0f\n", elapsed > 0 ? cnt.produced / elapsed : 0.0);
	printf("send_lag_max_ms=%.1f\n", cnt.lag_max * 1000);
	printf("send_lag_mean_ms=%.3f\n", cnt.produced ? cnt.lag_sum * 1000 / cnt.produced : 0.0);
	printf("digest=%016" PRIx64 "\n", cnt.digest);
	printf("interrupted=%d\n", stop_requested ? 1 : 0);

	if (truth)
		fclose(truth);
	if (out_file)
		fclose(out_file);
	if (!opt.dry_run)
	{
		rd_kafka_topic_destroy(rkt);
		rd_kafka_destroy(rk);
	}
	free(next_id);
	free(heap);
	free(buf.data);
	free(tbuf.data);
	free(opt.kafka_conf);
	return cnt.failed > 0 || stop_requested ? 1 : 0;
}
