# gcimpute — PGXS build.
#
#   make && make install        build and install into the PostgreSQL named by PG_CONFIG
#   make unit                   build and run the C unit tests of the numerics (no server needed)
#   bash test/run_all.sh        everything: set-up, build, unit, pg_regress, integration

EXTENSION = gcimpute
EXTVERSION = 0.2

MODULE_big = gcimpute
# Folders by subject (docs/architecture.md). In platform/, copula/, lowrank/, sketch/ and
# latency/ every file is PostgreSQL-free numerics except the SQL glue, named *_sql.c/h;
# stream/ is the background worker; gcimpute.c the module's entry point.
SUBJECTS = platform copula lowrank sketch latency
SUBJECT_SRCS = $(foreach d,$(SUBJECTS),$(wildcard src/$(d)/*.c))
CORE_SRCS = $(sort $(filter-out %_sql.c,$(SUBJECT_SRCS)))
PG_SRCS = src/gcimpute.c src/pg_compat.c $(sort $(filter %_sql.c,$(SUBJECT_SRCS)) $(wildcard src/stream/*.c))
CORE_OBJS = $(CORE_SRCS:.c=.o)
OBJS = $(CORE_OBJS) $(PG_SRCS:.c=.o)

# The current version's install script is assembled from one readable part per concept
# (sql/install/NN_*.sql). Older versions' scripts are frozen as released, and every
# sql/gcimpute--A--B.sql takes a database from A to B (docs/architecture.md, Versions).
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out sql/$(EXTENSION)--$(EXTVERSION).sql,$(wildcard sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN = sql/$(EXTENSION)--$(EXTVERSION).sql test/unit/bin test/unit/bin-v3

# pg_regress inputs: every sql/*.sql except the install script.
REGRESS = $(filter-out $(EXTENSION)--%,$(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=$(EXTENSION)

# OpenBLAS: link the single-threaded (serial) build and make it win over the alternatives
# system for LAPACKE's own dependencies too (DT_RPATH is inherited, DT_RUNPATH is not).
# A threaded BLAS must never run inside a backend: threads and fork() do not mix.
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-serial
SHLIB_LINK += -L$(BLAS_DIR) -Wl,--disable-new-dtags -Wl,-rpath,$(BLAS_DIR) -llapacke -lopenblas -lrdkafka -lm

PG_CPPFLAGS = -Isrc
# -ffp-contract=off: a product is rounded before it is added unless the code asks for a fused
# multiply-add, so the portable and vector forms of a kernel agree to the bit on every
# target, -march=x86-64-v3 (FMA in the baseline) included (src/platform/simd.h).
FP_CFLAGS = -ffp-contract=off
PG_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers $(FP_CFLAGS)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# the bitcode for PostgreSQL's JIT inlining (clang) under the same floating-point rules
override BITCODE_CFLAGS += $(FP_CFLAGS)

# The numerics are compiled without the server's include directories, so a PostgreSQL
# header in them fails the build (the unit tests link them without a server).
$(CORE_OBJS): override CPPFLAGS := -Isrc $(filter-out -I%,$(CPPFLAGS))

# Header dependencies (PGXS tracks none unless the server was built with --enable-depend):
# a changed struct in a header must rebuild every object that includes it.
override CFLAGS += -MMD -MP
-include $(OBJS:.o=.d)
EXTRA_CLEAN += $(OBJS:.o=.d)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# C unit tests of the numerics: each test/unit/test_*.c is one program linked against core only.
UNIT_SRCS = $(sort $(wildcard test/unit/test_*.c))
# UNIT_BIN: where the programs go (10-unit.sh builds a second set with -march=x86-64-v3)
UNIT_BIN ?= test/unit/bin
UNIT_BINS = $(patsubst test/unit/%.c,$(UNIT_BIN)/%,$(UNIT_SRCS))
UNIT_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare $(FP_CFLAGS) -Isrc -Itest/unit $(UNIT_EXTRA_CFLAGS)
UNIT_LIBS = -L$(BLAS_DIR) -Wl,--disable-new-dtags -Wl,-rpath,$(BLAS_DIR) -llapacke -lopenblas -lm

$(UNIT_BIN)/%: test/unit/%.c $(CORE_SRCS) $(foreach d,$(SUBJECTS),$(wildcard src/$(d)/*.h)) $(wildcard test/unit/*.h)
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

.PHONY: unit
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(UNIT_RUNNER) $$t; done

# docs/architecture.md's file table must list every file under src/, and nothing else.
.PHONY: check-architecture
check-architecture:
	@bash test/tools/check_architecture.sh

# The numerics' sources and their floating-point flags, for harnesses built by hand
# (test/bench/lowrank_fit_harness.c).
.PHONY: print-core-srcs print-fp-cflags
print-core-srcs:
	@echo $(CORE_SRCS)
print-fp-cflags:
	@echo $(FP_CFLAGS)
