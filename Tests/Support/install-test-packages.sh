#!/usr/bin/env bash
# Installs the Debian packages the tests start servers from: PostgreSQL (the store of a cluster), and
# Patroni with etcd (the failover test's highly available PostgreSQL), and Python's jwcrypto (the
# independent JOSE implementation the key broker's JWEs are checked against).
# Idempotent and quiet when everything is there; `apt-get update` runs only when something is missing.
# Run as root (CI and the development machines are); elsewhere it says what to install.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/postgres > /dev/null 2>&1 || missing+=(postgresql)
command -v psql > /dev/null 2>&1 || missing+=(postgresql-client)
command -v patroni > /dev/null 2>&1 || missing+=(patroni)
command -v etcd > /dev/null 2>&1 || missing+=(etcd-server)
/usr/bin/python3 -c 'import jwcrypto' > /dev/null 2>&1 || missing+=(python3-jwcrypto)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null 2>&1; then
    echo "The tests need these Debian packages: ${missing[*]} (apt-get install ${missing[*]})." >&2
    exit 1
fi
echo "Installing ${missing[*]} for the tests…" >&2
# Packages must not start their services here: the tests start their own servers, on ports of their own.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=true
fi
trap '[ "$created_policy" = true ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
echo "Installed ${missing[*]}." >&2
