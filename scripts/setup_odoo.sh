#!/usr/bin/env bash
# Build one Python environment per Odoo series found on this machine, each running that Odoo together with
# our core (`-e .`), the repository's requirements, OCA `server_environment` of the same series and anthem:
#   .venvs/odoo     Odoo 18.0   found as: `odoo` 18.0 importable by $PYTHON, else $ODOO_SRC, else /opt/odoo18
#   .venvs/odoo19   Odoo 19.0   found as: `odoo` 19.0 importable by $PYTHON, else $ODOO19_SRC, else /opt/odoo19
#
#   bash scripts/setup_odoo.sh              # every series (18.0 and 19.0)
#   bash scripts/setup_odoo.sh 19.0         # only these series
#
# Odoo itself is never installed, copied or fetched by this repository: we only use an Odoo that is already
# here (README "Getting Odoo" says how to put each series at its default path). A source tree is the
# directory holding odoo-bin and odoo/. An explicit $ODOO_SRC / $ODOO19_SRC is the only place looked at for
# its series (a wrong one is not replaced by the default path). `odoo` importable by $PYTHON: the venv sees
# that interpreter's site-packages through a .pth file, Odoo's own dependencies are taken as present there.
# A series not found: one loud `SKIPPED` line, exit 0 (scripts/odoo_tests.py then skips that series too).
#
# $ODOO_VENVS_DIR (default ./.venvs) moves the venvs elsewhere, e.g. to try this script without touching
# the venvs in use. Idempotent: each venv carries a hash of its inputs; a run with nothing changed: ~1 s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENVS_DIR="${ODOO_VENVS_DIR:-$ROOT/.venvs}"
SUPPORTED_SERIES=(18.0 19.0)
# Odoo-side tools: anthem plays cloud_platform's songs (tests/platform/test_platform_odoo.py runs it).
# 0.15.0 handles both series (it opens Odoo 19's registry from the list `db_name` became).
ODOO_TOOLS_SPEC="anthem==0.15.0"
say() { printf '[setup_odoo] %s\n' "$*"; }
# One interpreter start for everything asked of $PYTHON (a pyenv shim costs ~0.3 s a start): its version, and
# "<series> <root>" of the `odoo` it imports, if any.
PROBE=$("$PYTHON" - 2>/dev/null <<'PY' || true
import sys
print(sys.version.replace("\n", " "))
try:
    import os
    import odoo.release as release
    print(release.series, os.path.dirname(os.path.dirname(release.__file__)))
except Exception:
    print("")
PY
)
PYVER=${PROBE%%$'\n'*}
IMPORTABLE=""
[[ $PROBE != *$'\n'* ]] || IMPORTABLE=${PROBE#*$'\n'}
[[ -n $PYVER ]] || { say "cannot run PYTHON=$PYTHON"; exit 1; }

# ---------------------------------------------------------------- pins, Python 3.11
# Odoo's loose requirements.txt lines would pull today's Werkzeug/lxml, which Odoo does not run with, and
# some of its Python 3.11 lines are sdist-only pins that no longer build. Changes made to upstream's pins:
#   cbor2 5.4.2(.post1) fails to build with current setuptools           -> 5.6.2 (wheel)
#   gevent 22.10.2 imports pkg_resources, gone from current setuptools    -> gevent 24.2.1 + greenlet 3.0.3
#     (the long-polling process died at import)
#   psycopg2 needs a compiler and libpq headers                           -> psycopg2-binary 2.9.9
#   python-ldap (19.0) needs libldap headers; no addon here uses auth_ldap -> left out
#
# 18.0: upstream's lines for Debian 13/Ubuntu 24.04 (`python_version >= '3.12'`: Werkzeug 3.0.1, lxml 5.2.1 +
# lxml-html-clean, Pillow 10.2.0, reportlab 4.1.0…), which all ship wheels for 3.11. Checked by running Odoo's
# test_http and a --workers=2 server with its gevent process.
PINS_18_0=$(cat <<'PINS'
asn1crypto==1.5.1
Babel==2.10.3
cbor2==5.6.2
chardet==5.2.0
cryptography==42.0.8
decorator==5.1.1
docutils==0.20.1
freezegun==1.2.1
geoip2==2.9.0
gevent==24.2.1
greenlet==3.0.3
idna==3.6
Jinja2==3.1.2
libsass==0.22.0
lxml==5.2.1
lxml-html-clean==0.4.1
MarkupSafe==2.1.2
num2words==0.5.10
ofxparse==0.21
openpyxl==3.0.9
passlib==1.7.4
Pillow==10.2.0
polib==1.1.1
psutil==5.9.4
psycopg2-binary==2.9.9
pyopenssl==24.1.0
PyPDF2==2.12.1
pyserial==3.5
python-dateutil==2.8.2
python-magic==0.4.27
python-stdnum==1.19
pytz
pyusb==1.2.1
qrcode==7.4.2
reportlab==4.1.0
requests==2.31.0
rjsmin==1.2.0
urllib3==1.26.20
vobject==0.9.6.1
Werkzeug==3.0.1
xlrd==1.2.0
XlsxWriter==3.0.2
xlwt==1.3.0
zeep==4.2.1
PINS
)
# 19.0: upstream 19.0's requirements.txt as it resolves on Python 3.11 (its `python_version` markers), with
# the changes above. Checked by installing every addon of this repository and running their tests on 19.0.
PINS_19_0=$(cat <<'PINS'
asn1crypto==1.5.1
Babel==2.10.3
cbor2==5.6.2
chardet==5.2.0
cryptography==3.4.8
docutils==0.20.1
freezegun==1.2.1
geoip2==2.9.0
gevent==24.2.1
greenlet==3.0.3
idna==2.10
Jinja2==3.1.2
libsass==0.22.0
lxml==4.9.3
MarkupSafe==2.1.2
num2words==0.5.10
ofxparse==0.21
openpyxl==3.0.9
passlib==1.7.4
Pillow==9.4.0
polib==1.1.1
psutil==5.9.4
psycopg2-binary==2.9.9
pyopenssl==21.0.0
PyPDF2==2.12.1
pyserial==3.5
python-dateutil==2.8.2
python-magic==0.4.24
python-stdnum==1.19
pytz
pyusb==1.2.1
qrcode==7.4.2
reportlab==3.6.12
requests==2.31.0
rjsmin==1.2.0
urllib3==1.26.5
vobject==0.9.6.1
Werkzeug==2.2.2
xlrd==1.2.0
XlsxWriter==3.0.2
xlwt==1.3.0
zeep==4.2.1
PINS
)

# ---------------------------------------------------------------- per series: name, where, what
# Sets VENV SRC_VAR DEFAULT_SRC PINS SERVER_ENVIRONMENT_SPEC PTH for series $1.
series_config() {
    case $1 in
        18.0) VENV="$VENVS_DIR/odoo"; SRC_VAR=ODOO_SRC; DEFAULT_SRC=/opt/odoo18; PINS=$PINS_18_0
              SERVER_ENVIRONMENT_SPEC="odoo-addon-server-environment>=18.0,<18.1"; PTH=odoo18-src.pth ;;
        19.0) VENV="$VENVS_DIR/odoo19"; SRC_VAR=ODOO19_SRC; DEFAULT_SRC=/opt/odoo19; PINS=$PINS_19_0
              SERVER_ENVIRONMENT_SPEC="odoo-addon-server-environment>=19.0,<19.1"; PTH=odoo19-src.pth ;;
        *) say "unknown Odoo series '$1' (supported: ${SUPPORTED_SERIES[*]})"; return 2 ;;
    esac
}

# "major, minor" as written in a tree's odoo/release.py: `version_info = (19, 0, ...)` -> 19.0
tree_series() {
    [[ -f $1/odoo/release.py && -d $1/odoo/addons/base ]] || return 1
    sed -nE 's/^version_info = \(([0-9]+), *([0-9]+),.*/\1.\2/p' "$1/odoo/release.py" | head -n 1
}

# Sets ODOO_MODE (importable|source) and ODOO_ROOT for series $1, or returns 1 after saying why not.
find_series() {
    local series=$1 candidate found explicit
    if [[ -n $IMPORTABLE && ${IMPORTABLE%% *} == "$series" ]]; then
        ODOO_MODE=importable; ODOO_ROOT=${IMPORTABLE#* }; return 0
    fi
    explicit=${!SRC_VAR:-}
    candidate=${explicit:-$DEFAULT_SRC}
    found=$(tree_series "$candidate" || true)
    if [[ $found == "$series" ]]; then
        ODOO_MODE=source; ODOO_ROOT=$(cd "$candidate" && pwd); return 0
    fi
    local what="has no Odoo tree (no odoo/release.py)"
    [[ -z $found ]] || what="holds Odoo $found, not $series"
    if [[ -n $explicit ]]; then
        WHY="$SRC_VAR=$explicit $what"
    else
        WHY="$SRC_VAR is not set and $DEFAULT_SRC $what"
    fi
    return 1
}

pip_install() {  # pip's chatter goes to $LOG; its tail is shown when a step fails
    if ! "$VENV/bin/python" -m pip install -q "$@" >> "$LOG" 2>&1; then
        say "pip install $* FAILED; last lines of $LOG:"; tail -n 30 "$LOG" | sed 's/^/    /'; exit 1
    fi
}

# The steps that build a venv (their text is part of the venv's hash: change them, the venv is rebuilt).
install_series() {
    local series=$1 site constraints
    [[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
    pip_install --upgrade pip setuptools wheel
    if [[ $ODOO_MODE == source ]]; then
        say "$series: installing Odoo $series's Python dependencies (pinned)"
        pip_install -r <(printf '%s\n' "$PINS")
    fi
    # Make `import odoo` work in this venv (odoo-bin adds its own directory anyway; `-m odoo` and tools need
    # it). When odoo came importable from another venv, that venv's site-packages come along too, with its
    # Odoo dependencies (--system-site-packages only reaches the base interpreter's).
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    {
        printf '%s\n' "$ODOO_ROOT"
        if [[ $ODOO_MODE == importable ]]; then
            "$PYTHON" -c 'import sysconfig; p = sysconfig.get_paths(); print(p["purelib"]); print(p["platlib"])'
        fi
    } | awk '!seen[$0]++' > "$site/$PTH"
    constraints=$(printf '%s\n' "$PINS" | grep -v '^pytz$')
    say "$series: installing -e . -r requirements.txt (keeping Odoo's pins)"
    pip_install -e . -r requirements.txt -c <(printf '%s\n' "$constraints")
    # OCA server_environment declares `odoo>=X.0a,<X.1dev`, which is on no package index: --no-deps. Its own
    # Python dependencies (none besides odoo) are checked by the import test below.
    say "$series: installing $SERVER_ENVIRONMENT_SPEC (--no-deps) and $ODOO_TOOLS_SPEC"
    pip_install --no-deps "$SERVER_ENVIRONMENT_SPEC"
    pip_install "$ODOO_TOOLS_SPEC" -c <(printf '%s\n' "$constraints")
    # Checks: odoo of this series imports, server_environment is on the addons path.
    "$VENV/bin/python" - "$series" <<'PY'
import sys
import odoo, odoo.release
import odoo.addons
from odoo.modules.module import get_module_path
assert odoo.release.series == sys.argv[1], (odoo.release.series, sys.argv[1])
path = get_module_path("server_environment", display_warning=False)
if not path:
    sys.exit("server_environment is not on the addons path: %s" % list(odoo.addons.__path__))
print("[setup_odoo] %s: odoo %s from %s; server_environment at %s"
      % (sys.argv[1], odoo.release.version, odoo.release.__file__, path))
PY
    # `pip check` always reports server_environment's `odoo` requirement (Odoo is not a distribution here).
    local conflicts
    conflicts=$("$VENV/bin/python" -m pip check 2>&1 | grep -v 'requires odoo, which is not installed' \
                | grep -v '^No broken' || true)
    [[ -z $conflicts ]] || say "$series: warning: pip check: $conflicts"
}

# Build (or find current) the venv of series $1. Runs in a subshell: `exit` ends this series only.
setup_series() (
    local series=$1 want marker T0
    series_config "$series" || exit 2
    if ! find_series "$series"; then
        say "Odoo $series SKIPPED: $WHY (set $SRC_VAR=/path/to/odoo-$series, or put it at $DEFAULT_SRC:" \
            "README \"Getting Odoo\"); ${VENV#"$ROOT"/} not built, its Odoo tests will be skipped"
        exit 0
    fi
    say "$series: Odoo found ($ODOO_MODE): $ODOO_ROOT"
    want=$({ printf '%s\n' "$PYVER" "$series" "$ODOO_MODE" "$ODOO_ROOT" "$PINS" "$SERVER_ENVIRONMENT_SPEC" \
                 "$ODOO_TOOLS_SPEC" "$PTH"
             declare -f install_series pip_install
             cat requirements.txt pyproject.toml 2>/dev/null; } | sha256sum | cut -d' ' -f1)
    marker="$VENV/.setup-hash"
    # Parallel callers (several scripts/odoo_tests.py runs) wait here for one build instead of racing pip.
    mkdir -p "$VENVS_DIR"
    exec 9>"$VENV.lock"
    flock 9
    if [[ -x $VENV/bin/python && -f $marker && "$(cat "$marker")" == "$want" ]]; then
        say "$series: $VENV: up to date"; exit 0
    fi
    T0=$(date +%s)
    rm -f "$marker"
    LOG="$VENV.setup.log"
    : > "$LOG"
    install_series "$series"
    echo "$want" > "$marker"
    say "$series: $VENV ready in $(( $(date +%s) - T0 )) s"
)

requested=("$@")
((${#requested[@]})) || requested=("${SUPPORTED_SERIES[@]}")
status=0
for series in "${requested[@]}"; do
    setup_series "$series" || status=$?
done
exit "$status"
