/*
 * decode.c — message decoders: one JSON object or one CSV line per Kafka message.
 *
 * These run on every message, so they are hand-written single-pass scanners that only
 * keep the fields the stream maps (StreamConfig.fields) and never throw: a malformed
 * message yields false and an error text, and becomes a dead letter.  Nested objects and
 * arrays are skipped structurally and reported as FK_OTHER if a mapped field holds one.
 */
#include "postgres.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/datetime.h"

#include "stream/stream.h"

Decoded *
DecodedCreate(StreamConfig *cfg)
{
	Decoded    *d = palloc0(sizeof(Decoded));

	d->nfields = cfg->nfields;
	d->kind = palloc0(Max(cfg->nfields, 1));
	d->val = palloc0(sizeof(char *) * Max(cfg->nfields, 1));
	d->num = palloc0(sizeof(double) * Max(cfg->nfields, 1));
	d->numok = palloc0(sizeof(bool) * Max(cfg->nfields, 1));
	d->len = palloc0(sizeof(int) * Max(cfg->nfields, 1));
	d->hint = 0;
	d->hintlen = palloc0(sizeof(int) * Max(cfg->nfields, 1));
	for (int i = 0; i < cfg->nfields; i++)
		d->hintlen[i] = strlen(cfg->fields[i]);
	initStringInfo(&d->key);
	return d;
}

static int
FieldIndex(StreamConfig *cfg, Decoded *d, const char *name, size_t len)
{
	for (int i = 0; i < cfg->nfields; i++)
		if ((size_t) d->hintlen[i] == len && (len == 0 || cfg->fields[i][0] == name[0]) &&
			memcmp(cfg->fields[i], name, len) == 0)
			return i;
	return -1;
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
IsJsonNumber(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (isdigit((unsigned char) *p))
			p++;
	else
		return false;
	if (*p == '.')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	return *p == '\0';
}

/* the powers of ten that are exact doubles (Clinger's fast path) */
static const double Pow10Exact[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/*
 * The digits after a decimal point (at least one, checked by the caller) into the
 * mantissa m; false when the number leaves the fast path (more than 15 significant
 * digits or more than 22 decimals).
 */
static inline bool
FastFraction(const char **pp, uint64 *m, int *digits, int *frac)
{
	const char *p = *pp;

	while (*p >= '0' && *p <= '9')
	{
		if (*m != 0 || *p != '0')
			(*digits)++;
		*m = *m * 10 + (*p++ - '0');
		(*frac)++;
		if (*digits > 15 || *frac > 22)
			return false;
	}
	*pp = p;
	return true;
}

/* m / 10^frac, correctly rounded because both are exact doubles */
static inline double
FastValue(uint64 m, int frac, bool neg)
{
	double		v = frac ? (double) m / Pow10Exact[frac] : (double) m;

	return neg ? -v : v;
}

/*
 * The fast path of ScanJsonNumber on a number in place (not NUL-terminated): 1 with *v
 * and *endp (the character after the number) for a plain decimal of the fast path;
 * otherwise 0, and the caller takes the general path.  The caller makes sure that a
 * character that ends the scan (one that is not a digit, '-' or '.') lies ahead.
 */
static inline int
ScanJsonNumberAt(const char *p, double *v, const char **endp)
{
	bool		neg = false;
	uint64		m = 0;
	int			digits = 0,
				frac = 0;

	if (*p == '-')
	{
		neg = true;
		p++;
	}
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
		{
			digits++;
			if (digits > 15)
				return 0;
			m = m * 10 + (*p++ - '0');
		}
	else
		return 0;
	if (*p == '.')
	{
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		if (!FastFraction(&p, &m, &digits, &frac))
			return 0;
	}
	if (*p == 'e' || *p == 'E')
		return 0;
	*v = FastValue(m, frac, neg);
	*endp = p;
	return 1;
}

/*
 * The same grammar check as IsJsonNumber, and in the same pass the value when it is a
 * plain decimal that FastDecimal's exact path covers (at most 15 significant digits, no
 * exponent).  Returns -1 for bad grammar, 1 with *v set, 0 for a valid number whose
 * value DecodeNumber must compute.
 */
static int
ScanJsonNumber(const char *p, double *v)
{
	const char *end;
	int			rc = ScanJsonNumberAt(p, v, &end);

	if (rc == 1 && *end != '\0')
		return -1;
	return rc == 1 ? 1 : (IsJsonNumber(p) ? 0 : -1);
}

typedef struct Scan
{
	const char *p;
	const char *end;
	char	  **error;
} Scan;

static inline void
SkipWs(Scan *s)
{
	/* compact JSON has no white space: one test for that */
	if (likely(s->p < s->end && (unsigned char) *s->p > ' '))
		return;
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
HexVal(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Scan a JSON string at s->p (the opening quote); append its value to out if not NULL. */
static bool
ScanString(Scan *s, StringInfo out)
{
	const char *q;

	s->p++;
	/* fast path: the run up to the first quote, backslash or control character at once */
	for (q = s->p; q < s->end; q++)
	{
		unsigned char c = (unsigned char) *q;

		if (c == '"' || c == '\\' || c < 0x20)
			break;
	}
	if (out && q > s->p)
		appendBinaryStringInfo(out, s->p, q - s->p);
	s->p = q;
	while (s->p < s->end)
	{
		unsigned char c = (unsigned char) *s->p;

		if (c == '"')
		{
			s->p++;
			return true;
		}
		if (c < 0x20)
		{
			*s->error = "control character in JSON string";
			return false;
		}
		if (c == '\\')
		{
			if (s->p + 1 >= s->end)
				break;
			s->p++;
			switch (*s->p)
			{
				case '"':
				case '\\':
				case '/':
					if (out)
						appendStringInfoChar(out, *s->p);
					break;
				case 'b':
					if (out)
						appendStringInfoChar(out, '\b');
					break;
				case 'f':
					if (out)
						appendStringInfoChar(out, '\f');
					break;
				case 'n':
					if (out)
						appendStringInfoChar(out, '\n');
					break;
				case 'r':
					if (out)
						appendStringInfoChar(out, '\r');
					break;
				case 't':
					if (out)
						appendStringInfoChar(out, '\t');
					break;
				case 'u':
					{
						pg_wchar	cp = 0;
						unsigned char buf[8];

						if (s->p + 4 >= s->end)
						{
							*s->error = "truncated \\u escape in JSON string";
							return false;
						}
						for (int i = 1; i <= 4; i++)
						{
							int			h = HexVal(s->p[i]);

							if (h < 0)
							{
								*s->error = "invalid \\u escape in JSON string";
								return false;
							}
							cp = cp * 16 + h;
						}
						s->p += 4;
						if (cp == 0)
						{
							*s->error = "\\u0000 cannot be stored in a text value";
							return false;
						}
						if (cp >= 0xD800 && cp <= 0xDFFF)
						{
							pg_wchar	lo = 0;

							if (cp > 0xDBFF || s->p + 6 >= s->end || s->p[1] != '\\' || s->p[2] != 'u')
							{
								*s->error = "invalid surrogate pair in JSON string";
								return false;
							}
							for (int i = 3; i <= 6; i++)
							{
								int			h = HexVal(s->p[i]);

								if (h < 0)
								{
									*s->error = "invalid \\u escape in JSON string";
									return false;
								}
								lo = lo * 16 + h;
							}
							if (lo < 0xDC00 || lo > 0xDFFF)
							{
								*s->error = "invalid surrogate pair in JSON string";
								return false;
							}
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							s->p += 6;
						}
						if (out)
						{
							unicode_to_utf8(cp, buf);
							appendBinaryStringInfo(out, (char *) buf, pg_utf_mblen(buf));
						}
						break;
					}
				default:
					*s->error = "invalid escape in JSON string";
					return false;
			}
			s->p++;
			continue;
		}
		if (out)
			appendStringInfoChar(out, (char) c);
		s->p++;
	}
	*s->error = "unterminated JSON string";
	return false;
}

/* Skip any JSON value (used for unmapped fields and nested values). */
static bool
SkipValue(Scan *s, int depth)
{
	SkipWs(s);
	if (s->p >= s->end)
	{
		*s->error = "unexpected end of JSON input";
		return false;
	}
	if (depth > 64)
	{
		*s->error = "JSON nested too deeply";
		return false;
	}
	switch (*s->p)
	{
		case '"':
			return ScanString(s, NULL);
		case '{':
		case '[':
			{
				char		close = (*s->p == '{') ? '}' : ']';
				bool		obj = (*s->p == '{');

				s->p++;
				SkipWs(s);
				if (s->p < s->end && *s->p == close)
				{
					s->p++;
					return true;
				}
				for (;;)
				{
					if (obj)
					{
						SkipWs(s);
						if (s->p >= s->end || *s->p != '"' || !ScanString(s, NULL))
						{
							if (!**s->error)
								*s->error = "expected a JSON object key";
							return false;
						}
						SkipWs(s);
						if (s->p >= s->end || *s->p != ':')
						{
							*s->error = "expected \":\" after a JSON object key";
							return false;
						}
						s->p++;
					}
					if (!SkipValue(s, depth + 1))
						return false;
					SkipWs(s);
					if (s->p < s->end && *s->p == ',')
					{
						s->p++;
						continue;
					}
					if (s->p < s->end && *s->p == close)
					{
						s->p++;
						return true;
					}
					*s->error = "expected \",\" or the end of a JSON container";
					return false;
				}
			}
		default:
			{
				const char *st = s->p;

				while (s->p < s->end && (isalnum((unsigned char) *s->p) || *s->p == '-' ||
										 *s->p == '+' || *s->p == '.'))
					s->p++;
				if (s->p == st)
				{
					*s->error = "unexpected character in JSON input";
					return false;
				}
				return true;
			}
	}
}

static bool
DecodeJson(StreamConfig *cfg, const char *payload, size_t len, Decoded *d,
		   StringInfo scratch, char **error)
{
	Scan		s = {payload, payload + len, error};
	StringInfo	key = &d->key;
	static char nokey[1] = "";
	const char *nend;
	bool		bounded;

	/*
	 * Numbers are converted in place only if the object's closing brace ends the message:
	 * then a scan of digits cannot run off its end.
	 */
	{
		const char *e = payload + len;

		while (e > payload && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
			e--;
		bounded = e > payload && e[-1] == '}';
	}

	*error = nokey;
	SkipWs(&s);
	if (s.p >= s.end || *s.p != '{')
	{
		*error = "message is not a JSON object";
		return false;
	}
	s.p++;
	SkipWs(&s);
	if (s.p < s.end && *s.p == '}')
		s.p++;
	else
		for (;;)
		{
			int			f;
			const char *vstart;
			const char *kp;
			size_t		klen;

			SkipWs(&s);
			if (s.p >= s.end || *s.p != '"')
			{
				*error = "expected a JSON object key";
				return false;
			}
			{
				/* a key without escapes is compared where it lies; others are unescaped */
				const char *kstart = s.p + 1;

				if (!ScanString(&s, NULL))
					return false;
				kp = kstart;
				klen = s.p - 1 - kstart;
				if (memchr(kstart, '\\', klen) != NULL)
				{
					s.p = kstart - 1;
					resetStringInfo(key);
					if (!ScanString(&s, key))
						return false;
					kp = key->data;
					klen = key->len;
				}
			}
			SkipWs(&s);
			if (s.p >= s.end || *s.p != ':')
			{
				*error = "expected \":\" after a JSON object key";
				return false;
			}
			s.p++;
			SkipWs(&s);
			/* messages of a stream usually list their fields in one order: try the next first */
			f = d->hint < cfg->nfields && klen == d->hintlen[d->hint] &&
				memcmp(cfg->fields[d->hint], kp, klen) == 0
				? d->hint : FieldIndex(cfg, d, kp, klen);
			if (f >= 0)
				d->hint = f + 1;
			vstart = s.p;
			if (f >= 0 && s.p < s.end && *s.p == '"')
			{
				int			off = scratch->len;

				if (!ScanString(&s, scratch))
					return false;
				d->len[f] = scratch->len - off;
				appendStringInfoChar(scratch, '\0');
				d->kind[f] = FK_STRING;
				d->numok[f] = false;	/* (a repeated key replaces a number) */
				d->val[f] = (char *) (intptr_t) off;	/* fixed up below */
			}
			else if (f >= 0 && bounded && s.p < s.end &&
					 (*s.p == '-' || (*s.p >= '0' && *s.p <= '9')) &&
					 ScanJsonNumberAt(s.p, &d->num[f], &nend) == 1 &&
					 !(isalnum((unsigned char) *nend) || *nend == '-' || *nend == '+' || *nend == '.'))
			{
				/* a plain number, converted where it lies (else the general path below) */
				int			off = scratch->len;
				int			vl = nend - s.p;

				appendBinaryStringInfo(scratch, s.p, vl);
				appendStringInfoChar(scratch, '\0');
				d->val[f] = (char *) (intptr_t) off;
				d->len[f] = vl;
				d->numok[f] = true;
				d->kind[f] = FK_NUMBER;
				s.p = nend;
			}
			else
			{
				if (!SkipValue(&s, 0))
					return false;
				if (f >= 0)
				{
					size_t		vl = s.p - vstart;
					int			off = scratch->len;

					appendBinaryStringInfo(scratch, vstart, vl);
					appendStringInfoChar(scratch, '\0');
					d->val[f] = (char *) (intptr_t) off;
					d->len[f] = vl;
					if (*vstart == '{' || *vstart == '[')
						d->kind[f] = FK_OTHER;
					else if (vl == 4 && vstart[0] == 'n' && strncmp(vstart, "null", 4) == 0)
						d->kind[f] = FK_NULL;
					else if ((vl == 4 && vstart[0] == 't' && strncmp(vstart, "true", 4) == 0) ||
							 (vl == 5 && vstart[0] == 'f' && strncmp(vstart, "false", 5) == 0))
						d->kind[f] = FK_BOOL;
					else
					{
						/* grammar, and the value when the exact fast path covers it */
						int			rc = ScanJsonNumber(scratch->data + off, &d->num[f]);

						if (rc < 0)
						{
							*error = "invalid JSON value";
							return false;
						}
						d->numok[f] = (rc == 1);
						d->kind[f] = FK_NUMBER;
					}
				}
			}
			SkipWs(&s);
			if (s.p < s.end && *s.p == ',')
			{
				s.p++;
				continue;
			}
			if (s.p < s.end && *s.p == '}')
			{
				s.p++;
				break;
			}
			*error = "expected \",\" or \"}\" in JSON object";
			return false;
		}
	SkipWs(&s);
	if (s.p != s.end)
	{
		*error = "trailing characters after the JSON object";
		return false;
	}
	return true;
}

/* One CSV record (RFC 4180 quoting); fields by position per csv_fields. */
static bool
DecodeCsv(StreamConfig *cfg, const char *payload, size_t len, Decoded *d,
		  StringInfo scratch, char **error)
{
	const char *p = payload,
			   *end = payload + len;
	int			pos = 0;

	/* one message is one record: drop a single trailing newline */
	if (end > p && end[-1] == '\n')
		end--;
	if (end > p && end[-1] == '\r')
		end--;
	for (;;)
	{
		int			off = scratch->len;
		bool		quoted = false;
		int			f = (pos < cfg->ncsv) ? cfg->csv_field[pos] : -1;

		if (p < end && *p == '"')
		{
			quoted = true;
			p++;
			for (;;)
			{
				if (p >= end)
				{
					*error = "unterminated quoted CSV field";
					return false;
				}
				if (*p == '"')
				{
					if (p + 1 < end && p[1] == '"')
					{
						appendStringInfoChar(scratch, '"');
						p += 2;
						continue;
					}
					p++;
					break;
				}
				appendStringInfoChar(scratch, *p++);
			}
			if (p < end && *p != cfg->delim)
			{
				*error = "unexpected character after a quoted CSV field";
				return false;
			}
		}
		else
		{
			while (p < end && *p != cfg->delim)
			{
				if (*p == '\n' || *p == '\r')
				{
					*error = "CSV message holds more than one line";
					return false;
				}
				appendStringInfoChar(scratch, *p++);
			}
		}
		appendStringInfoChar(scratch, '\0');
		if (pos >= cfg->ncsv)
		{
			*error = psprintf("CSV message has more than the %d fields of csv_fields", cfg->ncsv);
			return false;
		}
		if (f >= 0)
		{
			char	   *v = scratch->data + off;
			double		dummy;

			d->val[f] = (char *) (intptr_t) off;
			if (!quoted && v[0] == '\0')
				d->kind[f] = FK_NULL;
			else if (!quoted && DecodeNumber(v, &dummy))
				d->kind[f] = FK_NUMBER;
			else
				d->kind[f] = FK_STRING;
		}
		pos++;
		if (p >= end)
			break;
		p++;					/* delimiter */
	}
	if (pos != cfg->ncsv)
	{
		*error = psprintf("CSV message has %d fields, csv_fields names %d", pos, cfg->ncsv);
		return false;
	}
	return true;
}

/*
 * DecodeMessage: fill d from one payload.  Values point into scratch, which the caller
 * resets per message.
 */
/*
 * True when every byte is 1..127: such a message has no NUL and is valid UTF-8, which is
 * what nearly every message is, so it skips the byte-by-byte UTF-8 verifier.  Eight bytes
 * per step: a byte with its high bit set, or a zero byte, shows in the word tests.
 */
static bool
PlainAscii(const char *p, size_t len)
{
	const uint64 hi = UINT64CONST(0x8080808080808080),
				lo = UINT64CONST(0x0101010101010101);
	size_t		i = 0;

	for (; i + 8 <= len; i += 8)
	{
		uint64		x;

		memcpy(&x, p + i, 8);
		/* (x - lo) & ~x & hi is nonzero iff some byte of x is zero */
		if ((x & hi) || ((x - lo) & ~x & hi))
			return false;
	}
	for (; i < len; i++)
		if ((unsigned char) p[i] == 0 || (unsigned char) p[i] >= 0x80)
			return false;
	return true;
}

bool
DecodeMessage(StreamConfig *cfg, const char *payload, size_t len, Decoded *d,
			  StringInfo scratch, char **error)
{
	bool		ok;

	memset(d->kind, FK_ABSENT, d->nfields);
	memset(d->numok, 0, d->nfields);
	if (payload == NULL || len == 0)
	{
		*error = "empty message";
		return false;
	}
	if (len > (size_t) cfg->max_message_bytes)
	{
		*error = psprintf("message of %zu bytes exceeds max_message_bytes (%d)", len, cfg->max_message_bytes);
		return false;
	}
	if (!PlainAscii(payload, len))
	{
		/* the exact checks only for messages that may fail them */
		if (memchr(payload, '\0', len) != NULL)
		{
			*error = "message contains a NUL byte";
			return false;
		}
		if (pg_verify_mbstr_len(PG_UTF8, payload, len, true) < 0)
		{
			*error = "message is not valid UTF-8";
			return false;
		}
	}
	ok = cfg->csv ? DecodeCsv(cfg, payload, len, d, scratch, error)
		: DecodeJson(cfg, payload, len, d, scratch, error);
	if (!ok)
		return false;
	/* the values' offsets into pointers (JSON knows the lengths already) */
	for (int i = 0; i < d->nfields; i++)
		if (d->kind[i] != FK_ABSENT)
		{
			d->val[i] = scratch->data + (intptr_t) d->val[i];
			if (cfg->csv)
				d->len[i] = strlen(d->val[i]);
		}
	*error = NULL;
	return true;
}

/*
 * Clinger's fast path: a decimal with at most 15 significant digits and a power of ten
 * up to 22 is an exact integer times or divided by an exact power of ten, so one IEEE
 * multiplication or division gives the correctly rounded value -- the same double strtod
 * returns, at a fraction of the cost.  Anything else falls back to strtod.
 */
static bool
FastDecimal(const char *s, double *v)
{
	const char *p = s;
	bool		neg = false;
	uint64		m = 0;
	int			digits = 0,
				frac = 0;

	if (*p == '-')
	{
		neg = true;
		p++;
	}
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
	{
		if (m != 0 || *p != '0')
			digits++;
		m = m * 10 + (*p++ - '0');
		if (digits > 15)
			return false;
	}
	if (*p == '.')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			return false;
		if (!FastFraction(&p, &m, &digits, &frac))
			return false;
	}
	if (*p != '\0')
		return false;			/* exponents and the rest: strtod */
	*v = FastValue(m, frac, neg);
	return true;
}

/* A finite number in JSON/C syntax, the whole string. */
bool
DecodeNumber(const char *s, double *v)
{
	char	   *end;

	if (FastDecimal(s, v))
		return true;

	if (*s == '\0' || isspace((unsigned char) *s))
		return false;
	errno = 0;
	*v = strtod(s, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(*v))
		return false;
	/* strtod accepts hex and "inf"/"nan"; JSON does not */
	for (const char *c = s; *c; c++)
		if (!(isdigit((unsigned char) *c) || *c == '-' || *c == '+' || *c == '.' || *c == 'e' || *c == 'E'))
			return false;
	return true;
}

static bool
Digits(const char **p, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) (*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/*
 * Event time: a number (in time_unit since the Unix epoch) or an ISO 8601 timestamp
 * "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+HH[:MM]|-HH[:MM]]" (no zone means UTC).
 */
bool
DecodeEventTime(StreamConfig *cfg, char kind, const char *s, int64 *us, char **error)
{
	double		v;
	int			y,
				mo,
				d,
				h,
				mi,
				se;
	int64		frac = 0;
	int			tz = 0;
	const char *p = s;

	if ((kind == FK_NUMBER || kind == FK_STRING) && DecodeNumber(s, &v))
	{
		v *= cfg->time_unit;
		if (v < -1e11 || v > 1e11)
		{
			*error = "event time out of range";
			return false;
		}
		*us = (int64) llround(v * 1e6);
		return true;
	}
	if (kind != FK_STRING)
	{
		*error = "event time must be a number or an ISO 8601 string";
		return false;
	}
	if (!Digits(&p, 4, &y) || *p++ != '-' || !Digits(&p, 2, &mo) || *p++ != '-' ||
		!Digits(&p, 2, &d) || (*p != 'T' && *p != ' ') || !(p++) ||
		!Digits(&p, 2, &h) || *p++ != ':' || !Digits(&p, 2, &mi) || *p++ != ':' ||
		!Digits(&p, 2, &se))
	{
		*error = "invalid event time (expected ISO 8601 like 2024-05-01T12:00:00.5Z)";
		return false;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
	{
		*error = "event time field out of range";
		return false;
	}
	if (*p == '.')
	{
		int64		scale = 100000;

		p++;
		if (!isdigit((unsigned char) *p))
		{
			*error = "invalid fractional seconds in event time";
			return false;
		}
		while (isdigit((unsigned char) *p))
		{
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = (*p == '-') ? -1 : 1,
					th,
					tm = 0;

		p++;
		if (!Digits(&p, 2, &th))
		{
			*error = "invalid time zone in event time";
			return false;
		}
		if (*p == ':')
			p++;
		if (isdigit((unsigned char) *p) && !Digits(&p, 2, &tm))
		{
			*error = "invalid time zone in event time";
			return false;
		}
		tz = sign * (th * 3600 + tm * 60);
	}
	if (*p != '\0')
	{
		*error = "trailing characters in event time";
		return false;
	}
	*us = (((int64) (date2j(y, mo, d) - UNIX_EPOCH_JDATE) * 86400 + h * 3600 + mi * 60 + se - tz) * INT64CONST(1000000)) + frac;
	return true;
}
