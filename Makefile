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
EXTRA_CLEAN = sql/$(EXTENSION)--$(EXTVERSION).sql test/unit/bin

# pg_regress inputs: every sql/*.sql except the install script.
REGRESS = $(filter-out $(EXTENSION)--%,$(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=$(EXTENSION)

# OpenBLAS: link the single-threaded (serial) build and make it win over the alternatives
# system for LAPACKE's own dependencies too (DT_RPATH is inherited, DT_RUNPATH is not).
# A threaded BLAS must never run inside a backend: threads and fork() do not mix.
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-serial
SHLIB_LINK += -L$(BLAS_DIR) -Wl,--disable-new-dtags -Wl,-rpath,$(BLAS_DIR) -llapacke -lopenblas -lrdkafka -lm

PG_CPPFLAGS = -Isrc
PG_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

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
UNIT_BINS = $(patsubst test/unit/%.c,test/unit/bin/%,$(UNIT_SRCS))
UNIT_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Isrc -Itest/unit $(UNIT_EXTRA_CFLAGS)
UNIT_LIBS = -L$(BLAS_DIR) -Wl,--disable-new-dtags -Wl,-rpath,$(BLAS_DIR) -llapacke -lopenblas -lm

test/unit/bin/%: test/unit/%.c $(CORE_SRCS) $(foreach d,$(SUBJECTS),$(wildcard src/$(d)/*.h)) $(wildcard test/unit/*.h)
	@mkdir -p test/unit/bin
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

.PHONY: unit
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(UNIT_RUNNER) $$t; done

# The numerics' sources, for harnesses built by hand (test/bench/lowrank_fit_harness.c).
.PHONY: print-core-srcs
print-core-srcs:
	@echo $(CORE_SRCS)
