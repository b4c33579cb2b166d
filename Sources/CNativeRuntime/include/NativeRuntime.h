// Loading and running functions compiled ahead of time (see NativeABI.h for the ABI itself).
#ifndef TABULA_NATIVE_RUNTIME_H
#define TABULA_NATIVE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include "NativeABI.h"
#include "NativeGuard.h"

/// Compiled code mapped into this process by `tabula_native_load`.
typedef struct tabula_native_image {
    void *base;
    size_t length;
    const tabula_native_module *module;
} tabula_native_image;

/// Maps an ELF shared object given as bytes: checks that it is a position-independent object of
/// this machine with only relative relocations and no writable-and-executable segment, maps its
/// segments with their own protections, and calls its entry for the module descriptor. Returns 0,
/// or a non-zero code with a message in `problem` (at least 160 bytes).
int tabula_native_load(const uint8_t *bytes, size_t count, tabula_native_image *image, char *problem, size_t problem_size);

/// Unmaps an image loaded by `tabula_native_load`.
void tabula_native_unload(tabula_native_image *image);

/// Runs `module->instantiate` (when `index` is UINT32_MAX) or `module->invoke(index)` on the
/// calling thread, with `stack_budget` bytes of stack at most for the native frames (less when the
/// thread has less). Returns TABULA_TRAP_NONE, with the result in `*result`, or the trap code.
int32_t tabula_native_run(const tabula_native_module *module, tabula_context *context, uint32_t index, size_t stack_budget, uint64_t *result);

/// Runs `module->call` as `tabula_native_run` runs `invoke`: calls exported function `index` with
/// `argument_count` parameters (64-bit patterns), its results in `results` (room for
/// `result_capacity`) and `call`'s answer in `*called` (results written, or -1 when nothing was
/// called). Returns the trap code, TABULA_TRAP_NONE when the call returned.
int32_t tabula_native_call(const tabula_native_module *module, tabula_context *context, uint32_t index, const uint64_t *arguments, uint32_t argument_count, size_t stack_budget, uint64_t *results, uint32_t result_capacity, int32_t *called);

#endif
