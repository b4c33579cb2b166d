#!/usr/bin/env bash
# Builds the compute kernels of the engine benchmark to wasm32-wasi command modules
# (_start -> main): matmul.wasm, sieve.wasm, wordcount.wasm, nbody.wasm.
# `tabula bench` and Benchmarks/wasmtime-compare.py load the built .wasm files, which
# are committed; run this only after changing a kernel.
#
# Needs clang (the Swift toolchain's is fine), the WASI sysroot and the wasm32
# compiler-rt builtins:
#   apt-get install -y wasi-libc libclang-rt-14-dev-wasm32
# This script installs nothing; it tells you what is missing. (Same approach as
# examples/build.sh.)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

SYSROOT_INC=/usr/include/wasm32-wasi
SYSROOT_LIB=/usr/lib/wasm32-wasi
INSTALL_HINT="apt-get install -y wasi-libc libclang-rt-14-dev-wasm32"
KERNELS=(matmul sieve wordcount nbody)

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
# printf's formatting. Ask dpkg first, then look in the usual places.
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

for kernel in "${KERNELS[@]}"; do
    "$CLANG" "${CFLAGS[@]}" "${LDFLAGS[@]}" \
        "$SYSROOT_LIB/crt1-command.o" "$kernel.c" -lm -lc "$RT" -o "$kernel.wasm"
    echo "built $kernel.wasm ($(wc -c <"$kernel.wasm" | tr -d ' ') bytes)"
done

# The kernels must stay deterministic: refuse a module that imports a clock or randomness.
for kernel in "${KERNELS[@]}"; do
    if grep -aq -e clock_time_get -e random_get "$kernel.wasm"; then
        die "$kernel.wasm imports a clock or randomness; the kernels must be deterministic"
    fi
done
