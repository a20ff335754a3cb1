/* SPDX-License-Identifier: MIT */
/*
 * prioq.h: an intrusive binary min-heap, the priority queue behind the hook
 * scheduler's deadlines (docs/SCALING.md, "Nothing walks every mailbox").
 *
 * The owner embeds a PrioqItem in its own struct; the queue stores pointers
 * to items and keeps each item's index, so insert, remove, reposition and
 * pop are O(log n) and peek is O(1), however many items are queued.  Items
 * are ordered by key, and among equal keys by when they were first put
 * (first in, first out), so the order is deterministic for tests.
 *
 * The queue never owns the items; an item must be removed before it is
 * freed.  The array grows geometrically and is released when the queue
 * empties, so an idle daemon holds no heap array.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRIOQ_IDX_NONE SIZE_MAX

typedef struct PrioqItem {
        uint64_t key;
        uint64_t seq;           /* insertion order among equal keys */
        size_t idx;             /* position in the heap; PRIOQ_IDX_NONE when not queued */
} PrioqItem;

#define PRIOQ_ITEM_INIT ((PrioqItem) { .idx = PRIOQ_IDX_NONE })

typedef struct Prioq {
        PrioqItem **heap;
        size_t n, cap;
        uint64_t next_seq;
} Prioq;

#define PRIOQ_INIT ((Prioq) {})

static inline bool prioq_item_queued(const PrioqItem *it) {
        return it->idx != PRIOQ_IDX_NONE;
}

/* Queue 'it' with 'key', or move it to 'key' if it is queued already (it
 * keeps its place among equal keys).  Returns 0, or -ENOMEM (the queue and
 * the item are unchanged). */
int prioq_put(Prioq *q, PrioqItem *it, uint64_t key);
/* Take 'it' out; an item that is not queued is left alone. */
void prioq_remove(Prioq *q, PrioqItem *it);
/* The item with the smallest key, or NULL when empty. */
PrioqItem *prioq_peek(const Prioq *q);
/* Take out and return the item with the smallest key, or NULL. */
PrioqItem *prioq_pop(Prioq *q);
static inline size_t prioq_size(const Prioq *q) {
        return q->n;
}
/* Free the array; every queued item is marked as not queued. */
void prioq_done(Prioq *q);
