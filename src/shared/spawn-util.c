/* SPDX-License-Identifier: MIT */
/* spawn-util.c: see spawn-util.h. */
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include "spawn-util.h"

int spawn_clean(char *const argv[], char *const envp[], const int child_fds[3], bool new_process_group,
                pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        int r;

        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                (void) posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        (void) sigemptyset(&none);
        (void) sigfillset(&all);
        (void) sigdelset(&all, SIGKILL);
        (void) sigdelset(&all, SIGSTOP);
        if (new_process_group)
                flags |= POSIX_SPAWN_SETPGROUP;

        /* dup2() clears FD_CLOEXEC on the copies; closefrom drops everything else. */
        for (int i = 0; i < 3 && r == 0; i++)
                if (child_fds[i] >= 0)
                        r = posix_spawn_file_actions_adddup2(&fa, child_fds[i], i);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        if (r == 0 && new_process_group)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, flags);
        /* glibc reports exec failures from posix_spawnp() itself. */
        if (r == 0)
                r = posix_spawnp(ret_pid, argv[0], &fa, &attr, argv, envp);

        (void) posix_spawnattr_destroy(&attr);
        (void) posix_spawn_file_actions_destroy(&fa);
        return -r;
}
