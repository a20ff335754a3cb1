/* SPDX-License-Identifier: MIT */
/*
 * hook-helper.c: a program test-hook runs as a hook.  It reports, on one
 * stdout line, what the hook machinery gave it:
 *   hook-helper fds     the open fds, e.g. "0 1 2" (its own directory fd left out)
 *   hook-helper stdin   "<bytes read until EOF> <FNV-1a 64 of them, hex> <what fd 0 is>"
 *   hook-helper sig     "blk=<SigBlk> ign=<SigIgn> leader=<1 if its own process group leader>"
 *   hook-helper env FILE [TAG]
 *                       appends one line to FILE (one write, O_APPEND): its IMAPIDLED_*
 *                       variables sorted, without the prefix, as KEY=value separated by tabs,
 *                       then "STDIN=<bytes>/<lines>" of what it read until EOF (test-watch)
 */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int list_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        const char *sep = "";
        struct dirent *de;

        if (!d)
                return EXIT_FAILURE;
        while ((de = readdir(d))) {
                char *end;
                long fd;

                if (de->d_name[0] == '.')
                        continue;
                errno = 0;
                fd = strtol(de->d_name, &end, 10);
                if (errno != 0 || *end || fd == dirfd(d))
                        continue;
                printf("%s%ld", sep, fd);
                sep = " ";
        }
        (void) closedir(d);
        printf("\n");
        return EXIT_SUCCESS;
}

static int read_stdin(void) {
        uint64_t hash = UINT64_C(14695981039346656037), total = 0;
        char buf[8192], what[256];
        ssize_t n, k;

        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return EXIT_FAILURE;
                }
                for (ssize_t i = 0; i < n; i++) {
                        hash ^= (unsigned char) buf[i];
                        hash *= UINT64_C(1099511628211);
                }
                total += (uint64_t) n;
        }
        k = readlink("/proc/self/fd/0", what, sizeof(what) - 1);
        what[k < 0 ? 0 : k] = 0;
        printf("%" PRIu64 " %016" PRIx64 " %s\n", total, hash, what);
        return EXIT_SUCCESS;
}

static int signals(void) {
        char line[256], blk[256] = "?", ign[256] = "?";
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return EXIT_FAILURE;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (strncmp(line, "SigBlk:\t", 8) == 0)
                        (void) snprintf(blk, sizeof(blk), "%s", line + 8);
                else if (strncmp(line, "SigIgn:\t", 8) == 0)
                        (void) snprintf(ign, sizeof(ign), "%s", line + 8);
        }
        (void) fclose(f);
        printf("blk=%s ign=%s leader=%d\n", blk, ign, getpgrp() == getpid());
        return EXIT_SUCCESS;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int env_to_file(const char *path) {
        char *vars[128], line[16384], buf[8192];
        size_t n = 0, len = 0;
        uint64_t bytes = 0, lines = 0;
        ssize_t k;
        int fd;

        for (char **e = environ; *e && n < 128; e++)
                if (strncmp(*e, "IMAPIDLED_", 10) == 0)
                        vars[n++] = *e + 10;
        qsort(vars, n, sizeof(vars[0]), cmp_str);
        while ((k = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return EXIT_FAILURE;
                }
                bytes += (uint64_t) k;
                for (ssize_t i = 0; i < k; i++)
                        lines += buf[i] == '\n';
        }
        for (size_t i = 0; i < n; i++) {
                int m = snprintf(line + len, sizeof(line) - len, "%s\t", vars[i]);

                if (m < 0 || (size_t) m >= sizeof(line) - len)
                        return EXIT_FAILURE;
                len += (size_t) m;
        }
        k = snprintf(line + len, sizeof(line) - len, "STDIN=%" PRIu64 "/%" PRIu64 "\n", bytes, lines);
        if (k < 0 || (size_t) k >= sizeof(line) - len)
                return EXIT_FAILURE;
        len += (size_t) k;
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return EXIT_FAILURE;
        k = write(fd, line, len);
        (void) close(fd);
        return k == (ssize_t) len ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char *argv[]) {
        if (argc >= 3 && argc <= 4 && strcmp(argv[1], "env") == 0)
                return env_to_file(argv[2]);
        if (argc == 2 && strcmp(argv[1], "fds") == 0)
                return list_fds();
        if (argc == 2 && strcmp(argv[1], "stdin") == 0)
                return read_stdin();
        if (argc == 2 && strcmp(argv[1], "sig") == 0)
                return signals();
        fprintf(stderr, "usage: %s fds|stdin|sig|env FILE [TAG]\n", argv[0]);
        return EXIT_FAILURE;
}
