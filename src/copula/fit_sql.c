/*
 * fit_sql.c — the gc_fit aggregate: collect rows, then fit a Gaussian copula by EM.
 *
 *   SELECT gc_fit(ARRAY[a, b, c]) FROM t;
 *   SELECT gc_fit(ARRAY[a, b, c], '{"types": ["continuous", "ordinal", "auto"]}') FROM t;
 *
 * The transition function only appends rows (after validating them) to a buffer in the
 * aggregate context, checked against maintenance_work_mem; the final function sorts a
 * copy of the rows into a canonical order, so the fitted model does not depend on the
 * order in which rows arrive (serial or parallel scans give the same model), and runs the
 * EM of src/copula/em.c in a memory context of its own.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "gcimpute.h"
#include "copula/fit_sql.h"
#include "copula/gcmodel_sql.h"
#include "copula/temporal.h"
#include "platform/sort.h"
#include "copula/online.h"

PG_FUNCTION_INFO_V1(gc_fit_transfn);
PG_FUNCTION_INFO_V1(gc_fit_finalfn);
PG_FUNCTION_INFO_V1(gc_fit_combinefn);
PG_FUNCTION_INFO_V1(gc_fit_serialfn);
PG_FUNCTION_INFO_V1(gc_fit_deserialfn);
PG_FUNCTION_INFO_V1(gc_update_transfn);

#define FIT_STATE_VERSION 1

/* Bytes the fit needs per stored value: the rows, a sorted copy, the latent matrices, Λ·rows. */
#define FIT_BYTES_PER_VALUE (7 * sizeof(double))

static const char *const fit_option_names[] = {
	"types", "max_iter", "tol", "min_ord_ratio", "max_knots", "num_ord_updates",
	"verbose", "training", "batch_size", "num_pass", "stepsize", "decay", "seed", "rank", NULL
};

/* gc_update continues a fitted model: its types and marginals are given */
static const char *const update_option_names[] = {
	"batch_size", "stepsize", "decay", "max_knots", "num_ord_updates", "verbose", NULL
};

/* gc_fit_series: standard training of a full model, plus the series' lags and step */
static const char *const series_option_names[] = {
	"types", "max_iter", "tol", "min_ord_ratio", "max_knots", "num_ord_updates", "verbose",
	"lags", "max_lags", "step", NULL
};

typedef GcSqlFitOptions FitOptions;

/*
 * The options that are one number in a range: where each goes in FitOptions and its
 * bounds (integers: lo..hi inclusive; reals: open or closed at either end).
 */
typedef struct NumOption
{
	const char *name;
	bool		integer;
	size_t		offset;			/* of an int (integer) or a double in FitOptions */
	double		lo,
				hi;
	bool		lo_open,
				hi_open;
} NumOption;

static const NumOption num_options[] = {
	{"max_iter", true, offsetof(FitOptions, core.max_iter), 1, 100000},
	{"max_knots", true, offsetof(FitOptions, core.max_knots), 16, 10000000},
	{"num_ord_updates", true, offsetof(FitOptions, core.num_ord_updates), 1, 100},
	{"batch_size", true, offsetof(FitOptions, core.batch_size), 2, 10000000},
	{"num_pass", true, offsetof(FitOptions, core.num_pass), 1, 100000},
	{"rank", true, offsetof(FitOptions, rank), 1, GCMODEL_MAX_COLUMNS - 1},
	{"tol", false, offsetof(FitOptions, core.tol), 0, 1, true, true},
	{"min_ord_ratio", false, offsetof(FitOptions, core.min_ord_ratio), 0, 1, true, true},
	{"stepsize", false, offsetof(FitOptions, core.stepsize), 0, 1, true, false},
	{"decay", false, offsetof(FitOptions, core.decay), 0, 1, false, true},
};

typedef struct FitState
{
	bool		is_update;		/* gc_update rather than gc_fit */
	GcOnline   *online;			/* minibatch-online and gc_update: the streaming state */
	int			p;				/* row width, 0 until the first row */
	int64		n;				/* rows */
	int64		cap;			/* rows the buffer can hold */
	double	   *data;			/* n × p, row-major */
	char	   *opts_text;		/* options as given (canonical jsonb text), or NULL */
	FitOptions	opts;
} FitState;

static const char *const *option_names = fit_option_names;
static const char *option_fn = "gc_fit";

static const char *
ValidOptionList(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; option_names[i]; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", option_names[i]);
	return buf.data;
}

static double
OptNumber(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"%s\" must be a number", option_fn, key)));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static int
OptInt(JsonbValue *v, const char *key, int lo, int hi)
{
	double		x = OptNumber(v, key);

	if (x != rint(x) || x < lo || x > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"%s\" must be an integer between %d and %d", option_fn, key, lo, hi),
				 errdetail("Got %g.", x)));
	return (int) x;
}

/* Store the value of a numeric option (num_options) after checking its range. */
static void
OptNumeric(JsonbValue *v, const NumOption *no, FitOptions *o)
{
	char	   *dst = (char *) o + no->offset;
	double		x;

	if (no->integer)
	{
		*(int *) dst = OptInt(v, no->name, (int) no->lo, (int) no->hi);
		return;
	}
	x = OptNumber(v, no->name);
	if (!((no->lo_open ? x > no->lo : x >= no->lo) && (no->hi_open ? x < no->hi : x <= no->hi)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"%s\" must be in %c%g, %g%c", option_fn, no->name,
						no->lo_open ? '(' : '[', no->lo, no->hi, no->hi_open ? ')' : ']'),
				 errdetail("Got %g.", x)));
	*(double *) dst = x;
}

static int
TypeFromJson(JsonbValue *v, int col)
{
	char	   *name;
	int			t;

	if (v->type == jbvNull)
		return GC_AUTO;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"types\": the type of column %d must be a string", col)));
	name = pnstrdup(v->val.string.val, v->val.string.len);
	t = gc_vartype_from_name(name);
	if (t < 0 || t == GC_CONSTANT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"types\": unknown type \"%s\" for column %d", name, col),
				 errdetail("Valid types are: auto, continuous, ordinal, binary, lower_truncated, upper_truncated, twosided_truncated.")));
	return t;
}

/* "lags": a number of lags or "auto" (chosen by BIC) */
static int
OptLags(JsonbValue *v)
{
	if (v->type == jbvString && v->val.string.len == 4 &&
		strncmp(v->val.string.val, "auto", 4) == 0)
		return -1;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series option \"lags\" must be an integer or \"auto\"")));
	return OptInt(v, "lags", 0, GC_SERIES_MAX_LAGS);
}

/* "step": seconds between rows, or "auto" (the median gap) */
static double
OptStep(JsonbValue *v)
{
	double		x;

	if (v->type == jbvString && v->val.string.len == 4 &&
		strncmp(v->val.string.val, "auto", 4) == 0)
		return 0;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series option \"step\" must be a number of seconds or \"auto\"")));
	x = OptNumber(v, "step");
	if (!(x > 0) || !isfinite(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series option \"step\" must be positive"),
				 errdetail("Got %g.", x)));
	return x;
}

/* "verbose": true or false */
static bool
OptVerbose(JsonbValue *v)
{
	if (v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s option \"verbose\" must be true or false", option_fn)));
	return v->val.boolean;
}

/* "training": the name of a training mode */
static int
OptTraining(JsonbValue *v)
{
	char	   *mode;
	int			training;

	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"training\" must be a string")));
	mode = pnstrdup(v->val.string.val, v->val.string.len);
	training = gc_training_from_name(mode);
	if (training < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"training\": unknown mode \"%s\"", mode),
				 errdetail("Valid modes are: standard, minibatch-offline, minibatch-online.")));
	return training;
}

/* "seed": an integer that a double holds exactly */
static uint64
OptSeed(JsonbValue *v)
{
	double		x = OptNumber(v, "seed");

	if (x != rint(x) || fabs(x) > 9007199254740992.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"seed\" must be an integer")));
	return (uint64) (int64) x;
}

/* "types" as an object, {"3": "ordinal", "7": "binary"}: 1-based column numbers */
static void
OptTypesByIndex(JsonbContainer *c, FitOptions *o)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			col = 0;
	int			cap = 16;

	o->types_by_index = true;
	o->types = palloc(sizeof(int) * cap);
	for (int i = 0; i < cap; i++)
		o->types[i] = GC_AUTO;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *k = pnstrdup(v.val.string.val, v.val.string.len);
			char	   *end;
			long		c2 = strtol(k, &end, 10);

			if (*k == '\0' || *end != '\0' || c2 < 1 || c2 > GCMODEL_MAX_COLUMNS)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("gc_fit option \"types\": \"%s\" is not a column number", k),
						 errdetail("Keys are 1-based column positions in the row array.")));
			col = (int) c2;
			if (col > cap)
			{
				int			newcap = Max(col, cap * 2);

				o->types = repalloc(o->types, sizeof(int) * newcap);
				for (int i = cap; i < newcap; i++)
					o->types[i] = GC_AUTO;
				cap = newcap;
			}
			o->max_index = Max(o->max_index, col);
		}
		else if (tok == WJB_VALUE)
			o->types[col - 1] = TypeFromJson(&v, col);
	}
	o->ntypes = o->max_index;
}

/* "types": an array of type names, or an object mapping column numbers to type names */
static void
OptTypes(JsonbValue *v, FitOptions *o)
{
	JsonbContainer *c;

	if (v->type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"types\" must be an array of type names or an object mapping column numbers to type names")));
	c = v->val.binary.data;
	if (!JsonContainerIsArray(c))
	{
		OptTypesByIndex(c, o);
		return;
	}
	o->ntypes = JsonContainerSize(c);
	o->types = palloc(sizeof(int) * (o->ntypes > 0 ? o->ntypes : 1));
	for (int i = 0; i < o->ntypes; i++)
		o->types[i] = TypeFromJson(getIthJsonbValueFromContainer(c, i), i + 1);
}

/* The option named key (a copy), refused unless the function takes it. */
static char *
OptKey(JsonbValue *v)
{
	char	   *key = pnstrdup(v->val.string.val, v->val.string.len);

	for (int i = 0; option_names[i]; i++)
		if (strcmp(key, option_names[i]) == 0)
			return key;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown %s option \"%s\"", option_fn, key),
			 errdetail("Valid options are: %s.", ValidOptionList())));
	return NULL;				/* keep the compiler quiet */
}

/* Option key's value v into o. */
static void
OptValue(const char *key, JsonbValue *v, FitOptions *o)
{
	for (int i = 0; i < lengthof(num_options); i++)
		if (strcmp(key, num_options[i].name) == 0)
		{
			OptNumeric(v, &num_options[i], o);
			return;
		}
	if (strcmp(key, "lags") == 0)
		o->lags = OptLags(v);
	else if (strcmp(key, "max_lags") == 0)
		o->max_lags = OptInt(v, key, 0, GC_SERIES_MAX_LAGS);
	else if (strcmp(key, "step") == 0)
		o->step = OptStep(v);
	else if (strcmp(key, "verbose") == 0)
		o->verbose = OptVerbose(v);
	else if (strcmp(key, "training") == 0)
		o->core.training = OptTraining(v);
	else if (strcmp(key, "seed") == 0)
		o->core.seed = OptSeed(v);
	else if (strcmp(key, "types") == 0)
		OptTypes(v, o);
}

/* Parse and validate the options object (once per aggregate) of gc_fit, gc_update or gc_fit_series. */
static void
ParseFitOptions(Jsonb *jb, FitOptions *o, int mode)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	/* the helpers above name the function and list its options in their messages */
	option_names = mode == GC_FIT_OPTIONS_UPDATE ? update_option_names :
		mode == GC_FIT_OPTIONS_SERIES ? series_option_names : fit_option_names;
	option_fn = mode == GC_FIT_OPTIONS_UPDATE ? "gc_update" :
		mode == GC_FIT_OPTIONS_SERIES ? "gc_fit_series" : "gc_fit";

	gc_fit_options_default(&o->core);
	o->core.tol = 0.001;		/* better SMAE than the reference's 0.01 (docs/guide.md) */
	o->verbose = false;
	o->ntypes = -1;
	o->types = NULL;
	o->types_by_index = false;
	o->max_index = 0;
	o->lags = -1;
	o->max_lags = -1;			/* not given: GC_SERIES_DEFAULT_MAX_LAGS, widened */
	o->step = 0;
	if (jb == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s options must be a JSON object", option_fn),
				 errdetail("Valid options are: %s.", ValidOptionList())));

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = OptKey(&v);
		else if (tok == WJB_VALUE)
			OptValue(key, &v, o);
	}
	if (o->rank > 0 && o->core.training != GC_TRAIN_STANDARD)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"rank\" cannot be combined with \"training\": \"%s\"",
						gc_training_name(o->core.training)),
				 errdetail("The low-rank model is fitted by standard EM only.")));
}

/* Check the "types" option against the row width, once it is known. */
static void
CheckTypesWidth(FitOptions *o, int p)
{
	if (o->ntypes < 0)
		return;
	if (!o->types_by_index && o->ntypes != p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"types\" names %d types but rows have %d columns", o->ntypes, p)));
	if (o->types_by_index && o->max_index > p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit option \"types\" names column %d but rows have %d columns", o->max_index, p)));
	if (o->types_by_index && o->ntypes < p)
	{
		o->types = repalloc(o->types, sizeof(int) * p);
		for (int i = o->ntypes; i < p; i++)
			o->types[i] = GC_AUTO;
		o->ntypes = p;
	}
	o->core.types = o->types;
}

static void
CheckMemory(FitState *st, int64 rows)
{
	double		need = (double) rows * st->p * FIT_BYTES_PER_VALUE;

	if (need > (double) maintenance_work_mem * 1024.0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gc_fit: " INT64_FORMAT " rows of %d columns need about %.0f MB, more than maintenance_work_mem (%d kB)",
						rows, st->p, need / (1024.0 * 1024.0), maintenance_work_mem),
				 errhint("Increase maintenance_work_mem, fit on a sample of the rows, or use {\"training\": \"minibatch-online\"}, which needs memory independent of the number of rows.")));
}

static FitState *
NewState(MemoryContext aggcxt)
{
	FitState   *st = MemoryContextAllocZero(aggcxt, sizeof(FitState));

	st->opts.ntypes = -1;
	return st;
}

static void
AppendRow(FitState *st, MemoryContext aggcxt, ArrayType *row)
{
	int			p = gc_row_length(row, "gc_fit");

	if (st->p == 0)
	{
		if (p > GCMODEL_MAX_COLUMNS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("gc_fit: rows have %d columns, more than the limit of %d", p, GCMODEL_MAX_COLUMNS)));
		st->p = p;
		CheckTypesWidth(&st->opts, p);
	}
	else if (p != st->p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("gc_fit: all rows must have the same length"),
				 errdetail("Row " INT64_FORMAT " has %d values, earlier rows have %d.", st->n + 1, p, st->p)));
	if (st->n == st->cap)
	{
		int64		newcap = st->cap == 0 ? 1024 : st->cap * 2;

		CheckMemory(st, st->n + 1);
		if ((double) newcap * p * FIT_BYTES_PER_VALUE > (double) maintenance_work_mem * 1024.0)
			newcap = Max(st->n + 1, (int64) ((double) maintenance_work_mem * 1024.0 / (p * FIT_BYTES_PER_VALUE)));
		if (st->data == NULL)
			st->data = gc_palloc_big(aggcxt, sizeof(double) * newcap * p);
		else
			st->data = gc_prealloc_big(aggcxt, st->data, sizeof(double) * st->cap * p,
									   sizeof(double) * newcap * p);
		st->cap = newcap;
	}
	gc_row_values(row, st->data + st->n * p, p, "gc_fit", st->n + 1);
	st->n++;
}

static void
FitProgress(void *arg, int iter, double delta, double loglik)
{
	ereport(NOTICE,
			(errmsg("gc_fit: iteration %d: correlation change %.4f, log-likelihood per row %.4f",
					iter, delta, loglik)));
}

static void
FitTick(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

static void
CheckOnline(GcStatus st, const char *fn, const char *msg)
{
	if (st != GC_OK)
		gc_report_status(st, fn, msg);
}

/* Options as the core wants them, with the glue's callbacks. */
GcFitOptions
gc_fit_core_options(const GcSqlFitOptions *o)
{
	GcFitOptions opt = o->core;

	opt.types = o->ntypes >= 0 ? o->types : NULL;
	opt.progress = o->verbose ? FitProgress : NULL;
	opt.tick = FitTick;
	return opt;
}

static GcFitOptions
CoreOptions(FitState *st)
{
	return gc_fit_core_options(&st->opts);
}

void
gc_fit_parse_options(Jsonb *jb, GcSqlFitOptions *o, int mode)
{
	ParseFitOptions(jb, o, mode);
}

void
gc_fit_check_types_width(GcSqlFitOptions *o, int p)
{
	CheckTypesWidth(o, p);
}

/* Streaming: the row goes straight into the online state; nothing is buffered beyond a batch. */
static void
OnlineRow(FitState *st, MemoryContext aggcxt, ArrayType *row)
{
	int			p = gc_row_length(row, st->is_update ? "gc_update" : "gc_fit");
	double	   *v;
	char		msg[256];

	if (st->online == NULL)
	{
		GcAlloc		alloc = gc_pg_alloc(aggcxt);
		GcFitOptions opt;

		if (p > GCMODEL_MAX_COLUMNS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("gc_fit: rows have %d columns, more than the limit of %d", p, GCMODEL_MAX_COLUMNS)));
		st->p = p;
		CheckTypesWidth(&st->opts, p);
		opt = CoreOptions(st);
		CheckOnline(gc_online_create(p, &opt, &alloc, &st->online), "gc_fit", NULL);
	}
	else if (p != st->p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: all rows must have the same length", st->is_update ? "gc_update" : "gc_fit"),
				 errdetail("Row " INT64_FORMAT " has %d values, earlier rows have %d.", st->n + 1, p, st->p)));
	v = palloc(sizeof(double) * p);
	gc_row_values(row, v, p, st->is_update ? "gc_update" : "gc_fit", st->n + 1);
	st->n++;
	CheckOnline(gc_online_add(st->online, v, msg, sizeof(msg)), st->is_update ? "gc_update" : "gc_fit", msg);
	pfree(v);
}

Datum
gc_fit_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	FitState   *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_fit_transfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		st = NewState(aggcxt);
		old = MemoryContextSwitchTo(aggcxt);
		if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
		{
			Jsonb	   *jb = PG_GETARG_JSONB_P(2);

			ParseFitOptions(jb, &st->opts, st->is_update ? GC_FIT_OPTIONS_UPDATE : GC_FIT_OPTIONS_FIT);
			st->opts_text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		}
		else
			ParseFitOptions(NULL, &st->opts, st->is_update ? GC_FIT_OPTIONS_UPDATE : GC_FIT_OPTIONS_FIT);
		MemoryContextSwitchTo(old);
	}
	if (!PG_ARGISNULL(1))
	{
		if (st->opts.core.training == GC_TRAIN_MINIBATCH_ONLINE)
			OnlineRow(st, aggcxt, PG_GETARG_ARRAYTYPE_P(1));
		else
			AppendRow(st, aggcxt, PG_GETARG_ARRAYTYPE_P(1));
	}
	PG_RETURN_POINTER(st);
}

/*
 * gc_update over no rows never saw its model: the transition function, which receives it,
 * was not called.  The model argument is evaluated here when it does not depend on the
 * aggregated rows (a constant, a parameter, an outer column of a correlated subquery, as
 * in UPDATE models SET model = (SELECT gc_update(models.model, r) ...)), so the result
 * is the model unchanged; otherwise there is no model to return and the result is NULL.
 */
static Datum
UpdateWithoutRows(FunctionCallInfo fcinfo)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	Expr	   *arg;
	ExprState  *state;
	ExprContext *econtext;
	Datum		model;
	bool		isnull;

	if (aggref == NULL || fcinfo->context == NULL || !IsA(fcinfo->context, AggState) ||
		list_length(aggref->args) < 1)
		PG_RETURN_NULL();
	arg = ((TargetEntry *) linitial(aggref->args))->expr;
	if (contain_var_clause((Node *) arg) || contain_volatile_functions((Node *) arg))
		PG_RETURN_NULL();
	state = ExecInitExpr(arg, (PlanState *) fcinfo->context);
	econtext = ((PlanState *) fcinfo->context)->ps_ExprContext;
	model = ExecEvalExpr(state, econtext, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PointerGetDatum(PG_DETOAST_DATUM_COPY(model)));
}

/* Whether this call of the shared final function belongs to gc_update. */
static bool
IsUpdateCall(FunctionCallInfo fcinfo)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	char	   *name = aggref ? get_func_name(aggref->aggfnoid) : NULL;

	return name != NULL && strcmp(name, "gc_update") == 0;
}

Datum
gc_fit_finalfn(PG_FUNCTION_ARGS)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	MemoryContext fitcxt,
				old;
	GcAlloc		alloc;
	GcModel    *model;
	GcModelData *packed;
	GcStatus	status;
	GcFitOptions opt;
	double	   *X;
	char		errmsg_buf[256];

	/* gc_update without new rows still has its model; gc_fit without rows has nothing */
	if (st == NULL && IsUpdateCall(fcinfo))
		return UpdateWithoutRows(fcinfo);
	if (st == NULL || (st->n == 0 && st->online == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit: cannot fit a model to zero rows"),
				 errhint("gc_fit skips NULL rows; check the query's WHERE clause.")));

	fitcxt = AllocSetContextCreate(CurrentMemoryContext, "gc_fit", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitcxt);
	if (st->online != NULL)
	{
		alloc = gc_pg_alloc(fitcxt);
		status = gc_online_model(st->online, &alloc, &model, errmsg_buf, sizeof(errmsg_buf));
		if (status != GC_OK)
			gc_report_status(status, st->is_update ? "gc_update" : "gc_fit", errmsg_buf);
		MemoryContextSwitchTo(old);
		packed = gcmodel_pack(model);
		MemoryContextDelete(fitcxt);
		PG_RETURN_GCMODEL_P(packed);
	}

	/*
	 * Canonical row order (by row hash, ties by value): the model does not depend on scan
	 * order, so serial and parallel plans agree. A radix sort: a comparison sort of the
	 * rows cost a tenth of a large fit.
	 */
	{
		uint32	   *perm = MemoryContextAllocHuge(fitcxt, sizeof(uint32) * st->n);
		GcAlloc		scratch = gc_pg_alloc(fitcxt);

		if (gc_canonical_order(st->data, (size_t) st->n, st->p, perm, &scratch) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory in gc_fit")));
		X = gc_palloc_big(fitcxt, sizeof(double) * st->n * st->p);
		for (int64 i = 0; i < st->n; i++)
			memcpy(X + i * st->p, st->data + (int64) perm[i] * st->p, sizeof(double) * st->p);
		pfree(perm);
	}

	opt = CoreOptions(st);
	alloc = gc_pg_alloc(fitcxt);
	if (st->opts.rank > 0)
	{
		if (st->opts.rank >= st->p)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("gc_fit option \"rank\" (%d) must be less than the number of columns (%d)",
							st->opts.rank, st->p),
					 st->p >= 2 ?
					 errhint("Use a rank between 1 and %d, or omit \"rank\" for a full model.", st->p - 1) :
					 errhint("A low-rank model needs at least two columns.")));
		status = gc_fit_lowrank(X, (size_t) st->n, st->p, st->opts.rank, &opt, &alloc, &model,
								errmsg_buf, sizeof(errmsg_buf));
	}
	else
		status = gc_fit_standard(X, (size_t) st->n, st->p, &opt, &alloc, &model,
								 errmsg_buf, sizeof(errmsg_buf));
	if (status != GC_OK)
		gc_report_status(status, "gc_fit", errmsg_buf);

	for (int j = 0; j < model->p; j++)
		if (model->marg[j].type == GC_CONSTANT)
			ereport(NOTICE,
					(errmsg("gc_fit: column %d has a single observed value (%g); it is treated as constant",
							j + 1, model->marg[j].x[0]),
					 errdetail("A constant column is left out of the copula and imputed with that value.")));
	if (!model->converged && st->opts.verbose)
		ereport(NOTICE,
				(errmsg("gc_fit: stopped after %d iterations without reaching tol %g (last change %.4g)",
						model->n_iter, model->tol, model->delta)));

	MemoryContextSwitchTo(old);
	packed = gcmodel_pack(model);
	MemoryContextDelete(fitcxt);
	PG_RETURN_GCMODEL_P(packed);
}

Datum
gc_fit_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *a = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	FitState   *b = PG_ARGISNULL(1) ? NULL : (FitState *) PG_GETARG_POINTER(1);
	const char *fn;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_fit_combinefn called in non-aggregate context");
	if (b == NULL || b->n == 0)
		PG_RETURN_POINTER(a);
	fn = b->is_update ? "gc_update" : "gc_fit";
	if (a == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(aggcxt);

		a = NewState(aggcxt);
		a->is_update = b->is_update;
		a->opts_text = b->opts_text ? pstrdup(b->opts_text) : NULL;
		if (b->opts_text)
			ParseFitOptions(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(b->opts_text))), &a->opts, a->is_update ? GC_FIT_OPTIONS_UPDATE : GC_FIT_OPTIONS_FIT);
		else
			ParseFitOptions(NULL, &a->opts, a->is_update ? GC_FIT_OPTIONS_UPDATE : GC_FIT_OPTIONS_FIT);
		MemoryContextSwitchTo(old);
	}
	if ((a->opts_text == NULL) != (b->opts_text == NULL) ||
		(a->opts_text && strcmp(a->opts_text, b->opts_text) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: cannot combine states fitted with different options", fn),
				 errdetail("One state has options %s, the other %s.",
						   a->opts_text ? a->opts_text : "(none)", b->opts_text ? b->opts_text : "(none)")));
	if (a->p != 0 && b->p != a->p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: all rows must have the same length", fn),
				 errdetail("One partial state has rows of %d values, the other of %d.", a->p, b->p)));
	if (a->p == 0)
	{
		a->p = b->p;
		CheckTypesWidth(&a->opts, a->p);
	}

	if (b->online != NULL)
	{
		char		msg[256];

		if (a->online == NULL)
		{
			GcAlloc		alloc = gc_pg_alloc(aggcxt);

			CheckOnline(gc_online_copy(b->online, &alloc, &a->online), fn, NULL);
			a->online->alloc = alloc;
		}
		else
			CheckOnline(gc_online_merge(a->online, b->online, msg, sizeof(msg)), fn, msg);
		a->n += b->n;
		PG_RETURN_POINTER(a);
	}

	if (a->n + b->n > a->cap)
	{
		int64		newcap = a->n + b->n;

		CheckMemory(a, newcap);
		if (a->data == NULL)
			a->data = gc_palloc_big(aggcxt, sizeof(double) * newcap * a->p);
		else
			a->data = gc_prealloc_big(aggcxt, a->data, sizeof(double) * a->cap * a->p,
									  sizeof(double) * newcap * a->p);
		a->cap = newcap;
	}
	memcpy(a->data + a->n * a->p, b->data, sizeof(double) * b->n * b->p);
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

static void
SendOnline(StringInfo buf, const GcOnline *o)
{
	int			p = o->p;

	pq_sendint32(buf, o->initialized);
	for (int j = 0; j < p; j++)
		pq_sendint32(buf, o->types[j]);
	pq_sendbytes(buf, (const char *) o->Sig, sizeof(double) * p * p);
	pq_sendint64(buf, o->nrows);
	pq_sendint64(buf, o->steps);
	pq_sendfloat8(buf, o->delta);
	pq_sendfloat8(buf, o->loglik);
	pq_sendint32(buf, o->ridge_steps);
	pq_sendint32(buf, o->init_rows);
	pq_sendint32(buf, o->bufcap);
	pq_sendint32(buf, o->nbuf);
	pq_sendbytes(buf, (const char *) o->buf, sizeof(double) * p * o->nbuf);
	for (int j = 0; j < p; j++)
	{
		const GcSketch *sk = &o->sk[j];

		pq_sendint32(buf, sk->nk);
		pq_sendint32(buf, sk->exact);
		pq_sendfloat8(buf, sk->n);
		pq_sendbytes(buf, (const char *) sk->x, sizeof(double) * sk->nk);
		pq_sendbytes(buf, (const char *) sk->cum, sizeof(double) * sk->nk);
		pq_sendbytes(buf, (const char *) sk->mult, sizeof(double) * sk->nk);
		pq_sendint32(buf, sk->npend);
		pq_sendbytes(buf, (const char *) sk->pend, sizeof(double) * sk->npend);
	}
}

static GcOnline *
RecvOnline(StringInfo buf, FitState *st, MemoryContext aggcxt)
{
	GcAlloc		alloc = gc_pg_alloc(aggcxt);
	GcFitOptions opt = CoreOptions(st);
	GcOnline   *o;
	int			p = st->p;

	CheckOnline(gc_online_create(p, &opt, &alloc, &o), "gc_fit", NULL);
	o->initialized = pq_getmsgint(buf, 4);
	for (int j = 0; j < p; j++)
		o->types[j] = pq_getmsgint(buf, 4);
	pq_copymsgbytes(buf, (char *) o->Sig, sizeof(double) * p * p);
	o->nrows = pq_getmsgint64(buf);
	o->steps = pq_getmsgint64(buf);
	o->delta = pq_getmsgfloat8(buf);
	o->loglik = pq_getmsgfloat8(buf);
	o->ridge_steps = pq_getmsgint(buf, 4);
	o->init_rows = pq_getmsgint(buf, 4);
	o->bufcap = pq_getmsgint(buf, 4);
	o->nbuf = pq_getmsgint(buf, 4);
	if (o->bufcap < 1 || o->nbuf < 0 || o->nbuf > o->bufcap)
		elog(ERROR, "gc_fit: corrupt partial online state");
	o->buf = MemoryContextAllocHuge(aggcxt, sizeof(double) * p * o->bufcap);
	pq_copymsgbytes(buf, (char *) o->buf, sizeof(double) * p * o->nbuf);
	for (int j = 0; j < p; j++)
	{
		GcSketch   *sk = &o->sk[j];
		int			nk = pq_getmsgint(buf, 4);

		if (nk < 0)
			elog(ERROR, "gc_fit: corrupt partial online state");
		CheckOnline(gc_sketch_reserve(sk, nk > 0 ? nk : 1, &alloc), "gc_fit", NULL);
		sk->nk = nk;
		sk->exact = pq_getmsgint(buf, 4);
		sk->n = pq_getmsgfloat8(buf);
		pq_copymsgbytes(buf, (char *) sk->x, sizeof(double) * nk);
		pq_copymsgbytes(buf, (char *) sk->cum, sizeof(double) * nk);
		pq_copymsgbytes(buf, (char *) sk->mult, sizeof(double) * nk);
		nk = pq_getmsgint(buf, 4);
		if (nk < 0)
			elog(ERROR, "gc_fit: corrupt partial online state");
		CheckOnline(gc_sketch_reserve_pending(sk, nk, &alloc), "gc_fit", NULL);
		sk->npend = nk;
		pq_copymsgbytes(buf, (char *) sk->pend, sizeof(double) * nk);
	}
	return o;
}

Datum
gc_fit_serialfn(PG_FUNCTION_ARGS)
{
	FitState   *st = (FitState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, FIT_STATE_VERSION);
	pq_sendint32(&buf, st->is_update ? 1 : 0);
	pq_sendint32(&buf, st->online ? 1 : 0);
	pq_sendint32(&buf, st->p);
	pq_sendint64(&buf, st->n);
	pq_sendint32(&buf, st->opts_text ? (int32) strlen(st->opts_text) : -1);
	if (st->opts_text)
		pq_sendbytes(&buf, st->opts_text, strlen(st->opts_text));
	if (st->online)
		SendOnline(&buf, st->online);
	/* same server, same architecture: raw doubles */
	else if (st->n > 0)
		pq_sendbytes(&buf, (const char *) st->data, sizeof(double) * st->n * st->p);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
gc_fit_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcxt,
				old;
	StringInfoData buf;
	FitState   *st;
	int			optlen;
	bool		online;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_fit_deserialfn called in non-aggregate context");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (pq_getmsgint(&buf, 4) != FIT_STATE_VERSION)
		elog(ERROR, "gc_fit: unsupported partial state version");
	old = MemoryContextSwitchTo(aggcxt);
	st = NewState(aggcxt);
	st->is_update = pq_getmsgint(&buf, 4) != 0;
	online = pq_getmsgint(&buf, 4) != 0;
	st->p = pq_getmsgint(&buf, 4);
	st->n = pq_getmsgint64(&buf);
	optlen = pq_getmsgint(&buf, 4);
	if (optlen >= 0)
	{
		st->opts_text = palloc(optlen + 1);
		pq_copymsgbytes(&buf, st->opts_text, optlen);
		st->opts_text[optlen] = '\0';
		ParseFitOptions(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(st->opts_text))), &st->opts, st->is_update);
	}
	else
		ParseFitOptions(NULL, &st->opts, st->is_update ? GC_FIT_OPTIONS_UPDATE : GC_FIT_OPTIONS_FIT);
	if (st->p > 0)
		CheckTypesWidth(&st->opts, st->p);
	if (online)
	{
		st->online = RecvOnline(&buf, st, aggcxt);
		pq_getmsgend(&buf);
		MemoryContextSwitchTo(old);
		PG_RETURN_POINTER(st);
	}
	if (st->n < 0 || st->p < 0 || (Size) (buf.len - buf.cursor) != sizeof(double) * st->n * st->p)
		elog(ERROR, "gc_fit: corrupt partial state");
	if (st->n > 0)
	{
		st->data = gc_palloc_big(aggcxt, sizeof(double) * st->n * st->p);
		pq_copymsgbytes(&buf, (char *) st->data, sizeof(double) * st->n * st->p);
	}
	st->cap = st->n;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/*
 * gc_update(model, row [, options]): online EM steps that continue a fitted model with new
 * rows (types fixed by the model; marginals merged; Σ moved batch by batch).
 */
Datum
gc_update_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	FitState   *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_update_transfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		GcModelData *d;
		GcModel    *model;
		GcAlloc		alloc = gc_pg_alloc(aggcxt);
		GcFitOptions opt;
		char		msg[256];

		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("gc_update: the model is NULL")));
		st = NewState(aggcxt);
		st->is_update = true;
		old = MemoryContextSwitchTo(aggcxt);
		if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		{
			Jsonb	   *jb = PG_GETARG_JSONB_P(3);

			ParseFitOptions(jb, &st->opts, GC_FIT_OPTIONS_UPDATE);
			st->opts_text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		}
		else
			ParseFitOptions(NULL, &st->opts, GC_FIT_OPTIONS_UPDATE);
		st->opts.core.training = GC_TRAIN_MINIBATCH_ONLINE;
		MemoryContextSwitchTo(old);

		d = PG_GETARG_GCMODEL_P(1);
		model = gcmodel_unpack(d);
		if (model->kind != GC_MODEL_FULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("gc_update: only full (not low-rank) models can be updated online")));
		if (model->temporal)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("gc_update: a temporal model cannot be updated online"),
					 errhint("Refit it with gc_fit_series.")));
		st->p = model->p;
		opt = CoreOptions(st);
		CheckOnline(gc_online_from_model(model, &opt, &alloc, &st->online, msg, sizeof(msg)),
					"gc_update", msg);
	}
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *row = PG_GETARG_ARRAYTYPE_P(2);
		int			p = gc_row_length(row, "gc_update");

		if (p != st->p)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("gc_update: the row has %d values but the model has %d columns", p, st->p)));
		OnlineRow(st, aggcxt, row);
	}
	PG_RETURN_POINTER(st);
}
