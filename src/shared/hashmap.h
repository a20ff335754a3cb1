/* SPDX-License-Identifier: MIT */
/*
 * hashmap.h: a map from strings to pointers, for lookups that must not walk
 * a list: the scheduler's locks by key, accounts by name on reload, shared
 * TLS contexts by their settings (docs/SCALING.md).
 *
 * Open addressing with linear probing, at most 3/4 full; get, put and
 * remove are O(1) on average.  Keys are not copied: a key must stay valid
 * and unchanged while it is in the map (typically it lives in the value).
 * The hash is FNV-1a, not keyed: the keys come from the configuration, or
 * from a server's LIST bounded to a thousand names (src/daemon/lister.c), where
 * collisions a server might choose cost at worst a thousand probes each.
 */
#pragma once

#include <stddef.h>

#include "macro.h"

typedef struct Hashmap Hashmap;

int hashmap_new(Hashmap **ret);
/* Frees the table only, never the keys or values.  NULL-safe, returns NULL. */
Hashmap *hashmap_free(Hashmap *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Hashmap *, hashmap_free);

/* The value stored for 'key', or NULL. */
void *hashmap_get(const Hashmap *h, const char *key);
/* Store 'value' (not NULL) under 'key'.  Returns 0, -EEXIST if the key is
 * there already (nothing changes), -EINVAL for a NULL value, -ENOMEM. */
int hashmap_put(Hashmap *h, const char *key, void *value);
/* Take 'key' out; returns its value, or NULL if it was not there. */
void *hashmap_remove(Hashmap *h, const char *key);
size_t hashmap_size(const Hashmap *h);
