#ifndef TABULA_CONFINEMENT_H
#define TABULA_CONFINEMENT_H

#include <stdint.h>
#include <sys/types.h>

/// The confinement of a worker process (`tabula worker`), which runs tenant code: see
/// docs/isolation.md for what it allows and why.
///
/// A worker calls, in this order: `tabula_confine_descriptors` first thing (nothing inherited
/// survives but the standard streams and its channel), then whatever must open descriptors or
/// start machinery while it still may (the page tracker's userfaultfd and pagemap, Dispatch's
/// timer thread), then `tabula_confine` before it reads any request. Linux only; elsewhere every
/// function returns ENOSYS.

/// Closes every descriptor except 0, 1, 2, `keep_fd` and the event descriptors (epoll, eventfd,
/// timerfd) the Swift runtime's Dispatch created before the worker's code ran. Returns 0, or an errno.
int tabula_confine_descriptors(int keep_fd);

/// Confines the calling process for good: no new privileges, no core dumps, few descriptors,
/// `memory_limit` bytes of writable private memory at most (RLIMIT_DATA; 0 for no limit), and a
/// seccomp-bpf filter, on every thread, that lets through only the system calls a worker needs
/// and kills the whole process (SIGSYS) at any other. `channel_fd` is the one descriptor the
/// worker may read and write besides 0-2 and those it opened before. Returns 0, or an errno (then
/// the worker must not go on).
int tabula_confine(int channel_fd, uint64_t memory_limit);

/// For tests: makes the system call `name` (socket, connect, openat, open, creat, execve, ptrace,
/// fork, vfork, clone, kill, mount, bpf, process_vm_readv, setuid, getpid, ...) with harmless
/// arguments, so that a confined process shows it is killed. Returns 0 when the call returned (its
/// result is ignored), -1 for a name it does not know.
int tabula_confinement_check(const char *name);

/// Starts `path` with `argv` and `envp` by posix_spawn (never fork: a forked child would hold a
/// copy of the parent's memory, keys included), with `child_fd` as its descriptor 3, `memory_fd`
/// (when not -1) as its descriptor 4, /dev/null as stdin and stdout, stderr inherited, nothing
/// else inherited, every signal at its default and none blocked. Returns 0 and sets `*pid`, or an
/// errno.
int tabula_spawn_worker(const char *path, char *const argv[], char *const envp[], int child_fd, int memory_fd, pid_t *pid);

// MARK: The shared-memory channel (see SharedChannel.swift)

/// A new anonymous shared-memory file of `size` bytes (memfd_create, close-on-exec): the region
/// the server and one worker share. Returns its descriptor, or a negated errno.
int tabula_channel_memory(uint64_t size);

/// Sleeps while `*word` equals `expected`, at most `timeout_ns` nanoseconds (no bound when
/// negative): FUTEX_WAIT on a word shared between processes. Returns 0 when woken (or spuriously),
/// EAGAIN when the word already differed, ETIMEDOUT, EINTR, or another errno.
int tabula_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);

/// Wakes one process sleeping on `*word` (FUTEX_WAKE). Returns 0 or an errno.
int tabula_futex_wake(uint32_t *word);

/// Reads a shared word once, with acquire ordering: what was written before the matching release
/// store is visible after it.
static inline uint32_t tabula_word_load(const uint32_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }

/// Writes a shared word with release ordering: everything written before it is visible to the
/// side that loads it.
static inline void tabula_word_store(uint32_t *word, uint32_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }

/// Sequentially consistent store and load, for the "sleeping" flags beside the futex words: a
/// waiter stores its flag then loads the number, the waker stores the number then loads the flag,
/// and one of them sees the other's store (so a wake-up is skipped only when nobody sleeps).
static inline void tabula_word_store_ordered(uint32_t *word, uint32_t value) { __atomic_store_n(word, value, __ATOMIC_SEQ_CST); }
static inline uint32_t tabula_word_load_ordered(const uint32_t *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

#endif
