# gcimpute — PGXS build.
#
#   make && make install        build and install into the PostgreSQL named by PG_CONFIG
#   make unit                   build and run the C unit tests of src/core (no server needed)
#   bash test/run_all.sh        everything: set-up, build, unit, pg_regress, integration

EXTENSION = gcimpute
EXTVERSION = 0.1

MODULE_big = gcimpute
# One file per concept; src/core is PostgreSQL-free numerics, src/worker the stream worker.
CORE_SRCS = $(sort $(wildcard src/core/*.c))
PG_SRCS = $(sort $(wildcard src/*.c) $(wildcard src/worker/*.c))
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

# The install script is assembled from one readable part per concept (sql/install/NN_*.sql).
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = sql/$(EXTENSION)--$(EXTVERSION).sql test/unit/bin

# pg_regress inputs: every sql/*.sql except the install script.
REGRESS = $(filter-out $(EXTENSION)--%,$(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=$(EXTENSION)

# OpenBLAS: link the single-threaded (serial) build and make it win over the alternatives
# system for LAPACKE's own dependencies too (DT_RPATH is inherited, DT_RUNPATH is not).
# A threaded BLAS must never run inside a backend: threads and fork() do not mix.
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-serial
SHLIB_LINK += -L$(BLAS_DIR) -Wl,--disable-new-dtags -Wl,-rpath,$(BLAS_DIR) -llapacke -lopenblas -lrdkafka -lm

PG_CPPFLAGS = -Isrc -Isrc/core
PG_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Header dependencies (PGXS tracks none unless the server was built with --enable-depend):
# a changed struct in a header must rebuild every object that includes it.
override CFLAGS += -MMD -MP
-include $(OBJS:.o=.d)
EXTRA_CLEAN += $(OBJS:.o=.d)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# C unit tests of src/core: each test/unit/test_*.c is one program linked against core only.
UNIT_SRCS = $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS = $(patsubst test/unit/%.c,test/unit/bin/%,$(UNIT_SRCS))
UNIT_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Isrc/core -Itest/unit $(UNIT_EXTRA_CFLAGS)
UNIT_LIBS = -L$(BLAS_DIR) -Wl,--disable-new-dtags -Wl,-rpath,$(BLAS_DIR) -llapacke -lopenblas -lm

test/unit/bin/%: test/unit/%.c $(CORE_SRCS) $(wildcard src/core/*.h) $(wildcard test/unit/*.h)
	@mkdir -p test/unit/bin
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

.PHONY: unit
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(UNIT_RUNNER) $$t; done
