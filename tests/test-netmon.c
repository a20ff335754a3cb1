/* SPDX-License-Identifier: MIT */
/*
 * test-netmon.c: the rtnetlink datagram walk of src/daemon/netmon.c
 * (netmon_parse()) on crafted buffers: valid bursts, unknown and control
 * types, short payloads, truncated and corrupt lengths, foreign senders,
 * unaligned buffers and random bytes.  Every buffer is a heap block of
 * exactly its length, so ASan catches a read past the end.  The monitor on a
 * real socket is tested by tests/netmon-live.c in its own network namespace.
 */
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "netmon.h"
#include "th.h"

static const struct sockaddr_nl kernel = { .nl_family = AF_NETLINK, .nl_pid = 0 };

/* A datagram being built: messages appended with their real alignment padding. */
typedef struct Dgram {
        uint8_t bytes[4096];
        size_t len;
} Dgram;

/* Append a message of type with payload_len zero bytes, padded as the kernel pads it, whose
 * header claims nlmsg_len = claimed_len. */
static void add_raw(Dgram *d, uint16_t type, size_t payload_len, uint32_t claimed_len) {
        struct nlmsghdr h = {
                .nlmsg_len = claimed_len,
                .nlmsg_type = type,
        };
        size_t total = NLMSG_SPACE(payload_len);

        ck_assert_uint_le(d->len + total, sizeof(d->bytes));
        memset(d->bytes + d->len, 0, total);
        memcpy(d->bytes + d->len, &h, sizeof(h));
        d->len += total;
}

/* The same with the true length. */
static void add(Dgram *d, uint16_t type, size_t payload_len) {
        add_raw(d, type, payload_len, (uint32_t) NLMSG_LENGTH(payload_len));
}

/* netmon_parse() on an exact-size heap copy of the first len bytes, placed at offset shift
 * inside its block (to test unaligned buffers). */
static size_t parse_n(const Dgram *d, size_t len, size_t shift) {
        uint8_t *copy = malloc(len + shift ?: 1);
        size_t n;

        ck_assert_ptr_nonnull(copy);
        memcpy(copy + shift, d->bytes, len);
        n = netmon_parse(&kernel, copy + shift, len);
        free(copy);
        return n;
}

static size_t parse(const Dgram *d) {
        return parse_n(d, d->len, 0);
}

START_TEST(test_parse_valid) {
        Dgram d = {};

        add(&d, RTM_NEWLINK, sizeof(struct ifinfomsg) + 20);
        ck_assert_uint_eq(parse(&d), 1);
        add(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg) + 8);
        add(&d, RTM_DELADDR, sizeof(struct ifaddrmsg));
        add(&d, RTM_NEWROUTE, sizeof(struct rtmsg) + 36);
        add(&d, RTM_DELROUTE, sizeof(struct rtmsg));
        add(&d, RTM_DELLINK, sizeof(struct ifinfomsg));
        ck_assert_uint_eq(parse(&d), 6);
        /* Unaligned in memory: same answer (the header is copied out, UBSan watches). */
        ck_assert_uint_eq(parse_n(&d, d.len, 1), 6);
        ck_assert_uint_eq(parse_n(&d, d.len, 3), 6);
}
END_TEST

START_TEST(test_parse_ignored_types) {
        Dgram d = {};

        add(&d, NLMSG_NOOP, 0);
        add(&d, NLMSG_ERROR, sizeof(struct nlmsgerr));
        add(&d, NLMSG_DONE, sizeof(int));
        add(&d, RTM_NEWNEIGH, 28);
        add(&d, RTM_NEWRULE, 28);
        add(&d, RTM_GETLINK, sizeof(struct ifinfomsg));
        add(&d, 0xffff, 16);
        ck_assert_uint_eq(parse(&d), 0);
        /* Skipped, not a stop: a relevant message after them still counts. */
        add(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg));
        ck_assert_uint_eq(parse(&d), 1);
}
END_TEST

/* A relevant type without its fixed header is not trusted, but the walk goes on. */
START_TEST(test_parse_short_payload) {
        Dgram d = {};

        add(&d, RTM_NEWLINK, sizeof(struct ifinfomsg) - 1);
        add(&d, RTM_NEWADDR, 0);
        add(&d, RTM_NEWROUTE, sizeof(struct rtmsg) - 4);
        ck_assert_uint_eq(parse(&d), 0);
        add(&d, RTM_DELROUTE, sizeof(struct rtmsg));
        ck_assert_uint_eq(parse(&d), 1);
}
END_TEST

START_TEST(test_parse_truncated) {
        Dgram d = {};
        size_t first, second_end;

        add(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg) + 24);
        first = d.len;
        /* An unaligned payload: the datagram ends in padding. */
        add(&d, RTM_NEWROUTE, sizeof(struct rtmsg) + 25);
        second_end = first + NLMSG_LENGTH(sizeof(struct rtmsg) + 25);
        ck_assert_uint_lt(second_end, d.len);
        ck_assert_uint_eq(parse(&d), 2);

        /* Every cut: the messages complete before the cut count, nothing after it; a message
         * missing only its trailing padding is complete. */
        for (size_t len = 0; len < d.len; len++)
                ck_assert_uint_eq(parse_n(&d, len, 0), len >= second_end ? 2 : len >= first ? 1 : 0);
        ck_assert_uint_eq(netmon_parse(&kernel, NULL, 0), 0);
        ck_assert_uint_eq(netmon_parse(&kernel, d.bytes, 0), 0);
}
END_TEST

START_TEST(test_parse_bad_lengths) {
        Dgram d;

        /* nlmsg_len beyond the datagram: stop, count nothing of it. */
        d = (Dgram) {};
        add(&d, RTM_NEWLINK, sizeof(struct ifinfomsg));
        add_raw(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg), 4096);
        add(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg));
        ck_assert_uint_eq(parse(&d), 1);

        /* nlmsg_len smaller than a header, 0 among them: must stop (no endless loop). */
        for (uint32_t bad = 0; bad < sizeof(struct nlmsghdr); bad++) {
                d = (Dgram) {};
                add_raw(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg), bad);
                add(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg));
                ck_assert_uint_eq(parse(&d), 0);
        }

        /* The largest lengths: no wrap-around when aligning. */
        d = (Dgram) {};
        add_raw(&d, RTM_NEWROUTE, sizeof(struct rtmsg), UINT32_MAX);
        ck_assert_uint_eq(parse(&d), 0);
        d = (Dgram) {};
        add_raw(&d, RTM_NEWROUTE, sizeof(struct rtmsg), UINT32_MAX - 2);
        ck_assert_uint_eq(parse(&d), 0);

        /* An unaligned length: the next message starts at the aligned offset. */
        d = (Dgram) {};
        add(&d, RTM_NEWLINK, sizeof(struct ifinfomsg) + 3);
        add(&d, RTM_NEWADDR, sizeof(struct ifaddrmsg));
        ck_assert_uint_eq(parse(&d), 2);
}
END_TEST

/* Anything not from the kernel is ignored whole. */
START_TEST(test_parse_sender) {
        struct sockaddr_nl process = { .nl_family = AF_NETLINK, .nl_pid = 4242 };
        struct sockaddr_nl other = { .nl_family = AF_UNIX };
        Dgram d = {};

        add(&d, RTM_NEWLINK, sizeof(struct ifinfomsg));
        ck_assert_uint_eq(netmon_parse(&kernel, d.bytes, d.len), 1);
        ck_assert_uint_eq(netmon_parse(&process, d.bytes, d.len), 0);
        ck_assert_uint_eq(netmon_parse(&other, d.bytes, d.len), 0);
        ck_assert_uint_eq(netmon_parse(NULL, d.bytes, d.len), 0);
}
END_TEST

/* Random bytes, with plausible headers sprinkled in: never reads out of bounds (ASan) and never
 * counts more messages than could fit. */
START_TEST(test_parse_random) {
        uint64_t seed = 0x6e65746d6f6eULL;

        for (int round = 0; round < 2000; round++) {
                Dgram d = {};
                size_t len = th_rand(&seed) % 512;

                for (size_t i = 0; i < len; i++)
                        d.bytes[i] = (uint8_t) th_rand(&seed);
                if (len >= sizeof(struct nlmsghdr) && th_rand(&seed) % 2) {
                        struct nlmsghdr h = {
                                .nlmsg_len = (uint32_t) (th_rand(&seed) % (len + 8)),
                                .nlmsg_type = (uint16_t) (RTM_NEWLINK + th_rand(&seed) % 24),
                        };

                        memcpy(d.bytes, &h, sizeof(h));
                }
                ck_assert_uint_le(parse_n(&d, len, round % 4), len / sizeof(struct nlmsghdr));
        }
}
END_TEST

static void never(void *userdata) {
        (void) userdata;
        ck_abort_msg("callback without a change");
}

START_TEST(test_new_bad_arguments) {
        sd_event *e = NULL;
        Netmon *n = NULL;

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(netmon_new(NULL, 0, never, NULL, &n), -EINVAL);
        ck_assert_int_eq(netmon_new(e, 0, NULL, NULL, &n), -EINVAL);
        ck_assert_int_eq(netmon_new(e, 0, never, NULL, NULL), -EINVAL);
        ck_assert_int_eq(netmon_new_fd(e, -1, 0, never, NULL, &n), -EBADF);
        ck_assert_ptr_null(n);
        ck_assert_ptr_null(netmon_free(NULL));
        ck_assert_uint_eq(netmon_overruns(NULL), 0);
        sd_event_unref(e);
}
END_TEST

static Suite *netmon_suite(void) {
        Suite *s = suite_create("netmon");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_parse_valid);
        tcase_add_test(tc, test_parse_ignored_types);
        tcase_add_test(tc, test_parse_short_payload);
        tcase_add_test(tc, test_parse_truncated);
        tcase_add_test(tc, test_parse_bad_lengths);
        tcase_add_test(tc, test_parse_sender);
        tcase_add_test(tc, test_parse_random);
        tcase_add_test(tc, test_new_bad_arguments);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(netmon_suite());
}
