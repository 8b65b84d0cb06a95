#!/usr/bin/env bash
# Make sure the REAL OpenStack Ironic conductor is importable by the system Python, for
# `npm run bench:ironic`. Debian 12 ships it as python3-ironic (21.4.x), and the PostgreSQL driver
# Ironic uses there (`postgresql+psycopg2://`, `--ironic-db postgres`) as python3-psycopg2.
#
# - already importable by /usr/bin/python3: print the version, exit 0;
# - missing, root and apt-get present: apt-get update + install python3-ironic and python3-psycopg2
#   (their Depends only: python3-ironic's one Recommends, python3-scciclient, is the Fujitsu iRMC
#   driver library, not needed for fake-hardware), check the import again, exit 0;
# - otherwise: say exactly what to install and exit 1.
#
# All output goes to stderr (stdout of the benchmark is reserved for its table).
set -euo pipefail
exec 1>&2

PY=/usr/bin/python3
PKG=python3-ironic
PKGS="python3-ironic python3-psycopg2"
# What the driver needs: TaskManager, the conductor manager (worker pool), fake hardware, sqlite,
# and psycopg2 for PostgreSQL.
CHECK='import ironic.conductor.task_manager, ironic.conductor.manager, ironic.drivers.fake_hardware, sqlite3, eventlet, futurist, psycopg2'

importable() {
  [ -x "$PY" ] && "$PY" -c "$CHECK" >/dev/null 2>&1
}

ironic_version() {
  "$PY" -c 'from importlib import metadata; print(metadata.version("ironic"))' 2>/dev/null || echo unknown
}

if importable; then
  echo "bench:ironic: OpenStack Ironic $(ironic_version) and psycopg2 importable by $PY ($(dpkg-query -W -f='${Package} ${Version}; ' $PKGS 2>/dev/null || echo 'not from dpkg'))"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bench:ironic: $PKGS (or one of them) missing; installing with apt-get (Debian's registry) ..."
  start=$(date +%s%N)
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS
  end=$(date +%s%N)
  if importable; then
    ms=$(( (end - start) / 1000000 ))
    printf 'bench:ironic: installed %s (Ironic %s) in %d.%01d s\n' "$PKGS" "$(ironic_version)" $((ms / 1000)) $(((ms % 1000) / 100))
    exit 0
  fi
  echo "bench:ironic: $PKGS were installed but '$PY -c \"$CHECK\"' still fails:"
  "$PY" -c "$CHECK" || true
  exit 1
fi

cat <<EOF
bench:ironic: the real OpenStack Ironic conductor is not importable by $PY, and this script cannot
install it (it needs root and apt-get). Install Debian's packages (Debian 12 has Ironic 21.4.x):

    sudo apt-get update
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PKGS

then check it with:

    $PY -c '$CHECK'

(On a system without apt, any Ironic release that still has eventlet and futurist's
GreenThreadPoolExecutor, e.g. 21.x-24.x, installed for $PY with psycopg2, works the same way.)
EOF
exit 1
