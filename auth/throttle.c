/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "throttle.h"

#include <glib.h>

struct entry {
	unsigned failures;
	unsigned pending; /* attempts begun and not ended */
	int64_t locked_until_us;
	int64_t last_us;
};

struct throttle {
	unsigned max_failures, base_s, max_s, max_entries;
	GHashTable *entries; /* key → struct entry* */
	int64_t last_prune_us;
};

struct throttle *
throttle_create(unsigned max_failures, unsigned base_s, unsigned max_s, unsigned max_entries)
{
	struct throttle *t = g_new0(struct throttle, 1);
	t->max_failures = max_failures;
	t->base_s = base_s ? base_s : 1;
	t->max_s = max_s ? max_s : 900;
	t->max_entries = max_entries ? max_entries : 100000;
	t->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return t;
}

void
throttle_destroy(struct throttle *t)
{
	if (!t) {
		return;
	}
	g_hash_table_destroy(t->entries);
	g_free(t);
}

/* Drops entries idle past max_s; when still too many, the least recently used half. */
static void
prune(struct throttle *t, int64_t now_us)
{
	GHashTableIter it;
	gpointer v;
	int64_t idle_us = (int64_t)t->max_s * 2 * G_USEC_PER_SEC;
	g_hash_table_iter_init(&it, t->entries);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct entry *e = v;
		if (now_us - e->last_us > idle_us && e->locked_until_us <= now_us &&
		    e->pending == 0) {
			g_hash_table_iter_remove(&it);
		}
	}
	if (g_hash_table_size(t->entries) < t->max_entries) {
		return;
	}
	GArray *ages = g_array_new(FALSE, FALSE, sizeof(int64_t));
	g_hash_table_iter_init(&it, t->entries);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		g_array_append_val(ages, ((struct entry *)v)->last_us);
	}
	/* Cut halfway between the oldest and the newest activity. */
	int64_t cut;
	int64_t lo = G_MAXINT64, hi = G_MININT64;
	for (guint i = 0; i < ages->len; i++) {
		lo = MIN(lo, g_array_index(ages, int64_t, i));
		hi = MAX(hi, g_array_index(ages, int64_t, i));
	}
	cut = lo + (hi - lo) / 2;
	g_array_free(ages, TRUE);
	g_hash_table_iter_init(&it, t->entries);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		if (((struct entry *)v)->last_us <= cut) {
			g_hash_table_iter_remove(&it);
		}
	}
}

unsigned
throttle_check(struct throttle *t, const char *key, int64_t now_us)
{
	struct entry *e = g_hash_table_lookup(t->entries, key);
	if (!e) {
		return 0;
	}
	if (e->locked_until_us > now_us) {
		return (unsigned)((e->locked_until_us - now_us + G_USEC_PER_SEC - 1) /
				  G_USEC_PER_SEC);
	}
	/*
	 * Attempts in flight may all fail: before the lock, only as many may run as free
	 * failures are left; once a lock has run out, one attempt at a time.
	 */
	if (e->failures >= t->max_failures) {
		return e->pending > 0 ? 1 : 0;
	}
	return e->failures + e->pending >= t->max_failures ? 1 : 0;
}

static struct entry *
entry_get(struct throttle *t, const char *key, int64_t now_us)
{
	if (now_us - t->last_prune_us > 60 * G_USEC_PER_SEC ||
	    g_hash_table_size(t->entries) >= t->max_entries) {
		prune(t, now_us);
		t->last_prune_us = now_us;
	}
	struct entry *e = g_hash_table_lookup(t->entries, key);
	if (!e) {
		e = g_new0(struct entry, 1);
		g_hash_table_insert(t->entries, g_strdup(key), e);
	}
	e->last_us = now_us;
	return e;
}

void
throttle_begin(struct throttle *t, const char *key, int64_t now_us)
{
	entry_get(t, key, now_us)->pending++;
}

static void
pending_done(struct throttle *t, const char *key)
{
	struct entry *e = g_hash_table_lookup(t->entries, key);
	if (e && e->pending > 0) {
		e->pending--;
	}
}

void
throttle_abandon(struct throttle *t, const char *key)
{
	pending_done(t, key);
}

void
throttle_fail(struct throttle *t, const char *key, int64_t now_us)
{
	pending_done(t, key);
	struct entry *e = entry_get(t, key, now_us);
	e->failures++;
	e->last_us = now_us;
	if (e->failures >= t->max_failures) {
		unsigned n = e->failures - t->max_failures;
		uint64_t lock = n >= 20 ? t->max_s : MIN((uint64_t)t->base_s << n, (uint64_t)t->max_s);
		e->locked_until_us = now_us + (int64_t)lock * G_USEC_PER_SEC;
	}
}

void
throttle_success(struct throttle *t, const char *key)
{
	pending_done(t, key);
	struct entry *e = g_hash_table_lookup(t->entries, key);
	if (e && e->pending == 0) {
		g_hash_table_remove(t->entries, key);
	} else if (e) {
		e->failures = 0;
		e->locked_until_us = 0;
	}
}
