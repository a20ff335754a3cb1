/* SPDX-License-Identifier: MIT */
/*
 * netmon-live.c: the rtnetlink watcher (src/daemon/netmon.c) against the real
 * kernel, in a network namespace of its own so nothing on this machine is
 * touched and nothing leaves it: a forked child unshares CLONE_NEWNET, then
 * changes its private loopback with raw rtnetlink requests (link up,
 * addresses in 127.0.0.0/8 added and removed) and checks that each burst
 * gives exactly one callback, that a receive overrun counts as a change, and
 * that a change stream that never settles still gets callbacks.  Not a Check
 * program because it must be able to say SKIP: it exits 77 when network
 * namespaces are not permitted here, 0 on success, 1 on failure.  Waits are
 * generous safety timeouts, or confirm an absence after the kernel has
 * already delivered every notification (rtnetlink notifies synchronously,
 * before it acknowledges the request).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netmon.h"

#define EXIT_SKIP 77
#define SAFETY_USEC (10 * USEC_PER_SEC)
#define SETTLE_USEC (300 * USEC_PER_MSEC)
/* Timer accuracy for the test's own timers: 0 would mean sd-event's default slack of 250 ms. */
#define PRECISE_USEC 1

static int failures;

_printf_(2, 3) static void check(bool ok, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fprintf(stderr, "%s: ", ok ? "ok" : "FAIL");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        if (!ok)
                failures++;
}

/* ---- raw rtnetlink requests to our own namespace's kernel ---------------- */

static int rtnl = -1;
static uint32_t seq;
static int lo_index;

/* Send one request and wait for its acknowledgement; returns its error (0 or -errno). */
static int rtnl_request(struct nlmsghdr *h) {
        union {
                struct nlmsghdr h;
                uint8_t b[4096];
        } reply;
        ssize_t k;

        h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        h->nlmsg_seq = ++seq;
        if (send(rtnl, h, h->nlmsg_len, 0) != (ssize_t) h->nlmsg_len)
                return -errno;
        for (;;) {
                k = recv(rtnl, &reply, sizeof(reply), 0);
                if (k < 0)
                        return -errno;
                if ((size_t) k >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) && reply.h.nlmsg_type == NLMSG_ERROR &&
                    reply.h.nlmsg_seq == seq) {
                        struct nlmsgerr e;

                        memcpy(&e, NLMSG_DATA(&reply.h), sizeof(e));
                        return e.error;
                }
        }
}

static int link_up(void) {
        struct {
                struct nlmsghdr h;
                struct ifinfomsg i;
        } req = {
                .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_NEWLINK },
                .i = { .ifi_family = AF_UNSPEC, .ifi_index = lo_index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP },
        };

        return rtnl_request(&req.h);
}

/* Add or remove 127.a.b.c/32 on lo. */
static int address(bool add, const char *ip) {
        struct {
                struct nlmsghdr h;
                struct ifaddrmsg a;
                uint8_t attrs[2 * RTA_SPACE(4)];
        } req = {
                .h = {
                        .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
                        .nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR,
                        .nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0,
                },
                .a = { .ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_index = (uint32_t) lo_index },
        };
        static const uint16_t types[] = { IFA_LOCAL, IFA_ADDRESS };
        struct in_addr in;

        if (inet_pton(AF_INET, ip, &in) != 1)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                struct rtattr *rta = (struct rtattr *) ((uint8_t *) &req + NLMSG_ALIGN(req.h.nlmsg_len));

                rta->rta_type = types[i];
                rta->rta_len = RTA_LENGTH(sizeof(in));
                memcpy(RTA_DATA(rta), &in, sizeof(in));
                req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_SPACE(sizeof(in));
        }
        return rtnl_request(&req.h);
}

/* ---- the event loop ------------------------------------------------------- */

static unsigned calls;
static bool done;

static void on_change(void *userdata) {
        (void) userdata;
        calls++;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        (void) userdata;
        done = true;
        return 0;
}

/* Run until usec passed, or until the first callback if until_call. */
static void run_for(sd_event *e, usec_t usec, bool until_call) {
        sd_event_source *deadline = NULL;
        unsigned before = calls;

        if (sd_event_add_time_relative(e, &deadline, CLOCK_MONOTONIC, usec, PRECISE_USEC, on_deadline, NULL) < 0) {
                check(false, "deadline timer");
                return;
        }
        for (done = false; !done && !(until_call && calls > before);)
                if (sd_event_run(e, UINT64_MAX) < 0) {
                        check(false, "sd_event_run");
                        break;
                }
        sd_event_source_disable_unref(deadline);
}

static int on_second_change(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        (void) userdata;
        check(address(true, "127.0.0.2") == 0, "add 127.0.0.2 while the first change settles");
        return 0;
}

/* A burst in two parts with the loop running in between: one callback. */
static void test_burst(sd_event *e) {
        sd_event_source *later = NULL;
        Netmon *n = NULL;
        int r;

        r = netmon_new(e, SETTLE_USEC, on_change, NULL, &n);
        check(r == 0, "netmon_new: %s", strerror(-r));
        if (r < 0)
                return;

        calls = 0;
        check(link_up() == 0, "bring lo up");
        check(sd_event_add_time_relative(e, &later, CLOCK_MONOTONIC, SETTLE_USEC / 4, PRECISE_USEC, on_second_change,
                                         NULL) >= 0, "second-change timer");
        run_for(e, SAFETY_USEC, true);
        check(calls == 1, "link up and an address: one callback (got %u)", calls);
        run_for(e, 3 * SETTLE_USEC, false);
        check(calls == 1, "and no second one (got %u)", calls);

        check(address(false, "127.0.0.2") == 0, "remove 127.0.0.2");
        run_for(e, SAFETY_USEC, true);
        run_for(e, 3 * SETTLE_USEC, false);
        check(calls == 2, "removing it: one more callback (got %u)", calls);
        check(netmon_overruns(n) == 0, "no overrun (got %u)", netmon_overruns(n));

        sd_event_source_disable_unref(later);
        netmon_free(n);
}

/* A queue too small for the burst: the kernel reports ENOBUFS, which counts as a change. */
static void test_overrun(sd_event *e) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE };
        Netmon *n = NULL;
        char ip[32];
        int fd, tiny = 1, r;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        check(fd >= 0, "netlink socket");
        if (fd < 0)
                return;
        /* The kernel rounds this up to its minimum, a few KiB: a handful of messages. */
        check(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &tiny, sizeof(tiny)) == 0 ||
              setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)) == 0, "small receive buffer");
        check(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "bind");

        for (int i = 1; i <= 200; i++) {
                (void) snprintf(ip, sizeof(ip), "127.0.1.%d", i);
                if (address(true, ip) != 0) {
                        check(false, "add %s", ip);
                        break;
                }
        }

        r = netmon_new_fd(e, fd, SETTLE_USEC, on_change, NULL, &n);
        check(r == 0, "netmon_new_fd: %s", strerror(-r));
        if (r < 0)
                return;
        calls = 0;
        run_for(e, SAFETY_USEC, true);
        run_for(e, 3 * SETTLE_USEC, false);
        check(netmon_overruns(n) >= 1, "the overrun was noticed (%u)", netmon_overruns(n));
        check(calls == 1, "200 addresses and an overrun: one callback (got %u)", calls);
        netmon_free(n);
}

#define FLAP_SETTLE_USEC (100 * USEC_PER_MSEC)
#define FLAP_CHANGES 80U

static unsigned calls_while_flapping;

static int on_flap(sd_event_source *s, uint64_t usec, void *userdata) {
        unsigned *left = userdata;

        (void) usec;
        check(address(*left % 2 == 0, "127.0.0.3") == 0, "flap 127.0.0.3");
        if (--*left == 0) {
                calls_while_flapping = calls;
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        /* Faster than the settle delay: the burst never goes quiet. */
        if (sd_event_source_set_time_relative(s, FLAP_SETTLE_USEC / 2) < 0)
                return -EIO;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* Changes that never settle still get callbacks, bounded by NETMON_SETTLE_MAX_FACTOR. */
static void test_never_settles(sd_event *e) {
        unsigned left = FLAP_CHANGES;
        sd_event_source *flap = NULL;
        Netmon *n = NULL;
        int r;

        r = netmon_new(e, FLAP_SETTLE_USEC, on_change, NULL, &n);
        check(r == 0, "netmon_new: %s", strerror(-r));
        if (r < 0)
                return;
        calls = 0;
        check(sd_event_add_time_relative(e, &flap, CLOCK_MONOTONIC, 0, PRECISE_USEC, on_flap, &left) >= 0,
              "flap timer");
        /* FLAP_CHANGES × settle/2 = 4 s of changes at the nominal pace, 4 maximal waits; bounded
         * by a safety timeout.  A slower loop spaces the changes out, which only makes the
         * callbacks come sooner, never later. */
        for (unsigned i = 0; left > 0 && i < SAFETY_USEC / FLAP_SETTLE_USEC; i++)
                run_for(e, FLAP_SETTLE_USEC, false);
        check(left == 0, "the flapping ran to its end (%u left)", left);
        check(calls_while_flapping >= 2, "a link that keeps changing: callbacks while it changes (got %u)",
              calls_while_flapping);
        sd_event_source_disable_unref(flap);
        netmon_free(n);
}

static int child(void) {
        sd_event *e = NULL;

        if (unshare(CLONE_NEWNET) < 0) {
                if (IN_SET(errno, EPERM, EACCES, EINVAL, ENOSYS, EUSERS)) {
                        fprintf(stderr, "SKIP: no network namespace here (unshare: %s)\n", strerror(errno));
                        return EXIT_SKIP;
                }
                fprintf(stderr, "FAIL: unshare: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }
        lo_index = (int) if_nametoindex("lo");
        rtnl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (lo_index <= 0 || rtnl < 0 || sd_event_new(&e) < 0) {
                fprintf(stderr, "FAIL: setup (lo %d, netlink %d)\n", lo_index, rtnl);
                return EXIT_FAILURE;
        }

        test_burst(e);
        test_overrun(e);
        test_never_settles(e);

        sd_event_unref(e);
        (void) close(rtnl);
        return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(void) {
        int status;
        pid_t pid;

        /* A child, so that the namespace goes away with it and the harness never runs in it. */
        pid = fork();
        if (pid < 0)
                return EXIT_FAILURE;
        if (pid == 0)
                _exit(child());
        if (waitpid(pid, &status, 0) != pid)
                return EXIT_FAILURE;
        if (!WIFEXITED(status)) {
                fprintf(stderr, "FAIL: child killed by signal %d\n", WTERMSIG(status));
                return EXIT_FAILURE;
        }
        return WEXITSTATUS(status);
}
