#include "PageTracker.h"

#include <errno.h>

#if defined(__linux__) && __has_include(<linux/userfaultfd.h>) && __has_include(<linux/fs.h>)

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

// What Linux 6.4 (WP_UNPOPULATED) and 6.7 (WP_ASYNC, PAGEMAP_SCAN) added, for older headers. The
// values are the kernel's ABI; a kernel without them refuses the request and the self-test fails.
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WRITTEN (1 << 1)
struct page_region {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
};
struct pm_scan_arg {
    uint64_t size;
    uint64_t flags;
    uint64_t start;
    uint64_t end;
    uint64_t walk_end;
    uint64_t vec;
    uint64_t vec_len;
    uint64_t max_pages;
    uint64_t category_inverted;
    uint64_t category_mask;
    uint64_t category_anyof_mask;
    uint64_t return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

_Static_assert(sizeof(tabula_written_region_t) == sizeof(struct page_region), "tabula_written_region_t must match struct page_region");

static pthread_once_t open_once = PTHREAD_ONCE_INIT;
static int open_error = 0;
static int uffd = -1;
static int pagemap = -1;

/// Opens the userfaultfd and asks for asynchronous write protection that also covers pages never
/// touched (without WP_UNPOPULATED, a first write to an unpopulated page is not reported), then
/// opens the pagemap that PAGEMAP_SCAN works on.
static void open_descriptors(void) {
#ifdef SYS_userfaultfd
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) {
        open_error = errno;
        return;
    }
    struct uffdio_api api;
    memset(&api, 0, sizeof api);
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        open_error = errno;
        close(fd);
        return;
    }
    int map = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (map < 0) {
        open_error = errno;
        close(fd);
        return;
    }
    uffd = fd;
    pagemap = map;
#else
    open_error = ENOSYS;
#endif
}

static int open_once_and_check(void) {
    pthread_once(&open_once, open_descriptors);
    return open_error;
}

int tabula_uffd_register(void *base, size_t length) {
    int error = open_once_and_check();
    if (error) return error;
    struct uffdio_register registration;
    memset(&registration, 0, sizeof registration);
    registration.range.start = (uint64_t)(uintptr_t)base;
    registration.range.len = length;
    registration.mode = UFFDIO_REGISTER_MODE_WP;
    return ioctl(uffd, UFFDIO_REGISTER, &registration) == 0 ? 0 : errno;
}

int tabula_uffd_unregister(void *base, size_t length) {
    int error = open_once_and_check();
    if (error) return error;
    struct uffdio_range range = {.start = (uint64_t)(uintptr_t)base, .len = length};
    return ioctl(uffd, UFFDIO_UNREGISTER, &range) == 0 ? 0 : errno;
}

int tabula_uffd_protect(void *address, size_t length) {
    int error = open_once_and_check();
    if (error) return error;
    struct uffdio_writeprotect protection;
    memset(&protection, 0, sizeof protection);
    protection.range.start = (uint64_t)(uintptr_t)address;
    protection.range.len = length;
    protection.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    return ioctl(uffd, UFFDIO_WRITEPROTECT, &protection) == 0 ? 0 : errno;
}

/// A PAGEMAP_SCAN over `[address, address + length)` for written pages, of which only the written
/// bit is reported (so that adjacent written pages come back as one region).
static struct pm_scan_arg written_pages(void *address, size_t length) {
    struct pm_scan_arg scan;
    memset(&scan, 0, sizeof scan);
    scan.size = sizeof scan;
    scan.flags = PM_SCAN_CHECK_WPASYNC;
    scan.start = (uint64_t)(uintptr_t)address;
    scan.end = scan.start + length;
    scan.category_mask = PAGE_IS_WRITTEN;
    scan.return_mask = PAGE_IS_WRITTEN;
    return scan;
}

int tabula_uffd_protect_written(void *address, size_t length) {
    int error = open_once_and_check();
    if (error) return error;
    // No output vector: the kernel takes its fast path that only write-protects.
    struct pm_scan_arg scan = written_pages(address, length);
    scan.flags |= PM_SCAN_WP_MATCHING;
    return ioctl(pagemap, PAGEMAP_SCAN, &scan) >= 0 ? 0 : errno;
}

long tabula_uffd_scan(void *address, size_t length, tabula_written_region_t *regions, size_t capacity, uint64_t *walk_end) {
    int error = open_once_and_check();
    if (error) return -error;
    struct pm_scan_arg scan = written_pages(address, length);
    scan.vec = (uint64_t)(uintptr_t)regions;
    scan.vec_len = capacity;
    long count = ioctl(pagemap, PAGEMAP_SCAN, &scan);
    if (count < 0) return -errno;
    *walk_end = scan.walk_end;
    return count;
}

/// Scans `[base, base + length)` one region at a time (as a caller whose buffer fills up would)
/// and checks that exactly the pages `expected` (indices, ascending, `count` of them, none
/// adjacent) are reported as written.
static int expect_written(uint8_t *base, size_t length, size_t page, const size_t *expected, size_t count) {
    uint64_t from = (uint64_t)(uintptr_t)base;
    uint64_t end = from + length;
    size_t found = 0;
    while (from < end) {
        tabula_written_region_t region;
        uint64_t walk_end = 0;
        long filled = tabula_uffd_scan((void *)(uintptr_t)from, end - from, &region, 1, &walk_end);
        if (filled < 0) return (int)-filled;
        if (filled == 1) {
            if (found == count) return ENOTSUP;
            uint64_t start = (uint64_t)(uintptr_t)(base + expected[found] * page);
            if (region.start != start || region.end != start + page) return ENOTSUP;
            found += 1;
        }
        // A walk that made no progress would loop forever.
        if (walk_end <= from || walk_end > end) return ENOTSUP;
        from = walk_end;
    }
    return found == count ? 0 : ENOTSUP;
}

int tabula_uffd_self_test(void) {
    int error = open_once_and_check();
    if (error) return error;
    long size = sysconf(_SC_PAGESIZE);
    size_t page = size > 0 ? (size_t)size : 4096;
    size_t length = 3 * page;
    uint8_t *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return errno;
    volatile uint8_t *bytes = base;
    // Page 0 is populated before protection; pages 1 and 2 are never touched before it.
    bytes[0] = 1;
    error = tabula_uffd_register(base, length);
    if (error) {
        munmap(base, length);
        return error;
    }
    const size_t none[] = {0};
    const size_t written[] = {0, 2};
    error = tabula_uffd_protect(base, length);
    if (!error) error = expect_written(base, length, page, none, 0);
    if (!error) {
        bytes[0] = 2;
        bytes[2 * page] = 3;
        error = expect_written(base, length, page, written, 2);
    }
    if (!error) error = tabula_uffd_protect_written(base, length);
    if (!error) error = expect_written(base, length, page, none, 0);
    if (!error && (bytes[0] != 2 || bytes[page] != 0 || bytes[2 * page] != 3)) error = ENOTSUP;
    int unregistered = tabula_uffd_unregister(base, length);
    munmap(base, length);
    return error ? error : unregistered;
}

#else

// Not Linux (or no userfaultfd headers): unsupported, and callers use another tracker.

int tabula_uffd_self_test(void) { return ENOSYS; }
int tabula_uffd_register(void *base, size_t length) { return ENOSYS; }
int tabula_uffd_unregister(void *base, size_t length) { return ENOSYS; }
int tabula_uffd_protect(void *address, size_t length) { return ENOSYS; }
int tabula_uffd_protect_written(void *address, size_t length) { return ENOSYS; }
long tabula_uffd_scan(void *address, size_t length, tabula_written_region_t *regions, size_t capacity, uint64_t *walk_end) { return -ENOSYS; }

#endif
