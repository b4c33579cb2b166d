#ifndef TABULA_PAGE_TRACKER_H
#define TABULA_PAGE_TRACKER_H

#include <stddef.h>
#include <stdint.h>

/// Tracking of the pages a sandbox writes, by write protection, with two mechanisms: signals and
/// `mprotect` (the `tabula_page_tracker_` functions, which work wherever `mprotect` is enforced),
/// and userfaultfd (the `tabula_uffd_` functions below, Linux 6.7 and later, cheaper).
///
/// With signals, a registered region is made read-only; the first write to each page faults, the
/// handler marks the page in the region's dirty map, makes that page writable again and lets the
/// write proceed. A rewind then copies back only the marked pages and protects them again.
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

// MARK: userfaultfd

/// Tracking of the pages a sandbox writes by userfaultfd's asynchronous write protection and the
/// PAGEMAP_SCAN ioctl (Linux 6.7 and later), without signals.
///
/// A registered, protected range faults on the first write to each page as the signal tracker's
/// does, but the kernel resolves the fault itself: it clears the page's write-protect bit and lets
/// the write go on, with no signal, no `mprotect` and no change to the mapping (so no TLB shootdown
/// on other cores). A rewind asks the kernel which pages of the range lost their bit
/// (`tabula_uffd_scan`), copies them back and protects them again.
///
/// One userfaultfd and one `/proc/self/pagemap` descriptor serve the whole process; they are opened
/// by the first call that needs them. The userfaultfd is opened with `UFFD_USER_MODE_ONLY`, which
/// unprivileged processes may do (asynchronous faults never reach a handler, so the restriction
/// costs nothing). Elsewhere than Linux, and where the kernel, a seccomp filter or a library OS
/// refuses any step, the functions return an errno (`ENOSYS` when not built for Linux) and callers
/// use another tracker.

/// A run of pages `[start, end)` (addresses) reported by a scan, laid out as the kernel's
/// `struct page_region`; `categories` is `PAGE_IS_WRITTEN` (2) for every region returned here.
typedef struct {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
} tabula_written_region_t;

/// Checks on a scratch mapping that the whole sequence works, opening the process's descriptors
/// first: register, protect, write one page that was populated before and one that never was,
/// scan (exactly those two pages, in a buffer of one region at a time), protect them again, scan
/// (nothing), and read back what was written. Returns 0 when every step did what it should.
int tabula_uffd_self_test(void);

/// Registers `[base, base + length)` (page-aligned, anonymous private memory) for asynchronous
/// write protection. Does not protect it: call `tabula_uffd_protect` next. Returns 0, or an
/// errno.
int tabula_uffd_register(void *base, size_t length);

/// Unregisters a range (clearing its pages' write-protect bits), before it is unmapped or reused.
/// Returns 0, or an errno.
int tabula_uffd_unregister(void *base, size_t length);

/// Write-protects every page of `[address, address + length)` in a registered range: one
/// `UFFDIO_WRITEPROTECT`, one TLB flush. Never-touched pages are protected too (they are reported
/// when first written). Returns 0, or an errno.
int tabula_uffd_protect(void *address, size_t length);

/// Write-protects the pages of `[address, address + length)` that were written, leaving the others
/// alone: one PAGEMAP_SCAN walk that changes only written entries, flushing the TLB once per 2 MiB
/// block that had any. Fails (EPERM) when the range is not registered for asynchronous protection.
/// Returns 0, or an errno.
int tabula_uffd_protect_written(void *address, size_t length);

/// Fills `regions` (up to `capacity`) with the written runs of `[address, address + length)`, in
/// address order, and sets `*walk_end` to where the walk stopped: `address + length` when the
/// range was covered, otherwise the address to scan again from (the buffer was full). Fails
/// (EPERM) when the range is not registered for asynchronous protection, rather than report pages
/// that were never tracked as unwritten.
///
/// Returns the number of regions filled, or a negative errno.
long tabula_uffd_scan(void *address, size_t length, tabula_written_region_t *regions, size_t capacity, uint64_t *walk_end);

#endif
