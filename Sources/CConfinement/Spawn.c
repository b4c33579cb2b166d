#define _GNU_SOURCE
#include "Confinement.h"

#include <errno.h>

#if defined(__linux__)

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

int tabula_spawn_worker(const char *path, char *const argv[], char *const envp[], int child_fd, pid_t *pid) {
    // dup2 onto the same number would leave close-on-exec set: move the descriptor out of the way.
    int source = child_fd;
    int moved = -1;
    if (source == 3) {
        moved = fcntl(source, F_DUPFD_CLOEXEC, 4);
        if (moved < 0) return errno;
        source = moved;
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
    // Nothing else crosses, even a descriptor someone forgot to mark close-on-exec.
    if ((error = posix_spawn_file_actions_addclosefrom_np(&actions, 4)) != 0) goto all;
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
    return error;
}

#else

int tabula_spawn_worker(const char *path, char *const argv[], char *const envp[], int child_fd, pid_t *pid) {
    (void)path; (void)argv; (void)envp; (void)child_fd; (void)pid;
    return ENOSYS;
}

#endif
