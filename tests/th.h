/* SPDX-License-Identifier: MIT */
/*
 * th.h: small helpers shared by the Check test programs.
 */
#pragma once

#include <check.h>
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
