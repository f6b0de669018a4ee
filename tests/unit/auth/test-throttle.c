/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Login throttling (auth/throttle.c): free failures, the growing lock, a
 * success clearing the key, independent keys, and the bounded table. The .c
 * is included to see the table's size. Time is passed in, so nothing waits.
 */
#include "auth/throttle.c"

#include <glib.h>

#define S(n) ((int64_t)(n) * G_USEC_PER_SEC)
#define T0 S(1700000000)

static unsigned
entries(struct throttle *t)
{
	return g_hash_table_size(t->entries);
}

/* After max_failures failures the key is locked (-32029 for the next attempt); before, not. */
static void
test_free_failures(void)
{
	struct throttle *t = throttle_create(5, 1, 900, 1000);
	g_assert_cmpuint(throttle_check(t, "0912345678", T0), ==, 0);
	for (int i = 1; i < 5; i++) {
		throttle_fail(t, "0912345678", T0 + S(i));
		g_assert_cmpuint(throttle_check(t, "0912345678", T0 + S(i)), ==, 0);
	}
	throttle_fail(t, "0912345678", T0 + S(5));
	unsigned wait = throttle_check(t, "0912345678", T0 + S(5));
	g_assert_cmpuint(wait, >=, 1);
	/* Another key is not affected. */
	g_assert_cmpuint(throttle_check(t, "0912345679", T0 + S(5)), ==, 0);
	/* The lock ends. */
	g_assert_cmpuint(throttle_check(t, "0912345678", T0 + S(5) + S(wait)), ==, 0);
	throttle_destroy(t);
}

/* Each failure past the limit doubles the lock, up to max_s; the wait is rounded up. */
static void
test_growing_lock(void)
{
	struct throttle *t = throttle_create(3, 1, 20, 1000);
	int64_t now = T0;
	for (int i = 0; i < 2; i++) {
		throttle_fail(t, "k", now);
	}
	unsigned prev = 0;
	unsigned seen[10];
	for (int i = 0; i < 10; i++) {
		throttle_fail(t, "k", now);
		unsigned w = throttle_check(t, "k", now);
		seen[i] = w;
		g_test_message("failure %d past the free ones: wait %u s", i + 1, w);
		g_assert_cmpuint(w, >=, 1);
		g_assert_cmpuint(w, <=, 20);
		g_assert_cmpuint(w, >=, prev);
		/* Waiting it out frees the key for exactly one more try. */
		g_assert_cmpuint(throttle_check(t, "k", now + S(w) - 1), >=, 1);
		g_assert_cmpuint(throttle_check(t, "k", now + S(w)), ==, 0);
		prev = w;
		now += S(w);
	}
	g_assert_cmpuint(seen[0], ==, 1);
	g_assert_cmpuint(seen[1], ==, 2);
	g_assert_cmpuint(seen[2], ==, 4);
	g_assert_cmpuint(seen[3], ==, 8);
	g_assert_cmpuint(seen[4], ==, 16);
	g_assert_cmpuint(seen[5], ==, 20); /* capped */
	g_assert_cmpuint(seen[9], ==, 20);

	/* Rounded up to whole seconds, never 0 while locked. */
	g_assert_cmpuint(throttle_check(t, "k", now - S(20) + 1), ==, 20);
	g_assert_cmpuint(throttle_check(t, "k", now - 1), ==, 1);

	/* A long run of failures does not overflow the shift. */
	for (int i = 0; i < 100; i++) {
		throttle_fail(t, "k", now);
	}
	g_assert_cmpuint(throttle_check(t, "k", now), ==, 20);
	throttle_destroy(t);

	/* base_s scales the lock. */
	t = throttle_create(1, 5, 900, 1000);
	throttle_fail(t, "k", T0);
	g_assert_cmpuint(throttle_check(t, "k", T0), ==, 5);
	throttle_fail(t, "k", T0);
	g_assert_cmpuint(throttle_check(t, "k", T0), ==, 10);
	throttle_destroy(t);
}

/* A success clears the key: no lock, and the free failures start over. */
static void
test_success_clears(void)
{
	struct throttle *t = throttle_create(3, 1, 900, 1000);
	for (int i = 0; i < 6; i++) {
		throttle_fail(t, "k", T0);
	}
	g_assert_cmpuint(throttle_check(t, "k", T0), >, 1);
	throttle_success(t, "k");
	g_assert_cmpuint(throttle_check(t, "k", T0), ==, 0);
	throttle_fail(t, "k", T0);
	throttle_fail(t, "k", T0);
	g_assert_cmpuint(throttle_check(t, "k", T0), ==, 0);
	throttle_fail(t, "k", T0);
	g_assert_cmpuint(throttle_check(t, "k", T0), ==, 1);
	/* Clearing an unknown key is harmless. */
	throttle_success(t, "never-seen");
	g_assert_cmpuint(entries(t), ==, 1);
	throttle_destroy(t);
	throttle_destroy(NULL);
}

/* A flood of made-up keys never grows the table past max_entries; the most recent keys
 * (and their locks) survive, the oldest go first. */
static void
test_pruning_bound(void)
{
	enum { MAX = 64 };
	struct throttle *t = throttle_create(1, 60, 900, MAX);
	char key[32];
	for (int i = 0; i < 5000; i++) {
		g_snprintf(key, sizeof(key), "made-up-%d", i);
		throttle_fail(t, key, T0 + i * 1000);
		g_assert_cmpuint(entries(t), <=, MAX);
	}
	/* The newest key is still locked; the oldest one was forgotten. */
	g_assert_cmpuint(throttle_check(t, "made-up-4999", T0 + 4999 * 1000), >=, 1);
	g_assert_cmpuint(throttle_check(t, "made-up-0", T0 + 4999 * 1000), ==, 0);
	g_assert_null(g_hash_table_lookup(t->entries, "made-up-0"));
	throttle_destroy(t);

	/* Even when every failure has the same time stamp. */
	t = throttle_create(1, 60, 900, MAX);
	for (int i = 0; i < 1000; i++) {
		g_snprintf(key, sizeof(key), "same-time-%d", i);
		throttle_fail(t, key, T0);
		g_assert_cmpuint(entries(t), <=, MAX);
		g_assert_cmpuint(throttle_check(t, key, T0), >=, 1);
	}
	throttle_destroy(t);
}

/* Idle keys are forgotten without any pressure on the table. */
static void
test_idle_forgotten(void)
{
	struct throttle *t = throttle_create(5, 1, 900, 1000);
	throttle_fail(t, "old", T0);
	throttle_fail(t, "old", T0);
	g_assert_cmpuint(entries(t), ==, 1);
	/* Much later (well past max_s), the next failure of another key prunes it. */
	throttle_fail(t, "new", T0 + S(900 * 3));
	g_assert_null(g_hash_table_lookup(t->entries, "old"));
	g_assert_cmpuint(entries(t), ==, 1);

	/* A key that failed recently is kept (and stays locked) when the others are pruned. */
	struct throttle *u = throttle_create(1, 1, 10, 1000);
	throttle_fail(u, "stale", T0);
	for (int i = 0; i < 10; i++) {
		throttle_fail(u, "recent", T0 + S(55));
	}
	throttle_fail(u, "other", T0 + S(61));
	g_assert_null(g_hash_table_lookup(u->entries, "stale"));
	g_assert_nonnull(g_hash_table_lookup(u->entries, "recent"));
	g_assert_cmpuint(throttle_check(u, "recent", T0 + S(61)), ==, 4);
	throttle_destroy(u);
	throttle_destroy(t);
}

/* Attempts still running count: five in flight leave no room for a sixth, and a success
 * clears the failures without forgetting the others in flight. */
static void
test_pending_attempts(void)
{
	struct throttle *t = throttle_create(5, 1, 900, 1000);
	for (int i = 0; i < 5; i++) {
		g_assert_cmpuint(throttle_check(t, "u:a", T0), ==, 0);
		throttle_begin(t, "u:a", T0);
	}
	g_assert_cmpuint(throttle_check(t, "u:a", T0), >=, 1);
	throttle_fail(t, "u:a", T0);
	throttle_fail(t, "u:a", T0);
	g_assert_cmpuint(throttle_check(t, "u:a", T0), >=, 1);
	throttle_success(t, "u:a");
	/* Two still running, no failures: three more may start. */
	g_assert_cmpuint(throttle_check(t, "u:a", T0), ==, 0);
	throttle_abandon(t, "u:a");
	throttle_abandon(t, "u:a");
	g_assert_cmpuint(throttle_check(t, "u:a", T0), ==, 0);
	throttle_destroy(t);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/throttle/free-failures", test_free_failures);
	g_test_add_func("/throttle/growing-lock", test_growing_lock);
	g_test_add_func("/throttle/success-clears", test_success_clears);
	g_test_add_func("/throttle/pending-attempts", test_pending_attempts);
	g_test_add_func("/throttle/pruning-bound", test_pruning_bound);
	g_test_add_func("/throttle/idle-forgotten", test_idle_forgotten);
	return g_test_run();
}
