/* SPDX-License-Identifier: MIT */
/*
 * sd-listen.c: the receiving end of sd_notify(3) for the benchmarks.  It binds
 * a datagram socket at PATH (give that to the daemon as $NOTIFY_SOCKET) and
 * prints every message as one line, its newlines turned into spaces, after
 * the CLOCK_REALTIME in nanoseconds at which it was read:
 *
 *     sd-listen PATH
 *     1764870000123456789 READY=1 STATUS=1000/1000 mailboxes idling
 *
 * Output is flushed after every line.  It runs until killed (SIGTERM: it
 * removes PATH first) or until the socket fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *path;

static void on_term(int sig) {
        (void) unlink(path);
        _exit(sig == SIGTERM ? 0 : 1);
}

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char msg[4096];
        int fd;

        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: sd-listen PATH (at most %zu bytes)\n", sizeof(sa.sun_path) - 1);
                return 2;
        }
        path = argv[1];
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "sd-listen: %s: %m\n", path);
                return 1;
        }
        (void) signal(SIGTERM, on_term);
        (void) signal(SIGINT, on_term);
        for (;;) {
                ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
                struct timespec ts;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "sd-listen: recv: %m\n");
                        (void) unlink(path);
                        return 1;
                }
                (void) clock_gettime(CLOCK_REALTIME, &ts);
                while (n > 0 && msg[n - 1] == '\n')
                        n--;
                for (ssize_t i = 0; i < n; i++)
                        if (msg[i] == '\n' || msg[i] == 0)
                                msg[i] = ' ';
                msg[n] = 0;
                printf("%lld%09ld %s\n", (long long) ts.tv_sec, ts.tv_nsec, msg);
                fflush(stdout);
        }
}
