#ifndef TABULA_PAGE_TRACKER_H
#define TABULA_PAGE_TRACKER_H

#include <stddef.h>
#include <stdint.h>

/// Tracking of the pages a sandbox writes, by write protection.
///
/// A registered region is made read-only; the first write to each page faults, the handler marks
/// the page in the region's dirty map, makes that page writable again and lets the write proceed.
/// A rewind then copies back only the marked pages and protects them again.
///
/// The handler must be installed after any other SIGSEGV handler that would claim these faults
/// (WasmKit's trap guard claims every fault inside a linear memory's reservation and turns it into
/// an out-of-bounds trap): faults outside registered regions go on to the previous handler.

/// Installs the SIGSEGV/SIGBUS handler once. Returns 0, or an errno.
int tabula_page_tracker_install(void);

/// The system page size.
size_t tabula_page_tracker_page_size(void);

/// Registers `[base, base + length)` (page-aligned) with a dirty map of one byte per page.
/// Returns a slot, or -1 when every slot is taken.
int tabula_page_tracker_register(void *base, size_t length, uint8_t *dirty);

/// Unregisters a slot; afterwards its faults are no longer handled.
void tabula_page_tracker_unregister(int slot);

/// Sets the protection of `[address, address + length)`: read-only when `writable` is 0.
/// Returns 0, or an errno.
int tabula_page_tracker_protect(void *address, size_t length, int writable);

/// Checks on a scratch page that a write to a protected page really faults and is recorded.
/// Returns 0 when it does. Some environments accept mprotect without enforcing it (Gramine on
/// SGX1 makes it a no-op): tracking there would miss writes, so callers must not use it.
int tabula_page_tracker_self_test(void);

#endif
