/* SPDX-License-Identifier: MIT */
/*
 * th.h: small helpers shared by the Check test programs.
 */
#pragma once

#include <check.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Run one suite with Automake's conventions: exit 0 on success, 1 on failure. */
static inline int th_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A tiny deterministic PRNG (xorshift64*), so "random" split points are the
 * same on every run and a failure can be reproduced. */
static inline uint64_t th_rand(uint64_t *state) {
        uint64_t x = *state;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * UINT64_C(2685821657736338717);
}

/* Bytes of heap in use as glibc's malloc counts them (chunk headers and rounding included). */
static inline size_t th_heap_in_use(void) {
        return mallinfo2().uordblks;
}

/* Whether th_heap_in_use() sees this process's allocations: not when another allocator
 * replaced glibc's (AddressSanitizer, valgrind).  A test then skips its heap checks and says
 * so. */
static inline bool th_heap_counted(void) {
        size_t before = th_heap_in_use();
        void *p = malloc(4096);
        bool counted;

        /* Keep the compiler from pairing up malloc() and free() and dropping both. */
        __asm__ volatile("" : : "r"(p) : "memory");
        counted = p && th_heap_in_use() >= before + 4096;
        free(p);
        return counted;
}
