#!/usr/bin/env bash
# Creates WebAssembly actions on an OpenWhisk deployment that runs the `tabula runtime` image
# (deploy/runtime/Dockerfile), both ways: as a blackbox image (--docker, no change to the deployment) and as
# the managed kind wasm:tabula (after runtimes.json here is merged into the deployment's manifest).
# Needs `wsk` configured for the deployment (wsk property set --apihost … --auth …).
#
#   deploy/openwhisk/create-action.sh [MODULE.wasm|MODULE.wat] [IMAGE]
#
# from the repository root; the default module is examples/echo.wat, e.g. examples/c/hasher.wasm for a binary.
#
# How the code travels: OpenWhisk's controller marks an action's code binary when it is base64 text, and
# the invoker then sends it to the runtime's POST /init as {"value": {"code": BASE64, "binary": true,
# "main": …}}; WebAssembly text (.wat) goes as it is, with binary false. The wsk CLI base64-encodes only
# .zip, .jar and .bal files: any other file is sent as text, which would corrupt a binary .wasm. So a .wasm
# is encoded here first (base64 -w0: one line, which is what the controller recognises as base64).
set -euo pipefail

module=${1:-examples/echo.wat}
image=${2:-tabula/tabula-runtime:latest}
name=$(basename "${module%.*}")

code=$module
if [ "${module##*.}" = wasm ]; then
    code=$(mktemp --suffix=.b64)
    trap 'rm -f "$code"' EXIT
    base64 -w0 "$module" > "$code"
fi

# `update` creates the action, or replaces it when the script runs again.
# 1. Blackbox: any OpenWhisk runs the image as a Docker action. The invoker pulls the image unless it is
#    listed under blackboxes in the deployment's runtimes manifest (then it must be present on each invoker).
wsk action update "$name" "$code" --docker "$image" --main main

# 2. Managed kind: needs the 'wasm' family of deploy/openwhisk/runtimes.json in the deployment's manifest.
wsk action update "$name-kind" "$code" --kind wasm:tabula --main main

wsk action invoke "$name" --result --param name Ada
wsk action invoke "$name-kind" --result --param name Ada
