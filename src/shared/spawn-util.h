/* SPDX-License-Identifier: MIT */
/*
 * spawn-util.h: start a child program with a clean slate, the one way both
 * tunnels (src/net) and hooks (src/daemon) do it: posix_spawnp() (no shell),
 * the given descriptors as stdin/stdout/stderr and nothing else (closefrom
 * catches descriptors opened without O_CLOEXEC; docs/SECURITY.md M06), an empty
 * signal mask and default dispositions (the daemon blocks and ignores
 * signals for sd-event), and optionally a process group of its own so a
 * timeout can reach a shell's children (M07).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* child_fds[i] < 0 leaves fd i as the parent has it.  Exec failures
 * (ENOENT, EACCES ...) come back from here, as -errno; 0 and *ret_pid on
 * success.  A name without '/' is searched in PATH. */
int spawn_clean(char *const argv[], char *const envp[], const int child_fds[3], bool new_process_group,
                pid_t *ret_pid);
