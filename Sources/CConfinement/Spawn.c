#define _GNU_SOURCE
#include "Confinement.h"

#include <errno.h>

#if defined(__linux__)

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

int tabula_spawn_worker(const char *path, char *const argv[], char *const envp[], int child_fd, int memory_fd, pid_t *pid) {
    // dup2 onto the same number would leave close-on-exec set, and a dup2 onto 3 or 4 must not
    // clobber the other source: move any source below 5 out of the way.
    int source = child_fd;
    int moved = -1;
    if (source <= 4) {
        moved = fcntl(source, F_DUPFD_CLOEXEC, 5);
        if (moved < 0) return errno;
        source = moved;
    }
    int memory = memory_fd;
    int moved_memory = -1;
    if (memory >= 0 && memory <= 4) {
        moved_memory = fcntl(memory, F_DUPFD_CLOEXEC, 5);
        if (moved_memory < 0) {
            int error = errno;
            if (moved >= 0) close(moved);
            return error;
        }
        memory = moved_memory;
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int error = posix_spawn_file_actions_init(&actions);
    if (error != 0) goto closed;
    error = posix_spawnattr_init(&attributes);
    if (error != 0) goto actions;
    if ((error = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)) != 0) goto all;
    if ((error = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)) != 0) goto all;
    if ((error = posix_spawn_file_actions_adddup2(&actions, source, 3)) != 0) goto all;
    if (memory >= 0 && (error = posix_spawn_file_actions_adddup2(&actions, memory, 4)) != 0) goto all;
    // Nothing else crosses, even a descriptor someone forgot to mark close-on-exec.
    if ((error = posix_spawn_file_actions_addclosefrom_np(&actions, memory >= 0 ? 5 : 4)) != 0) goto all;
    sigset_t all_signals, no_signals;
    sigfillset(&all_signals);
    sigemptyset(&no_signals);
    if ((error = posix_spawnattr_setsigdefault(&attributes, &all_signals)) != 0) goto all;
    if ((error = posix_spawnattr_setsigmask(&attributes, &no_signals)) != 0) goto all;
    if ((error = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) != 0) goto all;
    error = posix_spawn(pid, path, &actions, &attributes, argv, envp);
all:
    posix_spawnattr_destroy(&attributes);
actions:
    posix_spawn_file_actions_destroy(&actions);
closed:
    if (moved >= 0) close(moved);
    if (moved_memory >= 0) close(moved_memory);
    return error;
}

#else

int tabula_spawn_worker(const char *path, char *const argv[], char *const envp[], int child_fd, int memory_fd, pid_t *pid) {
    (void)path; (void)argv; (void)envp; (void)child_fd; (void)memory_fd; (void)pid;
    return ENOSYS;
}

#endif
