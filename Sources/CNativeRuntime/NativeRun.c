// Running native code: the trap jumps back here, and the stack limit is set per thread.
#define _GNU_SOURCE
#include "NativeRuntime.h"

#include <pthread.h>
#include <setjmp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/// The run in progress on this thread: where a trap returns to.
static __thread jmp_buf *current_jump;

static void trap(tabula_context *context, int32_t code) __attribute__((noreturn));
static void trap(tabula_context *context, int32_t code) {
    (void)context;
    longjmp(*current_jump, code == 0 ? TABULA_TRAP_UNREACHABLE : code);
}

/// The lowest address this thread's stack may use, with a margin for the host calls made from
/// native frames (the Swift runtime and the WASI host run on the same stack).
static uintptr_t stack_floor(uintptr_t here) {
    const uintptr_t margin = 256 << 10;
    if (getpid() != (pid_t)syscall(SYS_gettid)) {
        pthread_attr_t attributes;
        void *low;
        size_t size;
        // For a thread other than the main one glibc answers from its own records, no system call.
        if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
            int found = pthread_attr_getstack(&attributes, &low, &size) == 0;
            pthread_attr_destroy(&attributes);
            if (found) return (uintptr_t)low + margin;
        }
    }
    struct rlimit limit;
    uintptr_t size = 8 << 20;
    if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < size) size = (uintptr_t)limit.rlim_cur;
    // The main thread's stack started above `here`; assume it already used up to 1 MiB of it.
    uintptr_t available = size > (1 << 20) + margin ? size - (1 << 20) - margin : 0;
    return here - available;
}

/// Runs `instantiate` (index UINT32_MAX), `invoke(index)` or, with `arguments`, `call(index)`
/// (its return value in `*called`).
static int32_t run(const tabula_native_module *module, tabula_context *context, uint32_t index, const uint64_t *arguments, uint32_t argument_count, size_t stack_budget, uint64_t *results, uint32_t result_capacity, int32_t *called) {
    jmp_buf jump;
    jmp_buf *outer = current_jump;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    uintptr_t floor = stack_floor(here);
    uintptr_t limit = here > stack_budget ? here - stack_budget : 0;
    context->stack_limit = limit > floor ? limit : floor;
    context->trap = trap;
    context->detail_a = 0;
    context->detail_b = 0;
    current_jump = &jump;
    int32_t code = setjmp(jump);
    if (code == 0) {
        if (arguments) {
            *called = module->call(context, index, arguments, argument_count, results, result_capacity);
        } else if (index == UINT32_MAX) {
            module->instantiate(context);
            *results = 0;
        } else {
            *results = module->invoke(context, index);
        }
    }
    current_jump = outer;
    return code;
}

int32_t tabula_native_run(const tabula_native_module *module, tabula_context *context, uint32_t index, size_t stack_budget, uint64_t *result) {
    return run(module, context, index, 0, 0, stack_budget, result, 1, 0);
}

int32_t tabula_native_call(const tabula_native_module *module, tabula_context *context, uint32_t index, const uint64_t *arguments, uint32_t argument_count, size_t stack_budget, uint64_t *results, uint32_t result_capacity, int32_t *called) {
    static const uint64_t none[1] = {0};
    *called = -1;
    return run(module, context, index, arguments ? arguments : none, argument_count, stack_budget, results, result_capacity, called);
}
