/* SPDX-License-Identifier: MIT */
/*
 * replay.c: a plain driver for fuzz targets, so 'make check' replays every
 * committed corpus file (and every crash once found) without libFuzzer.
 * Arguments are files or directories; with none, FUZZ_CORPUS_DIR is used.
 * Prints the closing line "N passed, 0 failed": a crash fails the test by
 * killing the process.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "macro.h"

static int run_file(const char *path, unsigned *count) {
        _cleanup_free_ uint8_t *data = NULL;
        FILE *f = fopen(path, "re");
        long size;

        if (!f)
                return -errno;
        if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                fclose(f);
                return -EIO;
        }
        data = malloc((size_t) size + 1);
        if (!data || fread(data, 1, (size_t) size, f) != (size_t) size) {
                fclose(f);
                return -EIO;
        }
        fclose(f);
        (void) LLVMFuzzerTestOneInput(data, (size_t) size);
        (*count)++;
        return 0;
}

static int run_path(const char *path, unsigned *count) {
        struct stat st;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return run_file(path, count);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char sub[4096];

                if (de->d_name[0] == '.')
                        continue;
                if ((size_t) snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub)) {
                        r = -ENAMETOOLONG;
                        break;
                }
                r = run_path(sub, count);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

int main(int argc, char *argv[]) {
        unsigned count = 0;

        for (int i = 1; i < argc || (i == 1 && argc == 1); i++) {
                const char *path = argc == 1 ? FUZZ_CORPUS_DIR : argv[i];
                int r = run_path(path, &count);

                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", path, strerror(-r));
                        printf("%u passed, 1 failed\n", count);
                        return EXIT_FAILURE;
                }
        }
        if (count == 0) {
                fprintf(stderr, "no corpus files found\n");
                printf("0 passed, 1 failed\n");
                return EXIT_FAILURE;
        }
        printf("%u passed, 0 failed\n", count);
        return EXIT_SUCCESS;
}
