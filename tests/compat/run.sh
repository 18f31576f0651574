#!/usr/bin/env bash
# tests/compat/run.sh — compatibility suite: Ory's Hydra and Kratos SDKs (@ory/hydra-client,
# @ory/kratos-client, and the Python ory-kratos-client with strict models, in .venv), a
# certified OpenID Connect RP (openid-client) and the `gatehouse
# identities` CLI against a real `gatehouse serve`.
#
# Runs `node --test` once against SQLite and, when GATEHOUSE_TEST_POSTGRES_DSN is set, once more
# against that PostgreSQL database. Everything binds to 127.0.0.1 on free ports and is stopped
# by the tests themselves. Called by scripts/test after the cargo tests; runs on its own too.
#
#   GATEHOUSE_BIN=path            use that binary instead of target/debug/gatehouse
#   GATEHOUSE_TEST_POSTGRES_DSN   also run against PostgreSQL (shared database is fine)
#   GATEHOUSE_COMPAT_ONLY=sqlite|postgres   run one backend only
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$HERE"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[compat] %s\n' "$*" >&2; }

# --- node ---------------------------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "node and npm are required (Node >= 20)"
    exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
    log "Node >= 20 is required, found $(node --version)"
    exit 1
fi

# --- dependencies: npm ci only when node_modules is missing or the lock file changed ---------
stamp=node_modules/.compat-lock.sha256
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || ! -f $stamp || $(cat "$stamp") != "$lock_sum" ]]; then
    log "npm ci"
    npm ci --no-audit --no-fund
    echo "$lock_sum" >"$stamp"
fi

# --- Ory's Python SDK (strict models) in a venv, rebuilt when requirements.txt changes ---------
py_stamp=.venv/.compat-requirements.sha256
req_sum=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $py_stamp || $(cat "$py_stamp") != "$req_sum" ]]; then
    log "python venv: pip install -r requirements.txt"
    rm -rf .venv
    if ! python3 -m venv .venv; then
        # Debian's python3 needs python3-venv (ensurepip) to make a venv.
        # shellcheck source=scripts/lib/services.sh
        source "$ROOT/scripts/lib/services.sh"
        ensure_packages python3-venv
        rm -rf .venv
        python3 -m venv .venv
    fi
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$req_sum" >"$py_stamp"
fi
export GATEHOUSE_COMPAT_PYTHON="$HERE/.venv/bin/python"

# --- the gatehouse binary -----------------------------------------------------------------
BIN=${GATEHOUSE_BIN:-$ROOT/target/debug/gatehouse}
needs_build=0
if [[ -z ${GATEHOUSE_BIN:-} ]]; then
    if [[ ! -x $BIN ]]; then
        needs_build=1
    elif [[ -n $(find "$ROOT/crates" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" -newer "$BIN" \
        \( -name '*.rs' -o -name 'Cargo.toml' -o -name 'Cargo.lock' -o -name '*.sql' \) \
        -print -quit 2>/dev/null) ]]; then
        needs_build=1 # sources changed since the binary was built
    fi
fi
if ((needs_build)); then
    log "cargo build -p gatehouse"
    (cd "$ROOT" && cargo build -p gatehouse)
fi
if [[ ! -x $BIN ]]; then
    log "$BIN is missing"
    exit 1
fi
export GATEHOUSE_BIN="$BIN"

# --- run --------------------------------------------------------------------------------------
modes=(sqlite)
if [[ -n ${GATEHOUSE_TEST_POSTGRES_DSN:-} ]]; then
    modes+=(postgres)
else
    log "GATEHOUSE_TEST_POSTGRES_DSN not set: PostgreSQL run skipped"
fi
if [[ -n ${GATEHOUSE_COMPAT_ONLY:-} ]]; then
    modes=("$GATEHOUSE_COMPAT_ONLY")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
total_pass=0
total_fail=0
status=0
for mode in "${modes[@]}"; do
    printf '\n---- compat suite against %s ----\n' "$mode"
    out="$tmp/$mode.tap"
    # One test file at a time: each starts its own gatehouse, and the PostgreSQL run shares one
    # database (migrations and first-key creation should not race).
    if ! GATEHOUSE_COMPAT_DB=$mode node --test --test-concurrency=1 --test-timeout=120000 \
        --test-reporter=tap ./*.test.mjs | tee "$out"; then
        status=1
    fi
    pass=$(sed -n 's/^# pass \([0-9]\+\)$/\1/p' "$out" | tail -1)
    fail=$(sed -n 's/^# fail \([0-9]\+\)$/\1/p' "$out" | tail -1)
    total_pass=$((total_pass + ${pass:-0}))
    total_fail=$((total_fail + ${fail:-0}))
    if [[ -z $pass ]]; then
        status=1 # the runner did not even report
    fi
done

# The failures again, at the end where a CI log's tail shows them: each `not ok` block with its
# error (a failed hook is the one block that is not `cancelledByParent`).
if ((status != 0)); then
    printf '\n---- compat failures ----\n'
    for mode in "${modes[@]}"; do
        awk -v mode="$mode" '
            /not ok/ { grab = 1; n = 0; print "[" mode "] " $0; next }
            grab && /^ *\.\.\.$/ { grab = 0; next }
            grab && n < 40 { print; n++ }
        ' "$tmp/$mode.tap" | grep -v -E "cancelledByParent|test did not finish before its parent" || true
    done
fi

printf '\ncompat: %d passed, %d failed\n' "$total_pass" "$total_fail"
exit "$status"
