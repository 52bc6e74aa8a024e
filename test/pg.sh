#!/usr/bin/env bash
# Helpers to build and install the extension and to run a throwaway PostgreSQL cluster.
# Source this file. initdb and pg_ctl refuse to run as root, so servers run as the
# unprivileged user $PGUSER_OS (default: postgres, created by the postgresql package).

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)
PGUSER_OS=${PGUSER_OS:-postgres}

as_pg() {
	if [ "$(id -un)" = "$PGUSER_OS" ]; then "$@"; else runuser -u "$PGUSER_OS" -- "$@"; fi
}

# gc_build: compile and install into the PostgreSQL that PG_CONFIG names.
gc_build() {
	local top=$1
	make -C "$top" -s -j2 PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$top" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# pg_start DIR PORT [extra postgresql.conf lines...]: a fresh cluster in DIR on PORT,
# listening on a Unix socket in DIR only (plus 127.0.0.1 for client libraries).
pg_start() {
	local dir=$1 port=$2; shift 2
	pg_stop "$dir" 2>/dev/null || true
	rm -rf "$dir"
	mkdir -p "$dir"
	chown "$PGUSER_OS" "$dir"
	as_pg "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		echo "max_worker_processes = 16"
		echo "logging_collector = off"
		for line in "$@"; do echo "$line"; done
	} >> "$dir/data/postgresql.conf"
	# Test ports lie in the kernel's ephemeral range: a client socket of another program
	# can hold the port for a moment (bind fails with "Address already in use"). Retry.
	local attempt
	for attempt in 1 2 3 4 5; do
		as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1 && return 0
		grep -q 'could not bind' "$dir/server.log" 2>/dev/null || break
		sleep 2
	done
	tail -n 5 "$dir/server.log" >&2
	return 1
}

# pg_stop DIR: stop the cluster; a server that does not stop fast within 60 s (a process
# that ignores SIGTERM) is stopped immediately, so that no test leaves one behind.
pg_stop() {
	local dir=$1
	[ -d "$dir/data" ] || return 0
	as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
		as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
}
