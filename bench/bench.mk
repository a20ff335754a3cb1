# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# --- bench/: programs the benchmarks need, built on demand only ("make bench/stamp
# bench/hotpath bench/sd-listen"; the scripts run that themselves), never by "all"
# or "check". ---------------------------------------------------------------------
EXTRA_PROGRAMS += bench/stamp bench/stamp-dynamic bench/stamp-raw bench/hotpath bench/sd-listen
# (clean-local in Makefile.am removes them)

# The hook of the benchmarks.  Linked statically: no dynamic loader at exec
# (bench/hotpath.sh prints both; docs/PERFORMANCE.md has the figures).
bench_stamp_SOURCES = bench/stamp.c
bench_stamp_LDFLAGS = -static
bench_stamp_dynamic_SOURCES = bench/stamp.c
# The same without the C library (x86-64 only; bench/stamp-raw.c says why).
bench_stamp_raw_SOURCES = bench/stamp-raw.c
bench_stamp_raw_CFLAGS = $(AM_CFLAGS) -fno-stack-protector -fno-pie -U_FORTIFY_SOURCE
bench_stamp_raw_LDFLAGS = -static -nostdlib -no-pie

# The scripted server for the EXISTS -> hook figure; uses spawn_clean() like the daemon.
bench_hotpath_SOURCES = bench/hotpath.c
bench_hotpath_LDADD = src/shared/libshared.a

# Receives sd_notify() messages (NOTIFY_SOCKET) and prints them with the time.
bench_sd_listen_SOURCES = bench/sd-listen.c

EXTRA_DIST += bench/bench.mk bench/idle-rss.sh bench/hotpath.sh bench/scale.sh bench/notify.sh bench/bench-lib.sh \
	bench/peer.sh bench/imapflow-watch.mjs bench/stamp-raw.c
