/* SPDX-License-Identifier: MIT */
/* prioq.c: an intrusive binary min-heap; see prioq.h. */
#include <errno.h>
#include <stdlib.h>

#include "prioq.h"

static bool before(const PrioqItem *a, const PrioqItem *b) {
        return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void place(Prioq *q, size_t i, PrioqItem *it) {
        q->heap[i] = it;
        it->idx = i;
}

static void sift_up(Prioq *q, size_t i) {
        PrioqItem *it = q->heap[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (!before(it, q->heap[parent]))
                        break;
                place(q, i, q->heap[parent]);
                i = parent;
        }
        place(q, i, it);
}

static void sift_down(Prioq *q, size_t i) {
        PrioqItem *it = q->heap[i];

        for (;;) {
                size_t l = 2 * i + 1, best = i;
                PrioqItem *b = it;

                if (l < q->n && before(q->heap[l], b)) {
                        best = l;
                        b = q->heap[l];
                }
                if (l + 1 < q->n && before(q->heap[l + 1], b)) {
                        best = l + 1;
                        b = q->heap[l + 1];
                }
                if (best == i)
                        break;
                place(q, i, b);
                i = best;
        }
        place(q, i, it);
}

int prioq_put(Prioq *q, PrioqItem *it, uint64_t key) {
        if (prioq_item_queued(it)) {
                uint64_t old = it->key;

                it->key = key;
                if (key < old)
                        sift_up(q, it->idx);
                else if (key > old)
                        sift_down(q, it->idx);
                return 0;
        }
        if (q->n == q->cap) {
                size_t ncap = q->cap ? q->cap * 2 : 8;
                PrioqItem **h = reallocarray(q->heap, ncap, sizeof(PrioqItem *));

                if (!h)
                        return -ENOMEM;
                q->heap = h;
                q->cap = ncap;
        }
        it->key = key;
        it->seq = q->next_seq++;
        q->heap[q->n] = it;
        it->idx = q->n++;
        sift_up(q, it->idx);
        return 0;
}

void prioq_remove(Prioq *q, PrioqItem *it) {
        size_t i = it->idx;
        PrioqItem *last;

        if (!prioq_item_queued(it) || i >= q->n || q->heap[i] != it)
                return;
        it->idx = PRIOQ_IDX_NONE;
        last = q->heap[--q->n];
        if (i < q->n) {
                place(q, i, last);
                if (i > 0 && before(last, q->heap[(i - 1) / 2]))
                        sift_up(q, i);
                else
                        sift_down(q, i);
        }
        if (q->n == 0) {
                /* An idle daemon keeps no array. */
                free(q->heap);
                q->heap = NULL;
                q->cap = 0;
        }
}

PrioqItem *prioq_peek(const Prioq *q) {
        return q->n > 0 ? q->heap[0] : NULL;
}

PrioqItem *prioq_pop(Prioq *q) {
        PrioqItem *it = prioq_peek(q);

        if (it)
                prioq_remove(q, it);
        return it;
}

void prioq_done(Prioq *q) {
        for (size_t i = 0; i < q->n; i++)
                q->heap[i]->idx = PRIOQ_IDX_NONE;
        free(q->heap);
        *q = PRIOQ_INIT;
}
