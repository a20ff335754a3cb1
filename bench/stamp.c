/* SPDX-License-Identifier: MIT */
/*
 * stamp.c: the hook of the benchmarks (bench/scale.sh, bench/peer.sh,
 * bench/hotpath.sh).  Started as a hook, it reads both clocks first thing in
 * main(), then appends one line to FILE and exits:
 *
 *     <CLOCK_REALTIME ns> <CLOCK_MONOTONIC ns> <pid> <id>
 *
 * id is the second argument if there is one (the imapflow watcher passes the
 * mailbox's name), else $IMAPIDLED_ACCOUNT (imapidled's hooks get it), else
 * "-".  The line is one write(2) to a file opened with O_APPEND, so lines of
 * hooks running at the same time do not mix.
 *
 *     stamp FILE [ID]
 *
 * Built on demand (make bench/stamp), statically linked: exec'ing a static
 * binary skips the dynamic loader, which bench/hotpath.sh measured as the
 * larger part of the exec cost (see docs/PERFORMANCE.md).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct timespec rt, mono;
        const char *id;
        char line[512];
        int fd, n;

        (void) clock_gettime(CLOCK_MONOTONIC, &mono);
        (void) clock_gettime(CLOCK_REALTIME, &rt);
        if (argc < 2 || argc > 3)
                return 2;
        id = argc == 3 ? argv[2] : getenv("IMAPIDLED_ACCOUNT");
        if (!id || !id[0])
                id = "-";
        n = snprintf(line, sizeof(line), "%lld%09ld %lld%09ld %ld %.400s\n", (long long) rt.tv_sec, rt.tv_nsec,
                     (long long) mono.tv_sec, mono.tv_nsec, (long) getpid(), id);
        if (n < 0 || (size_t) n >= sizeof(line))
                return 1;
        fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return 1;
        if (write(fd, line, (size_t) n) != n)
                return 1;
        return close(fd) < 0;
}
