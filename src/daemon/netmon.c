/* SPDX-License-Identifier: MIT */
/*
 * netmon.c: the rtnetlink watcher of netmon.h: a receive-only NETLINK_ROUTE
 * socket on sd-event, a bounds-checked walk over each datagram, and a settle
 * timer that turns a burst of kernel messages into one callback.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "log.h"
#include "netmon.h"

/* Datagrams read per wake-up, so a flood cannot starve the rest of the loop; sd-event calls
 * again while more are queued. */
#define NETMON_READS_MAX 64
/* Asked for, not required: a bigger queue makes overruns rarer.  The kernel caps it at
 * net.core.rmem_max unless we had CAP_NET_ADMIN and used SO_RCVBUFFORCE. */
#define NETMON_RCVBUF (1024 * 1024)

struct Netmon {
        sd_event *event;
        sd_event_source *io;
        sd_event_source *timer;
        int fd;
        usec_t settle_usec;
        bool pending;           /* a change is waiting for the burst to settle */
        usec_t first_change;    /* CLOCK_MONOTONIC of the burst's first change */
        unsigned overruns;
        NetmonFn cb;
        void *userdata;
        union {
                struct nlmsghdr align;
                uint8_t bytes[NETMON_BUFFER_SIZE];
        } buf;
};

/* The messages that mean "the network changed", and the fixed header each must carry. */
static const struct {
        uint16_t type;
        size_t min_payload;
} relevant[] = {
        { RTM_NEWLINK, sizeof(struct ifinfomsg) },
        { RTM_DELLINK, sizeof(struct ifinfomsg) },
        { RTM_NEWADDR, sizeof(struct ifaddrmsg) },
        { RTM_DELADDR, sizeof(struct ifaddrmsg) },
        { RTM_NEWROUTE, sizeof(struct rtmsg) },
        { RTM_DELROUTE, sizeof(struct rtmsg) },
};

static bool is_relevant(uint16_t type, size_t payload) {
        for (size_t i = 0; i < ELEMENTSOF(relevant); i++)
                if (relevant[i].type == type)
                        return payload >= relevant[i].min_payload;
        return false;
}

size_t netmon_parse(const struct sockaddr_nl *from, const void *buf, size_t len) {
        const uint8_t *p = buf;
        size_t n = 0;

        /* Only the kernel speaks for the network; a process sending to our groups does not. */
        if (!from || from->nl_family != AF_NETLINK || from->nl_pid != 0 || !buf)
                return 0;

        /* NLMSG_OK()'s conditions, in size_t so that no length can wrap; the header is copied
         * out because the buffer need not be aligned. */
        while (len >= sizeof(struct nlmsghdr)) {
                struct nlmsghdr h;
                size_t step;

                memcpy(&h, p, sizeof(h));
                if (h.nlmsg_len < sizeof(struct nlmsghdr) || h.nlmsg_len > len)
                        break;
                if (is_relevant(h.nlmsg_type, h.nlmsg_len - NLMSG_HDRLEN))
                        n++;
                step = ((size_t) h.nlmsg_len + NLMSG_ALIGNTO - 1) & ~((size_t) NLMSG_ALIGNTO - 1);
                if (step >= len)
                        break;
                p += step;
                len -= step;
        }
        return n;
}

static void schedule(Netmon *n) {
        usec_t now, when;
        int r;

        r = sd_event_now(n->event, CLOCK_MONOTONIC, &now);
        if (r < 0) {
                log_warning_errno(r, "network change: cannot read the clock: %m");
                return;
        }
        if (!n->pending) {
                n->pending = true;
                n->first_change = now;
        }
        /* Quiet for settle_usec, or a bounded time after the burst began. */
        when = MIN(usec_add(now, n->settle_usec),
                   usec_add(n->first_change, n->settle_usec * NETMON_SETTLE_MAX_FACTOR));
        r = sd_event_source_set_time(n->timer, when);
        if (r >= 0)
                r = sd_event_source_set_enabled(n->timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "network change: cannot arm the settle timer: %m");
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata) {
        Netmon *n = userdata;

        (void) s;
        (void) usec;
        n->pending = false;
        log_debug("network changed");
        n->cb(n->userdata);
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Netmon *n = userdata;
        bool changed = false;

        (void) s;
        (void) revents;
        for (unsigned i = 0; i < NETMON_READS_MAX; i++) {
                struct sockaddr_nl from = {};
                struct iovec iov = { .iov_base = n->buf.bytes, .iov_len = sizeof(n->buf.bytes) };
                struct msghdr mh = {
                        .msg_name = &from,
                        .msg_namelen = sizeof(from),
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                };
                ssize_t k;

                k = recvmsg(fd, &mh, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        if (errno == ENOBUFS) {
                                /* The kernel dropped messages: we cannot know what changed,
                                 * so assume something did. */
                                n->overruns++;
                                changed = true;
                                continue;
                        }
                        log_warning_errno(-errno, "network change: netlink receive failed: %m");
                        break;
                }
                if (from.nl_pid != 0)
                        continue;
                if (mh.msg_flags & MSG_TRUNC) {
                        n->overruns++;
                        changed = true;
                        continue;
                }
                if (netmon_parse(&from, n->buf.bytes, (size_t) k) > 0)
                        changed = true;
        }
        if (changed)
                schedule(n);
        return 0;
}

int netmon_new_fd(sd_event *e, int fd, usec_t settle_usec, NetmonFn cb, void *userdata, Netmon **ret) {
        _cleanup_close_ int owned = fd;
        _cleanup_(netmon_freep) Netmon *n = NULL;
        int r;

        assert_return(e, -EINVAL);
        assert_return(fd >= 0, -EBADF);
        assert_return(cb, -EINVAL);
        assert_return(ret, -EINVAL);

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->event = sd_event_ref(e);
        n->fd = TAKE_FD(owned);
        n->settle_usec = settle_usec ?: NETMON_SETTLE_DEFAULT_USEC;
        n->cb = cb;
        n->userdata = userdata;

        r = sd_event_add_io(e, &n->io, n->fd, EPOLLIN, on_io, n);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(n->io, "netmon");
        /* Accuracy 0 would mean sd-event's default of 250 ms, longer than a short settle delay
         * and so able to reorder it with the changes; a tenth of it is slack enough. */
        r = sd_event_add_time(e, &n->timer, CLOCK_MONOTONIC, USEC_INFINITY, MAX(n->settle_usec / 10, (usec_t) 1),
                              on_settled, n);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(n->timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(n->timer, "netmon-settle");

        *ret = TAKE_PTR(n);
        return 0;
}

int netmon_new(sd_event *e, usec_t settle_usec, NetmonFn cb, void *userdata, Netmon **ret) {
        struct sockaddr_nl sa = {
                .nl_family = AF_NETLINK,
                .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                             RTMGRP_IPV6_ROUTE,
        };
        int fd, size = NETMON_RCVBUF;

        assert_return(e, -EINVAL);
        assert_return(cb, -EINVAL);
        assert_return(ret, -EINVAL);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (bind(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                (void) close(fd);
                return r;
        }
        return netmon_new_fd(e, fd, settle_usec, cb, userdata, ret);
}

Netmon *netmon_free(Netmon *n) {
        if (!n)
                return NULL;
        n->io = sd_event_source_disable_unref(n->io);
        n->timer = sd_event_source_disable_unref(n->timer);
        if (n->fd >= 0)
                (void) close(n->fd);
        sd_event_unref(n->event);
        return mfree(n);
}

unsigned netmon_overruns(const Netmon *n) {
        return n ? n->overruns : 0;
}
