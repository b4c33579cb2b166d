#!/usr/bin/env bash
# Installs the Debian packages the tests start servers from: PostgreSQL (the store of a cluster), and
# Patroni with etcd (the failover test's highly available PostgreSQL), and Python's jwcrypto (the
# independent JOSE implementation the key broker's JWEs are checked against); then the Python tools the
# Packaging suite validates deploy/ with, from PyPI into a virtualenv (see install_python_tools below).
# Idempotent and quiet when everything is there; `apt-get update` runs only when something is missing.
# Run as root (CI and the development machines are); elsewhere it says what to install.
set -euo pipefail

# The Packaging suite's validators, at exact versions (the packages they pull in pinned too, so a new
# release cannot change what passes): kubernetes-validate (Kubernetes' own OpenAPI schemas, shipped in the
# package, so it needs no cluster) and jsonschema. The virtualenv is $TABULA_TEST_VENV, by default
# ~/.cache/tabula-test-venv (outside the checkout, so CI's fresh clone reuses it); PackagingTests.swift
# looks in the same place. A stamp file inside records the pins it was made with: changing them here
# rebuilds it.
python_pins=(
    kubernetes-validate==1.37.0 jsonschema==4.26.0
    PyYAML==6.0.4 referencing==0.37.0 jsonschema-specifications==2025.9.1 attrs==26.1.0 rpds-py==2026.9.1
    importlib_resources==7.1.0 packaging==26.4 typing_extensions==4.16.0
)
install_python_tools() {
    local venv=${TABULA_TEST_VENV:-${HOME:-/root}/.cache/tabula-test-venv}
    local stamp="$venv/tabula-pins.txt"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2> /dev/null)" = "${python_pins[*]}" ]; then
        return 0
    fi
    if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
        echo "$venv is not a virtualenv: remove it, or set TABULA_TEST_VENV to another path." >&2
        return 1
    fi
    echo "Installing ${python_pins[*]} into $venv for the tests…" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "${python_pins[@]}"
    printf '%s' "${python_pins[*]}" > "$stamp"
}

missing=()
ls /usr/lib/postgresql/*/bin/postgres > /dev/null 2>&1 || missing+=(postgresql)
command -v psql > /dev/null 2>&1 || missing+=(postgresql-client)
command -v patroni > /dev/null 2>&1 || missing+=(patroni)
command -v etcd > /dev/null 2>&1 || missing+=(etcd-server)
/usr/bin/python3 -c 'import jwcrypto' > /dev/null 2>&1 || missing+=(python3-jwcrypto)
# Debian's python3 makes virtualenvs only with python3-venv (it brings ensurepip).
/usr/bin/python3 -c 'import ensurepip' > /dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
    install_python_tools
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
install_python_tools
