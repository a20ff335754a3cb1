/* SPDX-License-Identifier: MIT */
/* hashmap.c: strings to pointers, open addressing; see hashmap.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

typedef struct Slot {
        const char *key;        /* NULL: empty */
        void *value;
        uint64_t hash;
} Slot;

struct Hashmap {
        Slot *slots;
        size_t cap;             /* a power of two, or 0 */
        size_t n;
};

static uint64_t hash_str(const char *s) {
        uint64_t h = 14695981039346656037ULL;

        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 1099511628211ULL;
        }
        return h;
}

int hashmap_new(Hashmap **ret) {
        Hashmap *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        *ret = h;
        return 0;
}

Hashmap *hashmap_free(Hashmap *h) {
        if (!h)
                return NULL;
        free(h->slots);
        free(h);
        return NULL;
}

size_t hashmap_size(const Hashmap *h) {
        return h ? h->n : 0;
}

/* The slot holding 'key', or the empty slot where it would go. */
static size_t find(const Hashmap *h, const char *key, uint64_t hash) {
        size_t mask = h->cap - 1, i = (size_t) hash & mask;

        while (h->slots[i].key && (h->slots[i].hash != hash || strcmp(h->slots[i].key, key) != 0))
                i = (i + 1) & mask;
        return i;
}

void *hashmap_get(const Hashmap *h, const char *key) {
        size_t i;

        if (!h || h->n == 0)
                return NULL;
        i = find(h, key, hash_str(key));
        return h->slots[i].key ? h->slots[i].value : NULL;
}

static int grow(Hashmap *h) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        Slot *old = h->slots, *ns;
        size_t ocap = h->cap;

        ns = calloc(ncap, sizeof(Slot));
        if (!ns)
                return -ENOMEM;
        h->slots = ns;
        h->cap = ncap;
        for (size_t i = 0; i < ocap; i++)
                if (old[i].key)
                        h->slots[find(h, old[i].key, old[i].hash)] = old[i];
        free(old);
        return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value) {
        uint64_t hash = hash_str(key);
        size_t i;
        int r;

        if (!value)
                return -EINVAL;
        if ((h->n + 1) * 4 > h->cap * 3) {
                r = grow(h);
                if (r < 0)
                        return r;
        }
        i = find(h, key, hash);
        if (h->slots[i].key)
                return -EEXIST;
        h->slots[i] = (Slot) { key, value, hash };
        h->n++;
        return 0;
}

void *hashmap_remove(Hashmap *h, const char *key) {
        size_t mask, i, j;
        void *value;

        if (!h || h->n == 0)
                return NULL;
        mask = h->cap - 1;
        i = find(h, key, hash_str(key));
        if (!h->slots[i].key)
                return NULL;
        value = h->slots[i].value;
        h->slots[i] = (Slot) {};
        h->n--;
        /* Backward-shift deletion: pull later members of the probe run into the gap so
         * that every key stays reachable from its home slot without tombstones. */
        for (j = (i + 1) & mask; h->slots[j].key; j = (j + 1) & mask) {
                size_t home = (size_t) h->slots[j].hash & mask;

                /* Move j into i unless its home lies cyclically in (i, j]. */
                if (((j - home) & mask) >= ((j - i) & mask)) {
                        h->slots[i] = h->slots[j];
                        h->slots[j] = (Slot) {};
                        i = j;
                }
        }
        if (h->n == 0) {
                free(h->slots);
                h->slots = NULL;
                h->cap = 0;
        }
        return value;
}
