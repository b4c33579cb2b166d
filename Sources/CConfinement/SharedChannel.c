#define _GNU_SOURCE
#include "Confinement.h"

#include <errno.h>

#if defined(__linux__)

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int tabula_channel_memory(uint64_t size) {
    // Close-on-exec: only the worker it is meant for gets it, by the spawn's dup2 onto 4.
    int fd = memfd_create("tabula-channel", MFD_CLOEXEC);
    if (fd < 0) return -errno;
    if (ftruncate(fd, (off_t)size) != 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int tabula_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    // FUTEX_WAIT, not FUTEX_WAIT_PRIVATE: the word is in memory shared by two processes.
    struct timespec timeout = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    long result = syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout_ns >= 0 ? &timeout : NULL, NULL, 0);
    return result == 0 ? 0 : errno;
}

int tabula_futex_wake(uint32_t *word) {
    long result = syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
    return result < 0 ? errno : 0;
}

#else

int tabula_channel_memory(uint64_t size) { (void)size; return -ENOSYS; }
int tabula_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) { (void)word; (void)expected; (void)timeout_ns; return ENOSYS; }
int tabula_futex_wake(uint32_t *word) { (void)word; return ENOSYS; }

#endif
