#!/usr/bin/env bash
# tests/browser/run.sh — headless-Chromium walk through Gatehouse's built-in pages
# (registration, verification, TOTP and backup codes, second factor, recovery, consent, sign-out,
# RP-initiated logout; passkeys with a virtual authenticator in passkeys.test.mjs) against a real
# `gatehouse serve` on SQLite, on free 127.0.0.1 ports.
#
# Uses Debian's Chromium (/usr/bin/chromium, installed with apt-get when missing) driven by
# playwright-core, which never downloads a browser of its own. Called by scripts/test after the
# compat suite (GATEHOUSE_SKIP_BROWSER=1 skips it there); runs on its own too.
#
#   GATEHOUSE_BIN=path               use that binary instead of target/debug/gatehouse
#   GATEHOUSE_CHROMIUM=path          use that Chromium instead of /usr/bin/chromium
#   GATEHOUSE_UPDATE_SCREENSHOTS=1   write the pages' screenshots to docs/screenshots/
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$HERE"
export PATH="$HOME/.cargo/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

log() { printf '[browser] %s\n' "$*" >&2; }

# --- chromium -------------------------------------------------------------------------------
CHROMIUM=${GATEHOUSE_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $CHROMIUM && -z ${GATEHOUSE_CHROMIUM:-} ]]; then
    # shellcheck source=scripts/lib/services.sh
    source "$ROOT/scripts/lib/services.sh"
    ensure_packages chromium
fi
if [[ ! -x $CHROMIUM ]]; then
    log "$CHROMIUM is missing"
    exit 1
fi
export GATEHOUSE_CHROMIUM="$CHROMIUM"

# --- node -----------------------------------------------------------------------------------
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
stamp=node_modules/.browser-lock.sha256
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || ! -f $stamp || $(cat "$stamp") != "$lock_sum" ]]; then
    log "npm ci"
    npm ci --no-audit --no-fund
    echo "$lock_sum" >"$stamp"
fi

# --- the gatehouse binary -----------------------------------------------------------------
BIN=${GATEHOUSE_BIN:-$ROOT/target/debug/gatehouse}
needs_build=0
if [[ -z ${GATEHOUSE_BIN:-} ]]; then
    if [[ ! -x $BIN ]]; then
        needs_build=1
    elif [[ -n $(find "$ROOT/crates" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" -newer "$BIN" \
        \( -name '*.rs' -o -name 'Cargo.toml' -o -name 'Cargo.lock' -o -name '*.sql' \
        -o -name '*.html' -o -name '*.css' \) -print -quit 2>/dev/null) ]]; then
        needs_build=1 # sources (or the embedded templates) changed since the binary was built
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
printf '\n---- browser suite (Chromium %s) ----\n' "$("$CHROMIUM" --version 2>/dev/null | awk '{print $2}')"
node --test --test-concurrency=1 --test-timeout=120000 ./*.test.mjs
