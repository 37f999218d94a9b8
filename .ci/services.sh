# Throwaway services for the test suite, sourced by .ci/run (which runs with `set -euo pipefail`).
#
# Starts a real PostgreSQL server (Debian's package) on loopback with a data directory in a
# temporary folder, creates a database and exports HOOT_TEST_POSTGRES_URL for the scale-out
# tests (tests/scaleout). An EXIT trap stops the server and deletes the folder. Sourced, so it
# never calls `exit`; every failure is reported and makes the sourcing shell fail.

_hoot_pg_bindir() {
    # The newest server installed from Debian's packages (postgresql-NN puts it here).
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
    fi
}

_hoot_as_pg() {
    # PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

_hoot_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

_hoot_pg_stop() {
    if [ -n "${_HOOT_PG_DIR:-}" ] && [ -d "$_HOOT_PG_DIR" ]; then
        _hoot_as_pg "$_HOOT_PG_BIN/pg_ctl" -D "$_HOOT_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$_HOOT_PG_DIR"
    fi
}

_hoot_pg_start() {
    _HOOT_PG_BIN=$(_hoot_pg_bindir)
    if [ -z "$_HOOT_PG_BIN" ]; then
        echo "services: installing PostgreSQL from Debian's packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        _hoot_root apt-get update -qq >&2
        _hoot_root apt-get install -y -qq postgresql >&2
        _HOOT_PG_BIN=$(_hoot_pg_bindir)
    fi
    if [ -z "$_HOOT_PG_BIN" ]; then
        echo "services: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin after install" >&2
        return 1
    fi
    _HOOT_PG_DIR=$(mktemp -d /tmp/hoot-pg.XXXXXX)
    chmod 755 "$_HOOT_PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$_HOOT_PG_DIR"  # the data dir belongs to the user the server runs as
    fi
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    # Keep any EXIT trap the sourcing shell already has, and stop the server after it.
    local previous
    previous=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
    trap "${previous:+$previous; }_hoot_pg_stop" EXIT
    _hoot_as_pg "$_HOOT_PG_BIN/initdb" -D "$_HOOT_PG_DIR/data" -U postgres -A trust \
        --no-sync -E UTF8 >"$_HOOT_PG_DIR/initdb.log" 2>&1 || { cat "$_HOOT_PG_DIR/initdb.log" >&2; return 1; }
    # Loopback only, socket in our folder, no fsync: a throwaway server for tests.
    _hoot_as_pg "$_HOOT_PG_BIN/pg_ctl" -D "$_HOOT_PG_DIR/data" -l "$_HOOT_PG_DIR/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $_HOOT_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { cat "$_HOOT_PG_DIR/server.log" >&2; return 1; }
    _hoot_as_pg "$_HOOT_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres hoot_test
    export HOOT_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/hoot_test"
    echo "services: PostgreSQL $("$_HOOT_PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (HOOT_TEST_POSTGRES_URL)" >&2
}

_hoot_pg_start
