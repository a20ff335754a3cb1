/* SPDX-License-Identifier: MIT */
/*
 * fetch.c: the UID FETCH step a watch asks its connection for (watch.h,
 * WatchFetchFn), shared by the modes: UID FETCH floor:* (UID) (RFC 3501
 * §6.4.8), then, if details were asked for, the details of the newest; see
 * connection-private.h.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "connection-private.h"
#include "details.h"
#include "log.h"

void fetch_want(Fetch *f, Watch *w, const WatchFetchRequest *req) {
        assert(f->step == FETCH_STEP_NONE);
        *f = (Fetch) {
                .step = FETCH_STEP_WANTED,
                .watch = w,
                .floor = req->floor,
                .max_seq = req->max_seq,
                .details_max = MIN(req->details_max, 1000u),
        };
}

void fetch_reset(Fetch *f) {
        free(f->ring);
        watch_fetch_result_done(&f->res);
        *f = (Fetch) {};
}

/* Messages left (seq 0: positions unknown): a fetch bounded by sequence
 * number is adjusted while it waits, and void once it is on the wire
 * (RFC 3501 §7.4.1: the numbers of later responses shift). */
void fetch_expunged(Fetch *f, uint32_t count, uint32_t seq) {
        if (f->max_seq == 0)
                return;
        if (f->step == FETCH_STEP_SCAN || f->step == FETCH_STEP_DETAILS)
                f->stale = true;
        else if (f->step == FETCH_STEP_WANTED && (seq == 0 || seq <= f->max_seq))
                f->max_seq -= MIN(count, f->max_seq);
}

/* A FETCH response while selected (seq: its message sequence number): ours
 * (the scan or the details), or not (then a flag change made elsewhere,
 * RFC 3501 §7.4.2: the caller's). */
bool fetch_on_fetch(Connection *c, uint32_t seq, const ImapArg *list) {
        Fetch *f = &c->fetch;
        const ImapArg *uid_arg = fetch_attr(list, "UID");
        uint32_t uid = 0;

        if (uid_arg && imap_arg_get_nz32(uid_arg, &uid) < 0)
                uid = 0;
        if (f->step == FETCH_STEP_SCAN && uid >= f->floor && uid > 0) {
                WatchFetchResult *res = &f->res;

                if (f->max_seq > 0 && seq > f->max_seq)
                        return true;    /* came after the run that asked (watch.h) */
                /* "floor:*" also names the last message when the floor is above
                 * every UID (RFC 3501 §6.4.8): hence the comparison. */
                res->count++;
                res->min_uid = res->min_uid == 0 ? uid : MIN(res->min_uid, uid);
                res->max_uid = MAX(res->max_uid, uid);
                if (f->ring)
                        f->ring[(res->count - 1) % f->details_max] = uid;
                return true;
        }
        if (f->step == FETCH_STEP_DETAILS && fetch_attr(list, "ENVELOPE")) {
                WatchFetchResult *res = &f->res;
                MessageDetails d = {};
                int r;

                if (res->n_details >= f->details_max)
                        return true;
                r = message_details_from_fetch(list, NULL, &d);
                if (r < 0) {
                        log_warning("%s: unusable message details for UID %" PRIu32 ": %s", connection_name(c), uid,
                                    strerror(-r));
                        return true;
                }
                if (!res->details) {
                        res->details = calloc(f->details_max, sizeof(MessageDetails));
                        if (!res->details) {
                                message_details_done(&d);
                                return true;
                        }
                }
                res->details[res->n_details++] = d;
                return true;
        }
        return false;
}

static int cmp_details(const void *a, const void *b) {
        const MessageDetails *x = a, *y = b;

        return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The newest UIDs seen by the scan as a sequence-set, ascending. */
static int ring_set(const Fetch *f, Buf *out) {
        uint64_t n = MIN(f->res.count, (uint64_t) f->details_max);
        uint64_t first = f->res.count - n;
        int r = 0;

        for (uint64_t i = 0; i < n && r >= 0; i++) {
                char t[16];
                int k = snprintf(t, sizeof(t), "%s%" PRIu32, i ? "," : "", f->ring[(first + i) % f->details_max]);

                r = buf_append(out, t, (size_t) k, 0);
        }
        if (r >= 0)
                r = buf_append(out, "", 1, 0);
        return r;
}

static int on_fetch_done(Connection *c, const ImapResponse *resp, bool ok, const char *text);

static int send_step(Connection *c, FetchStep step) {
        Fetch *f = &c->fetch;
        _cleanup_(buf_done) Buf set = {};
        ImapCmd *cmd = NULL;
        char floor[24];
        const char *items;
        int r;

        if (step == FETCH_STEP_SCAN) {
                (void) snprintf(floor, sizeof(floor), "%" PRIu32 ":*", MAX(f->floor, 1u));
                items = "(UID)";
        } else {
                r = ring_set(f, &set);
                if (r < 0)
                        return r;
                /* RFC 8970 PREVIEW where offered: a notification can show the text. */
                items = imap_session_has_capability(c->s, "PREVIEW") ?
                        "(UID FLAGS RFC822.SIZE ENVELOPE PREVIEW)" : "(UID FLAGS RFC822.SIZE ENVELOPE)";
        }
        r = imap_cmd_new("UID", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ATOM, "FETCH");
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ATOM, step == FETCH_STEP_SCAN ? floor : set.data);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, items);
        if (r < 0) {
                imap_cmd_free(cmd);
                return r;
        }
        r = connection_send(c, cmd, on_fetch_done);
        if (r < 0)
                return r;
        f->step = step;
        connection_set_state(c, CONNECTION_FETCHING);
        return 0;
}

int fetch_send(Connection *c) {
        Fetch *f = &c->fetch;
        int r;

        assert(f->step == FETCH_STEP_WANTED);
        if (f->details_max > 0) {
                f->ring = calloc(f->details_max, sizeof(uint32_t));
                if (!f->ring)
                        return connection_fail(c, -ENOMEM, "out of memory");
        }
        r = send_step(c, FETCH_STEP_SCAN);
        if (r < 0)
                return connection_fail_session(c, r);
        return 0;
}

static int on_fetch_done(Connection *c, const ImapResponse *resp, bool ok, const char *text) {
        Fetch *f = &c->fetch;
        WatchFetchResult res;
        Watch *w = f->watch;
        int r;

        (void) resp;
        if (ok && f->step == FETCH_STEP_SCAN && f->details_max > 0 && f->res.count > 0) {
                r = send_step(c, FETCH_STEP_DETAILS);
                if (r < 0)
                        return connection_fail_session(c, r);
                return 0;
        }
        if (!ok)
                log_warning("%s: UID FETCH refused: %s", connection_name(c), text);
        res = f->res;
        f->res = (WatchFetchResult) {};
        r = !ok ? -EIO : f->stale ? -ESTALE : 0;
        fetch_reset(f);
        if (res.n_details > 1)
                qsort(res.details, res.n_details, sizeof(MessageDetails), cmp_details);
        /* The watch may ask for the next fetch from here: resume() sees it. */
        watch_fetch_done(w, r, &res);
        watch_fetch_result_done(&res);
        if (!c->s)
                return 0;
        return c->mode->resume(c);
}
