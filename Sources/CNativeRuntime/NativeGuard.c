// Out-of-bounds accesses of native code, caught by the MMU instead of a check before each access.
//
// A native memory reserves TABULA_NATIVE_RESERVATION bytes of address space and makes only its
// current size accessible (NativeSandbox), so every access a 32-bit module can compute either
// hits the memory or faults inside the reservation. The handler turns such a fault into the trap
// WasmKit reports ("out of bounds memory access") by calling the context's trap entry, which
// long-jumps back to tabula_native_run. It acts only when all of these hold, so that it never
// swallows a fault that is not a tenant's out-of-bounds access:
//   - the faulting thread is running native code (tabula_native_guard_enter),
//   - the instruction that faulted is in that code's image (not in the host, the Swift runtime or
//     a WASI function called from it),
//   - the address is in that memory's reservation, at or beyond its current size (a fault below
//     it is the page tracker's write protection, passed on).
// Everything else goes to the handler installed before (the page tracker's, WasmKit's, or the
// default action).
#define _GNU_SOURCE
#include "NativeGuard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

static __thread tabula_context *guarded;
static __thread uintptr_t code_low, code_high;

static struct sigaction previous_segv, previous_bus;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_error;

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
    // The default action: restore it and return, so that the instruction faults again and the
    // process ends as it would have without us.
    sigaction(sig, previous, NULL);
}

static uintptr_t faulting_instruction(void *context) {
    ucontext_t *state = context;
#if defined(__x86_64__)
    return (uintptr_t)state->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)state->uc_mcontext.pc;
#else
    (void)state;
    return 0;
#endif
}

static void handler(int sig, siginfo_t *info, void *context) {
    tabula_context *running = guarded;
    if (running && info && context) {
        uintptr_t address = (uintptr_t)info->si_addr;
        uintptr_t memory = (uintptr_t)running->memory;
        uintptr_t pc = faulting_instruction(context);
        if (memory && address >= memory + running->memory_size && address < memory + TABULA_NATIVE_RESERVATION
            && pc >= code_low && pc < code_high) {
            // SA_NODEFER: the signal is not blocked in here, so the jump needs no mask restored.
            running->trap(running, TABULA_TRAP_MEMORY);
        }
    }
    chain(sig == SIGBUS ? &previous_bus : &previous_segv, sig, info, context);
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    if (sigaction(SIGSEGV, &action, &previous_segv) != 0 || sigaction(SIGBUS, &action, &previous_bus) != 0) install_error = errno ? errno : EINVAL;
}

size_t tabula_native_reservation(void) {
    return TABULA_NATIVE_RESERVATION;
}

int tabula_native_guard_install(void) {
    pthread_once(&once, install);
    return install_error;
}

void tabula_native_guard_enter(tabula_context *context, const void *code, size_t code_length) {
    code_low = (uintptr_t)code;
    code_high = (uintptr_t)code + code_length;
    guarded = context;
}

void tabula_native_guard_leave(void) {
    guarded = NULL;
}
