/* SPDX-License-Identifier: MIT */
/*
 * main.c: imapidled's entry point.  Parses the command line; the event loop,
 * accounts and hooks arrive with the daemon itself.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

static void help(FILE *f) {
        fprintf(f,
                "Usage: %s [OPTION]...\n"
                "Watch IMAP mailboxes with IDLE and run hook programs when mail arrives.\n"
                "\n"
                "  -h, --help      show this help and exit\n"
                "      --version   show the version and exit\n"
                "\n"
                "imapidled is a client: it is not Cyrus IMAP's server-side idled.\n",
                program_invocation_short_name);
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "help",    no_argument, NULL, 'h'         },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                default:
                        help(stderr);
                        return EXIT_FAILURE;
                }

        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", program_invocation_short_name, argv[optind]);
                return EXIT_FAILURE;
        }

        fprintf(stderr, "%s: the daemon is not built yet; only --help and --version work\n",
                program_invocation_short_name);
        return EXIT_FAILURE;
}
