/* SPDX-License-Identifier: MIT */
/* test-hashmap.c: strings to pointers: put, get, duplicates, removal that keeps every other key
 * reachable (backward shift), growth, and a random run against a plain array. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hashmap.h"
#include "th.h"

START_TEST(test_basic) {
        _cleanup_(hashmap_freep) Hashmap *h = NULL;
        int a = 1, b = 2;

        ck_assert_int_eq(hashmap_new(&h), 0);
        ck_assert_ptr_null(hashmap_get(h, "x"));
        ck_assert_ptr_null(hashmap_remove(h, "x"));
        ck_assert_int_eq(hashmap_put(h, "x", &a), 0);
        ck_assert_int_eq(hashmap_put(h, "y", &b), 0);
        ck_assert_int_eq(hashmap_put(h, "x", &b), -EEXIST);
        ck_assert_int_eq(hashmap_put(h, "z", NULL), -EINVAL);
        ck_assert_ptr_eq(hashmap_get(h, "x"), &a);
        ck_assert_ptr_eq(hashmap_get(h, "y"), &b);
        ck_assert_uint_eq(hashmap_size(h), 2);
        ck_assert_ptr_eq(hashmap_remove(h, "x"), &a);
        ck_assert_ptr_null(hashmap_get(h, "x"));
        ck_assert_ptr_eq(hashmap_get(h, "y"), &b);
        ck_assert_uint_eq(hashmap_size(h), 1);
        ck_assert_ptr_null(hashmap_free(NULL));
}
END_TEST

/* Many keys, many removals in random order, checked against a plain array after every step. */
START_TEST(test_random_against_reference) {
        enum { N = 2000 };
        static char keys[N][16];
        static bool in[N];
        _cleanup_(hashmap_freep) Hashmap *h = NULL;
        uint64_t rs = 7;
        size_t n = 0;

        ck_assert_int_eq(hashmap_new(&h), 0);
        for (unsigned i = 0; i < N; i++)
                snprintf(keys[i], sizeof(keys[i]), "k%u", i);
        for (unsigned step = 0; step < 100000; step++) {
                unsigned i = (unsigned) (th_rand(&rs) % N);

                if (th_rand(&rs) % 3 != 0) {
                        int r = hashmap_put(h, keys[i], keys[i]);

                        ck_assert_int_eq(r, in[i] ? -EEXIST : 0);
                        n += !in[i];
                        in[i] = true;
                } else {
                        void *v = hashmap_remove(h, keys[i]);

                        ck_assert_ptr_eq(v, in[i] ? keys[i] : NULL);
                        n -= in[i];
                        in[i] = false;
                }
                ck_assert_uint_eq(hashmap_size(h), n);
                if (step % 997 == 0)
                        for (unsigned k = 0; k < N; k++)
                                ck_assert_ptr_eq(hashmap_get(h, keys[k]), in[k] ? keys[k] : NULL);
        }
        for (unsigned k = 0; k < N; k++)
                if (in[k])
                        ck_assert_ptr_eq(hashmap_remove(h, keys[k]), keys[k]);
        ck_assert_uint_eq(hashmap_size(h), 0);
}
END_TEST

static Suite *hashmap_suite(void) {
        Suite *s = suite_create("hashmap");
        TCase *tc = tcase_create("hashmap");

        tcase_add_test(tc, test_basic);
        tcase_add_test(tc, test_random_against_reference);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(hashmap_suite());
}
