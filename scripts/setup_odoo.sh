#!/usr/bin/env bash
# Build `.venvs/odoo`: a Python environment that runs an Odoo 18.0 found on this machine together with our
# core (`-e .`), the repository's requirements and OCA `server_environment`.
#
# Odoo itself is never installed, copied or fetched by this repository: we only use an Odoo 18 that is
# already here. Where to look, first hit wins:
#   1. `odoo` importable by $PYTHON (default python3) -> the venv sees that interpreter's site-packages
#      through a .pth file: Odoo's own dependencies are taken as already present there;
#   2. $ODOO_SRC, a source tree with odoo-bin and odoo/ (when set, the only place looked at);
#   3. /opt/odoo18.
# None found: one loud line, exit 0 (the Odoo tests are then skipped by scripts/odoo_tests.py).
#
# Odoo's loose requirements.txt would pull today's Werkzeug/lxml, which Odoo 18 does not run with. The pins
# below are upstream Odoo 18.0's for Debian 13/Ubuntu 24.04 (its `python_version >= '3.12'` lines: Werkzeug
# 3.0.1, lxml 5.2.1 + lxml-html-clean, Pillow 10.2.0, reportlab 4.1.0…), which all ship wheels for 3.11;
# its 3.11 lines include sdist-only pins (cbor2 5.4.2.post1 fails to build with current setuptools,
# psycopg2 needs a compiler), so psycopg2 -> psycopg2-binary; gevent 22.10.2 imports pkg_resources, gone from
# current setuptools (the long-polling process died at import): gevent 24.2.1/greenlet 3.0.3.
# Checked by running Odoo's test_http and a --workers=2 server with its gevent process here.
# Idempotent: the venv carries a hash of its inputs; a second run with nothing changed takes ~0.1 s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venvs/odoo"
SERVER_ENVIRONMENT_SPEC="odoo-addon-server-environment>=18.0,<18.1"
# Odoo-side tools: anthem plays cloud_platform's songs (tests/platform/test_platform_odoo.py runs it).
ODOO_TOOLS_SPEC="anthem==0.15.0"
say() { printf '[setup_odoo] %s\n' "$*"; }

# ---------------------------------------------------------------- find Odoo 18
odoo_mode="" odoo_src=""
if importable=$("$PYTHON" -c 'import odoo.release as r, os, odoo; print(r.series, os.path.dirname(os.path.dirname(odoo.__file__)))' 2>/dev/null) \
        && [[ ${importable%% *} == "18.0" ]]; then
    odoo_mode=importable; odoo_src=${importable#* }
else
    # An explicit ODOO_SRC is the only place looked at (a wrong one is not replaced by the default path).
    candidate=${ODOO_SRC:-/opt/odoo18}
    if [[ -f $candidate/odoo/release.py && -d $candidate/odoo/addons/base ]] \
            && grep -qE "^version_info = \(18, 0," "$candidate/odoo/release.py"; then
        odoo_mode=source; odoo_src=$(cd "$candidate" && pwd)
    elif [[ -n ${ODOO_SRC:-} ]]; then
        say "ODOO_SRC=$ODOO_SRC is not an Odoo 18.0 source tree (no odoo/release.py with version 18.0)"
    fi
fi
if [[ -z $odoo_mode ]]; then
    say "NO ODOO 18 FOUND: .venvs/odoo not built (set ODOO_SRC=/path/to/odoo-18 or make odoo importable); Odoo tests will be skipped"
    exit 0
fi
say "Odoo 18 found ($odoo_mode): $odoo_src"

# ---------------------------------------------------------------- pins (upstream Odoo 18.0, Python 3.11)
ODOO_PINS=$(cat <<'PINS'
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

PYVER=$("$PYTHON" -c 'import sys; print(sys.version)')
want=$({ printf '%s\n%s\n%s\n%s\n' "$PYVER" "$odoo_mode" "$odoo_src" "$ODOO_PINS" "$SERVER_ENVIRONMENT_SPEC $ODOO_TOOLS_SPEC";
         cat requirements.txt pyproject.toml "${BASH_SOURCE[0]}" 2>/dev/null; } | sha256sum | cut -d' ' -f1)
marker="$VENV/.setup-hash"
# Parallel callers (several scripts/odoo_tests.py runs) wait here for one build instead of racing pip.
mkdir -p "$ROOT/.venvs"
exec 9>"$ROOT/.venvs/odoo.lock"
flock 9
if [[ -x $VENV/bin/python && -f $marker && "$(cat "$marker")" == "$want" ]]; then
    say "$VENV: up to date"; exit 0
fi

T0=$(date +%s)
mkdir -p "$ROOT/.venvs"
rm -f "$marker"
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
LOG="$ROOT/.venvs/odoo.setup.log"
: > "$LOG"
# pip's chatter (build warnings…) goes to the log; its tail is shown when a step fails.
pip_install() {
    if ! "$VENV/bin/python" -m pip install -q "$@" >> "$LOG" 2>&1; then
        say "pip install $* FAILED; last lines of $LOG:"; tail -n 30 "$LOG" | sed 's/^/    /'; exit 1
    fi
}
pip=(pip_install)
"${pip[@]}" --upgrade pip setuptools wheel
if [[ $odoo_mode == source ]]; then
    say "installing Odoo 18's Python dependencies (pinned)"
    "${pip[@]}" -r <(printf '%s\n' "$ODOO_PINS")
fi
# Make `import odoo` work in this venv (odoo-bin adds its own directory anyway; `-m odoo` and tools need it).
# When odoo came importable from another venv, this path is that venv's site-packages: its Odoo dependencies
# come along (--system-site-packages only reaches the base interpreter's).
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
{
    printf '%s\n' "$odoo_src"
    if [[ $odoo_mode == importable ]]; then
        "$PYTHON" -c 'import sysconfig; p = sysconfig.get_paths(); print(p["purelib"]); print(p["platlib"])'
    fi
} | awk '!seen[$0]++' > "$site/odoo18-src.pth"
project_args=(-r requirements.txt)
[[ -f pyproject.toml || -f setup.py ]] && project_args=(-e . "${project_args[@]}")
say "installing ${project_args[*]} (keeping Odoo's pins)"
"${pip[@]}" "${project_args[@]}" -c <(printf '%s\n' "$ODOO_PINS" | grep -v '^pytz$')
# OCA server_environment declares `odoo>=18.0a,<18.1dev` as a dependency, which is not on PyPI: --no-deps.
# Its own Python dependency (none besides odoo for 18.0) is checked by the import test below.
say "installing $SERVER_ENVIRONMENT_SPEC (--no-deps) and $ODOO_TOOLS_SPEC"
"${pip[@]}" --no-deps "$SERVER_ENVIRONMENT_SPEC"
"${pip[@]}" "$ODOO_TOOLS_SPEC" -c <(printf '%s\n' "$ODOO_PINS" | grep -v '^pytz$')

# ---------------------------------------------------------------- checks: odoo imports, server_environment on the addons path
"$VENV/bin/python" - "$odoo_src" <<'PY'
import sys
import odoo, odoo.release
from odoo.modules.module import get_module_path
import odoo.addons
assert odoo.release.series == "18.0", odoo.release.series
path = get_module_path("server_environment", display_warning=False)
if not path:
    sys.exit("server_environment is not on the addons path: %s" % list(odoo.addons.__path__))
print("[setup_odoo] odoo %s from %s; server_environment at %s" % (odoo.release.version, odoo.__file__, path))
PY
# `pip check` always reports server_environment's `odoo` requirement (Odoo is not a pip distribution here).
conflicts=$("$VENV/bin/python" -m pip check 2>&1 | grep -v 'requires odoo, which is not installed' | grep -v '^No broken' || true)
[[ -z $conflicts ]] || say "warning: pip check: $conflicts"
echo "$want" > "$marker"
say "$VENV ready in $(( $(date +%s) - T0 )) s"
