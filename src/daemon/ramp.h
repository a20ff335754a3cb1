/* SPDX-License-Identifier: MIT */
/*
 * ramp.h: at most `max_connecting` connections in their expensive phase at
 * once (name lookup, TCP connect, TLS handshake, greeting, login), so that
 * 10,000 connections that start together, after a restart, a resume or a
 * network change, reach the server a few dozen at a time instead of all at
 * once (docs/SCALING.md, "The connection ramp").  A server that is
 * stampeded drops or stalls the excess (a full listen backlog, login
 * processes at their limit), and every stalled connection then waits for
 * its greeting deadline and a backoff: the ramp makes the whole set idle
 * sooner, not later.
 *
 * A connection embeds a RampEntry, asks for a slot before it connects and
 * gives it back once logged in or when it fails or stops.  Slots are handed
 * out in the order they were asked for.  A slot freed by ramp_release() is
 * passed on from the event loop (a defer source), never from inside the
 * call, so the caller need not be re-entrant.  Every operation is O(1).
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Ramp Ramp;
typedef struct RampEntry RampEntry;

/* The slot is granted: go on connecting.  Called from the event loop. */
typedef void (*RampGoFn)(RampEntry *e);

struct RampEntry {
        RampEntry *prev, *next;         /* in the waiting queue */
        RampGoFn go;
        bool waiting, holding;
};

#define RAMP_ENTRY_INIT(fn) ((RampEntry) { .go = (fn) })

/* limit 0 is taken as 1. */
int ramp_new(sd_event *e, unsigned limit, Ramp **ret);
/* Every entry must have been released first. */
Ramp *ramp_free(Ramp *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ramp *, ramp_free);
/* A new limit; a higher one lets waiting entries go (from the loop). */
void ramp_set_limit(Ramp *r, unsigned limit);

/* Ask for a slot.  Returns 1 if the entry holds one now (go is not called),
 * 0 if it waits (go is called once it holds one).  An entry that already
 * holds or waits keeps its place and gets 1 or 0. */
int ramp_acquire(Ramp *r, RampEntry *e);
/* Give the slot back, or stop waiting; an idle entry is left alone. */
void ramp_release(Ramp *r, RampEntry *e);

unsigned ramp_in_flight(const Ramp *r);
size_t ramp_waiting(const Ramp *r);
