/* SPDX-License-Identifier: MIT */
/*
 * faultproxy-main.c: tests/faultproxy, the fault-injecting proxy of
 * faultproxy.h for shell tests.  "faultproxy UPSTREAM_PORT" prints the
 * listening port on stdout, then reads one command per line on stdin and
 * prints one answer line per command (docs/TESTING.md has the protocol).  It
 * exits 0 at the end of stdin, stopping the proxy; killed, it takes the
 * proxy with it (the proxy child has PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultproxy.h"

int main(int argc, char *argv[]) {
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned long port;
        ssize_t n;
        char *end;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s UPSTREAM_PORT\n", argv[0]);
                return 2;
        }
        errno = 0;
        port = strtoul(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || port == 0 || port > 65535 || argv[1][0] == '-') {
                fprintf(stderr, "%s: bad port '%s'\n", argv[0], argv[1]);
                return 2;
        }
        r = th_proxy_start((uint16_t) port, &p);
        if (r < 0) {
                fprintf(stderr, "%s: cannot start the proxy: %s\n", argv[0], strerror(-r));
                return 1;
        }
        printf("%u\n", (unsigned) th_proxy_port(p));
        (void) fflush(stdout);

        while ((n = getline(&line, &cap, stdin)) >= 0) {
                char reply[TH_PROXY_LINE_MAX];

                if (n > 0 && line[n - 1] == '\n')
                        line[--n] = '\0';
                r = th_proxy_command(p, line, reply, sizeof(reply));
                if (r < 0 && r != -EINVAL) {
                        /* The proxy itself failed: say so and give up. */
                        printf("error proxy: %s\n", strerror(-r));
                        return 1;
                }
                printf("%s\n", reply);
                (void) fflush(stdout);
        }
        return 0;
}
