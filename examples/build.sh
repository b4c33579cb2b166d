#!/usr/bin/env bash
# Builds the C example functions to wasm32-wasi:
#   c/hasher.wasm     - WASI command module (_start -> main)
#   c/transform.wasm  - WASI reactor module (_initialize, then the "main" export)
#
# Needs clang (the Swift toolchain's is fine), the WASI sysroot and the wasm32
# compiler-rt builtins. This script installs nothing; it tells you what is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

SYSROOT_INC=/usr/include/wasm32-wasi
SYSROOT_LIB=/usr/lib/wasm32-wasi
INSTALL_HINT="apt-get install -y wasi-libc libclang-rt-14-dev-wasm32"

die() {
    echo "build.sh: $*" >&2
    exit 1
}

# Prefer the Swift toolchain's clang; it ships wasm-ld next to it.
if [[ -x /opt/swift/usr/bin/clang ]]; then
    CLANG=/opt/swift/usr/bin/clang
elif command -v clang >/dev/null 2>&1; then
    CLANG=$(command -v clang)
else
    die "clang not found (expected /opt/swift/usr/bin/clang or clang on PATH)"
fi

if [[ ! -d $SYSROOT_INC || ! -f $SYSROOT_LIB/libc.a ]]; then
    die "WASI libc not found in $SYSROOT_INC / $SYSROOT_LIB. Install it with: $INSTALL_HINT"
fi

# The builtins archive provides helpers such as 128-bit arithmetic used by
# printf's floating-point formatting. Ask dpkg first, then look in the usual places.
RT=""
if command -v dpkg >/dev/null 2>&1; then
    RT=$(dpkg -L libclang-rt-14-dev-wasm32 2>/dev/null | grep 'libclang_rt\.builtins-wasm32\.a$' | head -n1 || true)
fi
if [[ -z $RT ]]; then
    RT=$(ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a 2>/dev/null | head -n1 || true)
fi
if [[ -z $RT || ! -f $RT ]]; then
    die "libclang_rt.builtins-wasm32.a not found. Install it with: $INSTALL_HINT"
fi

CFLAGS=(--target=wasm32-wasi -O2 -Wall -Wextra -isystem "$SYSROOT_INC")
LDFLAGS=(-nostdlib -L"$SYSROOT_LIB" -Wl,--strip-all)

# build <source> <output> <crt object> [extra link flags...]
build() {
    local src=$1 out=$2 crt=$3
    shift 3
    "$CLANG" "${CFLAGS[@]}" "${LDFLAGS[@]}" "$@" \
        "$SYSROOT_LIB/$crt" "$src" -lc "$RT" -o "$out"
    echo "built $out ($(wc -c <"$out" | tr -d ' ') bytes)"
}

build c/hasher.c c/hasher.wasm crt1-command.o
# A reactor has no _start: the host calls _initialize once, snapshots memory,
# then calls the exported "main" for each invocation.
build c/transform.c c/transform.wasm crt1-reactor.o -Wl,--no-entry
