#!/usr/bin/env bash
# Builds the example functions to wasm32-wasi:
#   c/hasher.wasm          - WASI command module in C (_start -> main)
#   c/transform.wasm       - WASI reactor module in C (_initialize, then the "main" export)
#   c/secret.wasm          - WASI command module in C that reads a tenant secret (docs/broker.md)
#   c/jointstats.wasm      - WASI command module in C for a multi-party job: joint statistics
#                            over every party's values (sample inputs in jobs/*.json)
#   rust/wordcount.wasm    - WASI command module in Rust (std, HashMap)
#
# Needs clang (the Swift toolchain's is fine), the WASI sysroot and the wasm32
# compiler-rt builtins for C, and Debian's rustc with its wasm32 standard library
# for Rust:
#   apt-get install -y wasi-libc libclang-rt-14-dev-wasm32
#   apt-get install -y rustc libstd-rust-dev-wasm32
# This script installs nothing; it tells you what is missing.
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
build c/secret.c c/secret.wasm crt1-command.o
build c/jointstats.c c/jointstats.wasm crt1-command.o
# A reactor has no _start: the host calls _initialize once, snapshots memory,
# then calls the exported "main" for each invocation.
build c/transform.c c/transform.wasm crt1-reactor.o -Wl,--no-entry

# Rust: Debian's rustc (1.63 on bookworm) knows the target as wasm32-wasi. A rustup toolchain
# earlier on PATH usually lacks the target, so Debian's is preferred.
RUST_HINT="apt-get install -y rustc libstd-rust-dev-wasm32"
if [[ -x /usr/bin/rustc ]]; then
    RUSTC=/usr/bin/rustc
elif command -v rustc >/dev/null 2>&1; then
    RUSTC=$(command -v rustc)
else
    die "rustc not found. Install it with: $RUST_HINT"
fi
if ! "$RUSTC" --print sysroot >/dev/null 2>&1 || [[ ! -d $("$RUSTC" --print sysroot)/lib/rustlib/wasm32-wasi ]]; then
    die "$RUSTC has no wasm32-wasi standard library. Install it with: $RUST_HINT"
fi
"$RUSTC" --target wasm32-wasi --edition 2021 -C opt-level=2 -C strip=symbols rust/wordcount.rs -o rust/wordcount.wasm
echo "built rust/wordcount.wasm ($(wc -c <rust/wordcount.wasm | tr -d ' ') bytes)"
