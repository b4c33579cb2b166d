#include "PageTracker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// Enough for every sandbox of a large enclave; a sandbox that finds no slot rewinds by comparison.
#define SLOT_COUNT 4096

typedef struct {
    // Published last (release) and cleared first: a handler that sees a base sees its length and map.
    _Atomic(uintptr_t) base;
    _Atomic(size_t) length;
    _Atomic(uint8_t *) dirty;
} region_t;

static region_t regions[SLOT_COUNT];
// Slots at and above this one have never been used: the handler stops there.
static _Atomic(int) slots_used = 0;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous_segv;
static struct sigaction previous_bus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error = 0;
static size_t page_size = 4096;

static void chain(const struct sigaction *previous, int sig, siginfo_t *info, void *context) {
    if (previous->sa_flags & SA_SIGINFO) {
        if (previous->sa_sigaction) {
            previous->sa_sigaction(sig, info, context);
            return;
        }
    } else if (previous->sa_handler == SIG_IGN) {
        return;
    } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != NULL) {
        previous->sa_handler(sig);
        return;
    }
    // The default action: restore it and return, so the faulting instruction faults again and
    // the process ends the way it would have without us.
    sigaction(sig, previous, NULL);
}

static void handler(int sig, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)(info ? info->si_addr : 0);
    if (address != 0) {
        int used = atomic_load_explicit(&slots_used, memory_order_acquire);
        for (int slot = 0; slot < used; slot++) {
            uintptr_t base = atomic_load_explicit(&regions[slot].base, memory_order_acquire);
            if (base == 0 || address < base) continue;
            size_t length = atomic_load_explicit(&regions[slot].length, memory_order_relaxed);
            uint8_t *dirty = atomic_load_explicit(&regions[slot].dirty, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            // A slot re-registered meanwhile would pair one region's base with another's length.
            if (atomic_load_explicit(&regions[slot].base, memory_order_acquire) != base) continue;
            if (address >= base + length) continue;
            size_t page = (address - base) / page_size;
            void *start = (void *)(base + page * page_size);
            if (mprotect(start, page_size, PROT_READ | PROT_WRITE) == 0) {
                dirty[page] = 1;
                return;
            }
            break;
        }
    }
    chain(sig == SIGBUS ? &previous_bus : &previous_segv, sig, info, context);
}

static void install(void) {
    long size = sysconf(_SC_PAGESIZE);
    if (size > 0) page_size = (size_t)size;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    if (sigaction(SIGSEGV, &action, &previous_segv) != 0 || sigaction(SIGBUS, &action, &previous_bus) != 0) {
        install_error = errno;
    }
}

int tabula_page_tracker_install(void) {
    pthread_once(&install_once, install);
    return install_error;
}

size_t tabula_page_tracker_page_size(void) {
    return page_size;
}

int tabula_page_tracker_register(void *base, size_t length, uint8_t *dirty) {
    pthread_mutex_lock(&slots_lock);
    for (int slot = 0; slot < SLOT_COUNT; slot++) {
        if (atomic_load_explicit(&regions[slot].base, memory_order_relaxed) != 0) continue;
        atomic_store_explicit(&regions[slot].length, length, memory_order_relaxed);
        atomic_store_explicit(&regions[slot].dirty, dirty, memory_order_relaxed);
        atomic_store_explicit(&regions[slot].base, (uintptr_t)base, memory_order_release);
        if (slot >= atomic_load_explicit(&slots_used, memory_order_relaxed)) {
            atomic_store_explicit(&slots_used, slot + 1, memory_order_release);
        }
        pthread_mutex_unlock(&slots_lock);
        return slot;
    }
    pthread_mutex_unlock(&slots_lock);
    return -1;
}

void tabula_page_tracker_unregister(int slot) {
    if (slot < 0 || slot >= SLOT_COUNT) return;
    pthread_mutex_lock(&slots_lock);
    atomic_store_explicit(&regions[slot].base, 0, memory_order_release);
    pthread_mutex_unlock(&slots_lock);
}

int tabula_page_tracker_protect(void *address, size_t length, int writable) {
    int protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ;
    return mprotect(address, length, protection) == 0 ? 0 : errno;
}

int tabula_page_tracker_self_test(void) {
    size_t size = tabula_page_tracker_page_size();
    void *page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return errno;
    // Volatile: the signal handler writes it, which the compiler cannot see.
    static volatile uint8_t dirty;
    dirty = 0;
    int slot = tabula_page_tracker_register(page, size, (uint8_t *)&dirty);
    if (slot < 0) {
        munmap(page, size);
        return ENOSPC;
    }
    int result = tabula_page_tracker_protect(page, size, 0);
    if (result == 0) {
        *(volatile uint8_t *)page = 1;
        result = (dirty == 1 && *(volatile uint8_t *)page == 1) ? 0 : ENOTSUP;
    }
    tabula_page_tracker_unregister(slot);
    munmap(page, size);
    return result;
}
