/* SPDX-License-Identifier: MIT */
/*
 * time-util.h: the time type every layer passes around.  Layers below the
 * daemon never read a clock: time comes in as an argument (docs/HACKING.md
 * B6), so the engine can be tested without waiting.
 */
#pragma once

#include <stdint.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_MSEC ((usec_t) 1000)
#define USEC_PER_SEC ((usec_t) 1000000)

/* a + b, saturating at USEC_INFINITY. */
static inline usec_t usec_add(usec_t a, usec_t b) {
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}
