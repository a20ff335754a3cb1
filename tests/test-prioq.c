/* SPDX-License-Identifier: MIT */
/* test-prioq.c: the intrusive min-heap: order, FIFO among equal keys, moves, removal, and a
 * long random run checked against a plain sorted reference. */
#include <errno.h>
#include <stdlib.h>

#include "prioq.h"
#include "th.h"

typedef struct Item {
        PrioqItem pi;
        unsigned id;
} Item;

#define ITEM(p) ((Item *) (void *) (p))

START_TEST(test_order_and_fifo) {
        Prioq q = PRIOQ_INIT;
        Item it[6];
        const uint64_t keys[6] = { 30, 10, 20, 10, 5, 20 };
        const unsigned want[6] = { 4, 1, 3, 2, 5, 0 };

        for (unsigned i = 0; i < 6; i++) {
                it[i] = (Item) { PRIOQ_ITEM_INIT, i };
                ck_assert(!prioq_item_queued(&it[i].pi));
                ck_assert_int_eq(prioq_put(&q, &it[i].pi, keys[i]), 0);
                ck_assert(prioq_item_queued(&it[i].pi));
        }
        ck_assert_uint_eq(prioq_size(&q), 6);
        ck_assert_uint_eq(ITEM(prioq_peek(&q))->id, 4);
        for (unsigned i = 0; i < 6; i++) {
                Item *x = ITEM(prioq_pop(&q));

                ck_assert_ptr_nonnull(x);
                ck_assert_uint_eq(x->id, want[i]);      /* equal keys come out in insertion order */
                ck_assert(!prioq_item_queued(&x->pi));
        }
        ck_assert_ptr_null(prioq_pop(&q));
        ck_assert_ptr_null(q.heap);                     /* an empty queue holds no array */
        prioq_done(&q);
}
END_TEST

START_TEST(test_move_and_remove) {
        Prioq q = PRIOQ_INIT;
        Item a = { PRIOQ_ITEM_INIT, 0 }, b = { PRIOQ_ITEM_INIT, 1 }, c = { PRIOQ_ITEM_INIT, 2 };

        ck_assert_int_eq(prioq_put(&q, &a.pi, 10), 0);
        ck_assert_int_eq(prioq_put(&q, &b.pi, 20), 0);
        ck_assert_int_eq(prioq_put(&q, &c.pi, 30), 0);
        ck_assert_int_eq(prioq_put(&q, &c.pi, 1), 0);   /* earlier: to the front */
        ck_assert_ptr_eq(prioq_peek(&q), &c.pi);
        ck_assert_uint_eq(prioq_size(&q), 3);
        ck_assert_int_eq(prioq_put(&q, &c.pi, 100), 0); /* later: to the back */
        ck_assert_ptr_eq(prioq_peek(&q), &a.pi);
        prioq_remove(&q, &a.pi);
        ck_assert(!prioq_item_queued(&a.pi));
        prioq_remove(&q, &a.pi);                        /* not queued: nothing happens */
        ck_assert_uint_eq(prioq_size(&q), 2);
        ck_assert_ptr_eq(prioq_pop(&q), &b.pi);
        ck_assert_ptr_eq(prioq_pop(&q), &c.pi);
        ck_assert_int_eq(prioq_put(&q, &a.pi, 7), 0);
        prioq_done(&q);
        ck_assert(!prioq_item_queued(&a.pi));
        ck_assert_uint_eq(prioq_size(&q), 0);
}
END_TEST

/* Random puts, moves, removals and pops; every pop must be the smallest (key, first put) of the
 * reference set. */
START_TEST(test_random_against_reference) {
        enum { N = 300 };
        static Item it[N];
        Prioq q = PRIOQ_INIT;
        uint64_t rs = 42, seq = 0, order[N];
        bool in[N] = {};

        for (unsigned i = 0; i < N; i++)
                it[i] = (Item) { PRIOQ_ITEM_INIT, i };
        for (unsigned step = 0; step < 200000; step++) {
                unsigned i = (unsigned) (th_rand(&rs) % N), op = (unsigned) (th_rand(&rs) % 4);

                if (op <= 1) {
                        uint64_t key = th_rand(&rs) % 50;

                        if (!in[i])
                                order[i] = seq++;
                        ck_assert_int_eq(prioq_put(&q, &it[i].pi, key), 0);
                        in[i] = true;
                } else if (op == 2) {
                        prioq_remove(&q, &it[i].pi);
                        in[i] = false;
                } else {
                        int best = -1;
                        Item *x;

                        for (unsigned k = 0; k < N; k++)
                                if (in[k] && (best < 0 || it[k].pi.key < it[best].pi.key ||
                                              (it[k].pi.key == it[best].pi.key && order[k] < order[best])))
                                        best = (int) k;
                        x = ITEM(prioq_pop(&q));
                        if (best < 0) {
                                ck_assert_ptr_null(x);
                                continue;
                        }
                        ck_assert_ptr_nonnull(x);
                        ck_assert_uint_eq(x->id, (unsigned) best);
                        in[best] = false;
                }
        }
        prioq_done(&q);
}
END_TEST

static Suite *prioq_suite(void) {
        Suite *s = suite_create("prioq");
        TCase *tc = tcase_create("prioq");

        tcase_add_test(tc, test_order_and_fifo);
        tcase_add_test(tc, test_move_and_remove);
        tcase_add_test(tc, test_random_against_reference);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(prioq_suite());
}
