#define _GNU_SOURCE
#include "Confinement.h"

#include <errno.h>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define TABULA_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define TABULA_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

// The ioctl requests the page tracker makes on its userfaultfd and /proc/self/pagemap descriptors
// (opened before the filter): the kernel's ABI values, as in PageTracker (UserfaultTracker.c).
#define TABULA_UFFDIO_REGISTER 0xc020aa00u
#define TABULA_UFFDIO_UNREGISTER 0x8010aa01u
#define TABULA_UFFDIO_WRITEPROTECT 0xc018aa06u
#define TABULA_PAGEMAP_SCAN 0xc0606610u

int tabula_confine_descriptors(int keep_fd) {
    // The parent's spawn already passes nothing but 0-3; this closes whatever else is open by the
    // time the worker's code runs, except the event machinery the Swift runtime's Dispatch has
    // already created (an epoll instance, eventfds, timerfds: closing them would leave Dispatch
    // writing to whatever descriptor reuses their numbers). Files, sockets, pipes, directories and
    // every other kind of descriptor are closed.
    DIR *directory = opendir("/proc/self/fd");
    if (directory == NULL) return errno;
    int own = dirfd(directory);
    int error = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        int fd = atoi(entry->d_name);
        if (fd <= 2 || fd == keep_fd || fd == own) continue;
        char path[64], target[128];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t length = readlink(path, target, sizeof target - 1);
        if (length > 0) {
            target[length] = 0;
            if (strcmp(target, "anon_inode:[eventpoll]") == 0 || strcmp(target, "anon_inode:[eventfd]") == 0
                || strcmp(target, "anon_inode:[timerfd]") == 0) continue;
        }
        if (close(fd) != 0 && error == 0) error = errno;
    }
    closedir(directory);
    return error;
}

/// The system calls a worker may make with any arguments. Why each is needed is in
/// docs/isolation.md; everything else kills the process.
static const int allowed[] = {
    // The channel, stderr, and Dispatch's eventfd (descriptors already open).
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_close,
    // Memory: the Swift runtime, malloc, WasmKit's linear memories and their guard reservations,
    // the page tracker's write protection.
    SYS_mmap, SYS_munmap, SYS_mprotect, SYS_madvise, SYS_mremap, SYS_brk,
    // Threads and their synchronisation (Dispatch, Swift concurrency, the deadline timer).
    SYS_futex, SYS_set_robust_list, SYS_rseq, SYS_sched_yield, SYS_sched_getaffinity, SYS_gettid,
    SYS_getpid, SYS_membarrier,
    // Whether the server is still there: a worker sleeping on the shared channel's futex checks
    // it now and then, and exits once it has been re-parented.
    SYS_getppid,
    // Time: the deadline and run durations (normally answered by the vDSO without a system call).
    SYS_clock_gettime, SYS_clock_getres, SYS_clock_nanosleep, SYS_nanosleep, SYS_gettimeofday,
    // Dispatch's timer machinery, created before the filter.
    SYS_epoll_pwait, SYS_epoll_ctl, SYS_timerfd_settime, SYS_timerfd_gettime,
#ifdef SYS_epoll_wait
    SYS_epoll_wait,
#endif
#ifdef SYS_epoll_pwait2
    SYS_epoll_pwait2,
#endif
    // Signals: WasmKit's trap guard and the page tracker's write-fault handler.
    SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack, SYS_restart_syscall,
    // random_get.
    SYS_getrandom,
    // Ending.
    SYS_exit, SYS_exit_group,
    // Thread names (Dispatch names its threads) and reading limits; prctl cannot lift the filter
    // or no_new_privs.
    SYS_prctl, SYS_prlimit64, SYS_getrlimit,
#ifdef SYS_newfstatat
    SYS_newfstatat,
#endif
    SYS_fstat, SYS_lseek,
};

int tabula_confine(int channel_fd, uint64_t memory_limit) {
    (void)channel_fd;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);

    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) return errno;
    // No file may grow (the worker writes only to a socket and to inherited stderr).
    if (setrlimit(RLIMIT_FSIZE, &none) != 0) return errno;
    struct rlimit files = {64, 64};
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) return errno;
    if (memory_limit > 0) {
        // RLIMIT_DATA, not RLIMIT_AS: WasmKit reserves 4 GiB and a guard of address space per
        // linear memory (PROT_NONE, committed as it grows), which RLIMIT_AS would count; RLIMIT_DATA
        // counts the private writable memory actually committed, which is what a limit is for.
        struct rlimit data = {memory_limit, memory_limit};
        if (setrlimit(RLIMIT_DATA, &data) != 0) return errno;
    }

    // glibc opens /proc/sys/vm/overcommit_memory the first time it shrinks a thread arena's heap
    // (after a big reply is freed, say), which the filter would kill. A trim threshold above the
    // largest such heap (64 MiB) means it never shrinks one (a wholly free heap is still unmapped).
    // Setting it also freezes glibc's mmap threshold, which would then stay at 128 KiB and map and
    // unmap the 1 MiB output buffer of every run (an munmap with a TLB shootdown per invocation):
    // allocations up to 32 MiB (the most it allows) come from the heap instead.
    if (mallopt(M_TRIM_THRESHOLD, 128 << 20) != 1) return ENOMEM;
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1) return ENOMEM;
    // A thread's first allocation may create a malloc arena, and glibc sizes the arena limit from
    // the number of processors, read from /sys the first time (an openat the filter kills: seen
    // when Dispatch started a thread under load). A fixed limit means it never reads it.
    if (mallopt(M_ARENA_MAX, 8) != 1) return ENOMEM;

    pid_t self = getpid();
    enum { capacity = 160 };
    struct sock_filter program[capacity];
    int count = 0;
#define EMIT(instruction) do { if (count >= capacity) return E2BIG; program[count++] = (struct sock_filter)instruction; } while (0)
#define KILL BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    // A system call of another architecture (i386 through int 0x80, or x32) has other numbers:
    // kill it before any number is compared.
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TABULA_AUDIT_ARCH, 1, 0));
    EMIT(KILL);
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
    EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
    EMIT(KILL);
#endif
    for (size_t index = 0; index < sizeof allowed / sizeof allowed[0]; index++) {
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)allowed[index], 0, 1));
        EMIT(ALLOW);
    }
    // clone only for threads: CLONE_THREAD (which implies a shared address space, signal handlers
    // and filter); a new process is killed. The flags are the first argument on both
    // architectures.
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4));
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1));
    EMIT(ALLOW);
    EMIT(KILL);
    // clone3 passes its flags in memory, which a filter cannot read: it fails with ENOSYS, and
    // glibc's pthread_create falls back to clone, checked above.
#ifdef SYS_clone3
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1));
    EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
#endif
    // ioctl only with the page tracker's requests (the kernel reads the request as 32 bits).
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 7));
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TABULA_UFFDIO_REGISTER, 4, 0));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TABULA_UFFDIO_UNREGISTER, 3, 0));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TABULA_UFFDIO_WRITEPROTECT, 2, 0));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TABULA_PAGEMAP_SCAN, 1, 0));
    EMIT(KILL);
    EMIT(ALLOW);
    // setpriority only on the caller itself (who == 0): Dispatch sets each new worker thread's
    // priority as it starts it (lowering another process's would need privileges anyway).
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setpriority, 0, 4));
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1));
    EMIT(ALLOW);
    EMIT(KILL);
    // Signals only to this process's own threads (abort() raises SIGABRT with tgkill).
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_tgkill, 0, 4));
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)self, 0, 1));
    EMIT(ALLOW);
    EMIT(KILL);
    // Everything else.
    EMIT(KILL);
#undef EMIT
#undef KILL
#undef ALLOW
    struct sock_fprog filter = {.len = (unsigned short)count, .filter = program};
    // TSYNC: every thread already running (Dispatch's) gets the filter too.
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &filter) != 0) return errno;
    return 0;
}

int tabula_confinement_check(const char *name) {
    long result;
    if (strcmp(name, "getpid") == 0) result = syscall(SYS_getpid);
    else if (strcmp(name, "socket") == 0) result = syscall(SYS_socket, 1 /* AF_UNIX */, 1 /* SOCK_STREAM */, 0);
    else if (strcmp(name, "connect") == 0) result = syscall(SYS_connect, -1, NULL, 0);
    else if (strcmp(name, "bind") == 0) result = syscall(SYS_bind, -1, NULL, 0);
    else if (strcmp(name, "accept") == 0) result = syscall(SYS_accept4, -1, NULL, NULL, 0);
    else if (strcmp(name, "openat") == 0) result = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
#ifdef SYS_open
    else if (strcmp(name, "open") == 0) result = syscall(SYS_open, "/etc/hostname", O_RDONLY);
#endif
#ifdef SYS_creat
    else if (strcmp(name, "creat") == 0) result = syscall(SYS_creat, "/tmp/tabula-confinement-check", 0600);
#endif
    else if (strcmp(name, "execve") == 0) {
        char *const argv[] = {"/bin/true", NULL};
        result = syscall(SYS_execve, "/bin/true", argv, NULL);
    }
    else if (strcmp(name, "execveat") == 0) result = syscall(SYS_execveat, AT_FDCWD, "/bin/true", NULL, NULL, 0);
    else if (strcmp(name, "ptrace") == 0) result = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
#ifdef SYS_fork
    else if (strcmp(name, "fork") == 0) result = syscall(SYS_fork);
#endif
#ifdef SYS_vfork
    else if (strcmp(name, "vfork") == 0) result = syscall(SYS_getpid) < 0 ? -1 : syscall(SYS_vfork);
#endif
    // A new process by clone (SIGCHLD, no CLONE_THREAD): what fork is on aarch64.
    else if (strcmp(name, "clone") == 0) result = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    else if (strcmp(name, "kill") == 0) result = syscall(SYS_kill, 1, 0);
    else if (strcmp(name, "tgkill") == 0) result = syscall(SYS_tgkill, 1, 1, 0);
    else if (strcmp(name, "mount") == 0) result = syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL);
    else if (strcmp(name, "bpf") == 0) result = syscall(SYS_bpf, 0, NULL, 0);
    else if (strcmp(name, "process_vm_readv") == 0) result = syscall(SYS_process_vm_readv, 1, NULL, 0, NULL, 0, 0);
    else if (strcmp(name, "setuid") == 0) result = syscall(SYS_setuid, 0);
    else if (strcmp(name, "userfaultfd") == 0) result = syscall(SYS_userfaultfd, 0);
    else if (strcmp(name, "ioctl") == 0) result = syscall(SYS_ioctl, 0, 0x5401 /* TCGETS */, NULL);
    else return -1;
    (void)result;
    return 0;
}

#else

int tabula_confine_descriptors(int keep_fd) { (void)keep_fd; return ENOSYS; }
int tabula_confine(int channel_fd, uint64_t memory_limit) { (void)channel_fd; (void)memory_limit; return ENOSYS; }
int tabula_confinement_check(const char *name) { (void)name; return -1; }

#endif
