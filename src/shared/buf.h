/* SPDX-License-Identifier: MIT */
/*
 * buf.h: a growable byte buffer that grows on demand and can shrink back.
 *
 * Per-connection memory is what decides how many mailboxes one daemon can
 * watch, so buffers start empty, grow geometrically only as bytes arrive, and
 * are shrunk by their owner once a large response has been consumed.  The
 * buffer always keeps one spare byte so the data can be NUL-terminated for
 * debugging; the content itself is binary and always handled by length.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct Buf {
        char *data;     /* NULL until the first byte is stored */
        size_t len;     /* bytes in use */
        size_t cap;     /* bytes allocated */
} Buf;

#define BUF_INIT ((Buf) { NULL, 0, 0 })

/* Make room for at least 'extra' more bytes (plus the spare NUL byte).
 * Fails with -EMSGSIZE when len + extra would exceed 'max' (0 means no cap
 * other than SIZE_MAX), and -ENOMEM when allocation fails.  On failure the
 * buffer is unchanged.  Pointers into data are invalidated on success. */
int buf_reserve(Buf *b, size_t extra, size_t max);

/* Append n bytes, as buf_reserve() then memcpy. */
int buf_append(Buf *b, const void *p, size_t n, size_t max);

/* Forget the content, keep the allocation. */
static inline void buf_clear(Buf *b) {
        b->len = 0;
}

/* Forget the content and give memory back if more than 'keep' bytes are
 * allocated, so one large response does not pin memory for the lifetime of
 * the connection. */
void buf_shrink(Buf *b, size_t keep);

/* Free the allocation; the Buf is reset to BUF_INIT. */
void buf_done(Buf *b);

/* Overwrite the whole allocation with zeros first: for buffers that held a
 * password, a token or a SASL exchange. */
void buf_done_secure(Buf *b);
