// Guard pages for the native engine's linear memories: what lets compiled code access memory
// without a bounds check (see NativeGuard.c).
#ifndef TABULA_NATIVE_GUARD_H
#define TABULA_NATIVE_GUARD_H

#include <stddef.h>
#include "NativeABI.h"

/// The address space every native linear memory reserves: any 32-bit address plus any 32-bit
/// offset plus an access of up to 8 bytes lands inside it (and 64 KiB to spare). Only the pages in
/// use are accessible; everything else faults.
#define TABULA_NATIVE_RESERVATION (((size_t)1 << 33) + ((size_t)1 << 16))

/// TABULA_NATIVE_RESERVATION, for Swift (which does not import the macro).
size_t tabula_native_reservation(void);

/// Installs the SIGSEGV/SIGBUS handler that turns a fault of native code beyond its memory's size
/// into TABULA_TRAP_MEMORY, chained before the handlers already installed. Idempotent; 0 or errno.
int tabula_native_guard_install(void);

/// Marks the calling thread as running `context`'s code, which lies in [code, code + code_length),
/// until tabula_native_guard_leave. A fault then traps only when it comes from that code and
/// falls in the memory's reservation beyond its current size; any other fault is passed on.
void tabula_native_guard_enter(tabula_context *context, const void *code, size_t code_length);
void tabula_native_guard_leave(void);

#endif
