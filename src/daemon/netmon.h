/* SPDX-License-Identifier: MIT */
/*
 * netmon.h: noticing that the network changed (a link went up or down, an
 * address or a route came or went: Wi-Fi roaming, DHCP renumbering, a VPN, a
 * cable), so the daemon can check its connections at once instead of waiting
 * for TCP to time out on a path that no longer exists.  It listens to the
 * kernel's rtnetlink multicast groups on the caller's sd-event loop and
 * reports a burst of changes as one callback.  It only receives: nothing is
 * ever sent, to the kernel or to any host.
 *
 * The callback means "the network may have changed", nothing more precise:
 * IPv6 router advertisements also refresh address and route lifetimes, which
 * the kernel announces as RTM_NEWADDR/RTM_NEWROUTE, so on such networks it
 * comes every few minutes.  React with something cheap (a NOOP on each
 * connection), not by reconnecting everything.
 */
#pragma once

#include <linux/netlink.h>
#include <stddef.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "time-util.h"

/* Default for a zero settle_usec: a DHCP renumbering or a link coming up sends its burst of
 * link, address and route messages within well under a second. */
#define NETMON_SETTLE_DEFAULT_USEC (1 * USEC_PER_SEC)
/* A burst that never goes quiet (a flapping link) still gets a callback this many settle
 * periods after its first change. */
#define NETMON_SETTLE_MAX_FACTOR 10
/* One receive buffer; rtnetlink messages are far smaller, and a datagram that does not fit
 * (MSG_TRUNC) still counts as a change. */
#define NETMON_BUFFER_SIZE ((size_t) 32 * 1024)

typedef struct Netmon Netmon;

/* Called from the event loop once a burst of changes has settled: settle_usec after the last
 * change, or NETMON_SETTLE_MAX_FACTOR × settle_usec after the first one at the latest.  The
 * callback may not free the monitor. */
typedef void (*NetmonFn)(void *userdata);

/* Pure: look at one datagram received from a NETLINK_ROUTE socket, from (the sender address;
 * anything but the kernel, nl_pid 0, is ignored as a whole).  Returns how many well-formed
 * messages in it announce a change we care about: RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR,
 * RTM_NEWROUTE/DELROUTE with at least their fixed header (ifinfomsg, ifaddrmsg, rtmsg) as
 * payload.  Other types (NLMSG_ERROR, NLMSG_DONE, neighbours, rules, ...) are skipped; walking
 * stops at the first message whose length does not fit in what is left (NLMSG_OK), so a
 * truncated or corrupt tail is never read past.  Never fails: 0 means "nothing relevant". */
size_t netmon_parse(const struct sockaddr_nl *from, const void *buf, size_t len);

/* Open a NETLINK_ROUTE socket (SOCK_CLOEXEC | SOCK_NONBLOCK) bound to RTMGRP_LINK,
 * RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_IPV4_ROUTE and RTMGRP_IPV6_ROUTE and watch it on
 * e (referenced until netmon_free()).  A receive overrun (ENOBUFS: the kernel dropped messages)
 * counts as a change.  Returns 0; -EINVAL (e, cb or ret NULL); or -errno when there is no
 * netlink (e.g. -EAFNOSUPPORT, -EPERM in a sandbox): the caller logs it and goes on without. */
int netmon_new(sd_event *e, usec_t settle_usec, NetmonFn cb, void *userdata, Netmon **ret);

/* Stop watching, close the socket, free; a pending callback is dropped.  NULL-safe, returns
 * NULL. */
Netmon *netmon_free(Netmon *n);

/* For tests: the same as netmon_new() on a caller-made, already bound netlink socket fd, which
 * the monitor then owns (closed on failure too). */
int netmon_new_fd(sd_event *e, int fd, usec_t settle_usec, NetmonFn cb, void *userdata, Netmon **ret);

/* For tests: how many receive overruns (ENOBUFS) and truncated datagrams (MSG_TRUNC) were seen. */
unsigned netmon_overruns(const Netmon *n);

DEFINE_TRIVIAL_CLEANUP_FUNC(Netmon *, netmon_free);
