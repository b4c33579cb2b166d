#!/bin/sh
# Installs what a Tabula cluster on PostgreSQL needs on Debian 12 (bookworm): PostgreSQL 15, Patroni 3.0
# (which pulls python3-etcd, the etcd v2 client it uses), etcd 3.4 and, with --haproxy, HAProxy.
# Idempotent: packages already installed are left alone; `apt-get update` runs at most once, and only
# when something is missing.
#
# Debian's maintainer scripts start (or enable) the system services `etcd`, `patroni` and `postgresql`
# after installing. On a host where Patroni will manage PostgreSQL that is wrong: the Debian `postgresql`
# service would start its own "15/main" cluster on :5432 and the Debian `etcd` service a single-member
# etcd on :2379/:2380, holding the ports the cluster needs. This script therefore installs under a
# policy-rc.d that refuses every service start (exit 101, see /usr/share/doc/init-system-helpers/README.policy-rc.d)
# and afterwards stops and disables those units where systemd runs. Operators then start the units they
# configured themselves (see README.md).
#
# Usage: sudo deploy/cluster/install-debian.sh [--haproxy]
set -eu

packages="postgresql patroni etcd-server etcd-client"
if [ "${1:-}" = "--haproxy" ]; then packages="$packages haproxy"; fi

if [ "$(id -u)" -ne 0 ]; then echo "install-debian.sh: run as root (sudo)" >&2; exit 1; fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    # Refuse service starts during the installation, unless the host already does (Docker images ship
    # a policy-rc.d that exits 101); restore whatever was there afterwards.
    policy=/usr/sbin/policy-rc.d
    saved=""
    if [ -e "$policy" ]; then saved=$(mktemp); cp -p "$policy" "$saved"; fi
    restore() {
        if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi
    }
    trap restore EXIT INT TERM
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"

    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing
    restore
    trap - EXIT INT TERM
fi

# Where systemd runs, make sure none of the distribution's default units hold the ports (policy-rc.d
# stops starts, not `systemctl enable`). Without systemd as PID 1 (containers) there is nothing to do.
# The Debian `postgresql` unit is disabled only when this script installed PostgreSQL: on a host that
# already ran its own clusters, that is the operator's call (Patroni's port must then differ from theirs).
if [ -d /run/systemd/system ]; then
    units="etcd patroni"
    case " $missing " in *" postgresql "*) units="$units postgresql" ;; esac
    for unit in $units; do
        systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
    done
fi

echo "install-debian.sh: installed:" $packages
for b in /usr/bin/etcd /usr/bin/patroni /usr/lib/postgresql/15/bin/postgres; do
    [ -x "$b" ] || { echo "install-debian.sh: $b missing after installation" >&2; exit 1; }
done
