/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The store (migrations, PRAGMAs, constraints, group commit, shutdown,
 * backup), the demo data and password hashing. Every test works in its own
 * temporary data directory.
 */
#include "portal/store-private.h"
#include "tiepdan/demo.h"
#include "tiepdan/password.h"
#include "tiepdan/store.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

struct fx {
	char *dir;
	struct store *s;
	/* store_events.commit */
	unsigned groups;
	unsigned failed_groups;
	unsigned jobs_reported;
	GArray *group_sizes; /* unsigned */
};

static void
on_commit(void *data, double seconds, unsigned jobs, bool ok)
{
	struct fx *f = data;
	g_assert_cmpfloat(seconds, >=, 0);
	f->groups++;
	f->jobs_reported += jobs;
	f->failed_groups += !ok;
	g_array_append_val(f->group_sizes, jobs);
}

static const struct store_events events = {
    .version = STORE_EVENTS_VERSION,
    .commit = on_commit,
};

static struct store *
open_store(struct fx *f, bool async)
{
	struct store_options o;
	store_options_init(&o);
	o.async = async;
	struct store *s = store_open(f->dir, &o);
	g_assert_nonnull(s);
	store_set_events(s, &events, f);
	return s;
}

static void
fx_setup(struct fx *f, gconstpointer unused)
{
	GError *error = NULL;
	f->dir = g_dir_make_tmp("tiepdan-store-XXXXXX", &error);
	g_assert_no_error(error);
	f->group_sizes = g_array_new(FALSE, FALSE, sizeof(unsigned));
	f->s = open_store(f, true);
}

static void
rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	if (d) {
		const char *name;
		while ((name = g_dir_read_name(d))) {
			char *child = g_build_filename(path, name, NULL);
			rm_rf(child);
			g_free(child);
		}
		g_dir_close(d);
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}

static void
fx_teardown(struct fx *f, gconstpointer unused)
{
	store_destroy(f->s);
	rm_rf(f->dir);
	g_free(f->dir);
	g_array_unref(f->group_sizes);
}

/* ---- helpers ---- */

static gboolean
tick(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Runs the default context until *flag (at most 30 s). */
static void
iterate_until(const bool *flag)
{
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	guint id = g_timeout_add(50, tick, NULL);
	while (!*flag) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, TRUE);
	}
	g_source_remove(id);
}

static void
iterate_for(unsigned ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;
	guint id = g_timeout_add(10, tick, NULL);
	while (g_get_monotonic_time() < end) {
		g_main_context_iteration(NULL, TRUE);
	}
	g_source_remove(id);
}

static long long
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *
query_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
	char *v = g_strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static bool
meta_has(struct store *s, const char *key)
{
	sqlite3_stmt *st = NULL;
	g_assert_cmpint(
	    sqlite3_prepare_v2(store_reader(s), "SELECT 1 FROM meta WHERE key = ?1", -1, &st, NULL),
	    ==, SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	bool found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static int
insert_meta(sqlite3 *db, const char *key)
{
	const char *p[] = {key, "v"};
	return store_exec_text(db, "INSERT INTO meta (key, value) VALUES (?1, ?2)", p, 2);
}

/* ---- migrations and settings ---- */

static void
test_migrations(struct fx *f, gconstpointer unused)
{
	g_assert_cmpint(store_schema_version(f->s), ==, (int)store_n_migrations);
	g_assert_cmpint(store_check(f->s), ==, 0);
	sqlite3 *r = store_reader(f->s);
	g_assert_cmpint(query_int(r, "PRAGMA user_version"), ==, (long long)store_n_migrations);
	g_assert_cmpint(query_int(r, "PRAGMA application_id"), ==, STORE_APPLICATION_ID);
	g_assert_cmpint(query_int(r,
	                          "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
	                          "name IN ('meta', 'agencies', 'users', 'user_roles', 'fields')"),
	                ==, 5);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM fields"), ==, 9);
	char *created = query_text(r, "SELECT value FROM meta WHERE key = 'created_at'");
	g_assert_true(g_str_has_suffix(created, "+07:00"));

	char *path = g_build_filename(f->dir, "tiepdan.db", NULL);
	g_assert_cmpstr(store_path(f->s), ==, path);
	GStatBuf st;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(g_stat(f->dir, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	g_free(path);

	/* Reopening applies nothing and keeps the data. */
	store_destroy(f->s);
	f->s = open_store(f, true);
	r = store_reader(f->s);
	g_assert_cmpint(store_schema_version(f->s), ==, (int)store_n_migrations);
	char *again = query_text(r, "SELECT value FROM meta WHERE key = 'created_at'");
	g_assert_cmpstr(created, ==, again);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM fields"), ==, 9);
	g_free(again);
	g_free(created);

	/* A data directory that does not exist yet is created (0700). */
	char *nested = g_build_filename(f->dir, "a", "b", NULL);
	struct store_options o;
	store_options_init(&o);
	o.async = false;
	struct store *s2 = store_open(nested, &o);
	g_assert_nonnull(s2);
	store_destroy(s2);
	g_free(nested);
}

struct pragmas {
	int cache_size;
	char *journal_mode;
	int foreign_keys;
	int synchronous;
	int defensive;
	int dqs_prepare_rc;
};

static int
read_pragmas(sqlite3 *db, void *data)
{
	struct pragmas *p = data;
	p->cache_size = (int)query_int(db, "PRAGMA cache_size");
	p->journal_mode = query_text(db, "PRAGMA journal_mode");
	p->foreign_keys = (int)query_int(db, "PRAGMA foreign_keys");
	p->synchronous = (int)query_int(db, "PRAGMA synchronous");
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &p->defensive);
	sqlite3_stmt *st = NULL;
	p->dqs_prepare_rc = sqlite3_prepare_v2(db, "SELECT \"no such column\"", -1, &st, NULL);
	sqlite3_finalize(st);
	return 0;
}

static void
test_pragmas(struct fx *f, gconstpointer unused)
{
	struct pragmas p = {0};
	g_assert_cmpint(store_write_sync(f->s, read_pragmas, &p), ==, 0);
	g_assert_cmpstr(p.journal_mode, ==, "wal");
	g_assert_cmpint(p.foreign_keys, ==, 1);
	g_assert_cmpint(p.synchronous, ==, 2);
	g_assert_cmpint(p.cache_size, ==, -64 * 1024); /* cache_mb: 64 MiB, as KiB */
	g_assert_cmpint(p.defensive, ==, 1);
	g_assert_cmpint(p.dqs_prepare_rc, !=, SQLITE_OK);
	g_free(p.journal_mode);

	sqlite3 *r = store_reader(f->s);
	char *mode = query_text(r, "PRAGMA journal_mode");
	g_assert_cmpstr(mode, ==, "wal");
	g_free(mode);
	g_assert_cmpint(query_int(r, "PRAGMA foreign_keys"), ==, 1);
	g_assert_true(sqlite3_db_readonly(r, "main"));

	/* sync_full = false: synchronous=NORMAL. */
	store_destroy(f->s);
	struct store_options o;
	store_options_init(&o);
	o.sync_full = false;
	o.cache_mb = 3;
	f->s = store_open(f->dir, &o);
	g_assert_nonnull(f->s);
	p = (struct pragmas){0};
	g_assert_cmpint(store_write_sync(f->s, read_pragmas, &p), ==, 0);
	g_assert_cmpint(p.synchronous, ==, 1);
	g_assert_cmpint(p.cache_size, ==, -3 * 1024);
	g_assert_cmpint(query_int(store_reader(f->s), "PRAGMA cache_size"), ==, -3 * 1024);
	g_free(p.journal_mode);
}

/* ---- constraints ---- */

struct bad_row {
	const char *sql;
	int expect;
};

static const struct bad_row bad_rows[] = {
    /* a second city */
    {"INSERT INTO agencies VALUES ('c2', 'C2', 'City 2', NULL, 'city', NULL, 't')", -EEXIST},
    /* only the city has no parent; the city has none */
    {"INSERT INTO agencies VALUES ('w1', 'W1', 'Ward', NULL, 'ward', NULL, 't')", -EINVAL},
    {"INSERT INTO agencies VALUES ('c3', 'C3', 'City', NULL, 'city', 'c1', 't')", -EINVAL},
    {"INSERT INTO agencies VALUES ('d1', 'D1', 'District', NULL, 'district', 'c1', 't')", -EINVAL},
    {"INSERT INTO agencies VALUES ('w2', 'lower', 'Ward', NULL, 'ward', 'c1', 't')", -EINVAL},
    {"INSERT INTO agencies VALUES ('w3', 'W3', 'Ward', NULL, 'ward', 'nope', 't')", -EINVAL},
    {"INSERT INTO agencies VALUES ('w4', 'C1', 'Ward', NULL, 'ward', 'c1', 't')", -EEXIST},
    {"INSERT INTO agencies VALUES (NULL, 'W5', 'Ward', NULL, 'ward', 'c1', 't')", -EINVAL},
    /* STRICT: a blob is not text */
    {"INSERT INTO meta VALUES ('k', x'00')", -EINVAL},
    {"INSERT INTO users (id, login, full_name, password_hash, created_at, disabled) "
     "VALUES ('u6', 'w', 'W', '$argon2id$v', 't', 'no')",
     -EINVAL},
    /* users */
    {"INSERT INTO users (id, login, full_name, national_id, password_hash, created_at) "
     "VALUES ('u2', 'x', 'X', '12345678901', '$argon2id$v', 't')",
     -EINVAL},
    {"INSERT INTO users (id, login, full_name, password_hash, created_at) "
     "VALUES ('u3', 'y', 'Y', 'plaintext', 't')",
     -EINVAL},
    {"INSERT INTO users (id, login, full_name, password_hash, created_at) "
     "VALUES ('u4', 'ALICE', 'A', '$argon2id$v', 't')",
     -EEXIST},
    {"INSERT INTO users (id, login, full_name, password_hash, created_at, disabled) "
     "VALUES ('u5', 'z', 'Z', '$argon2id$v', 't', 2)",
     -EINVAL},
    /* roles: citizen and admin outside agencies, others inside; no duplicates */
    {"INSERT INTO user_roles VALUES ('u1', 'official', NULL)", -EINVAL},
    {"INSERT INTO user_roles VALUES ('u1', 'citizen', 'c1')", -EINVAL},
    {"INSERT INTO user_roles VALUES ('u1', 'admin', NULL)", -EEXIST},
    {"INSERT INTO user_roles VALUES ('u1', 'leader', 'c1')", -EEXIST},
    {"INSERT INTO user_roles VALUES ('u1', 'mayor', 'c1')", -EINVAL},
    {"INSERT INTO user_roles VALUES ('nobody', 'admin', NULL)", -EINVAL},
    {"INSERT INTO user_roles VALUES ('u1', 'staff', 'nope')", -EINVAL},
    {"INSERT INTO fields VALUES ('land', 'x', 'x', NULL)", -EEXIST},
    {"UPDATE fields SET managing_agency_id = 'nope' WHERE code = 'land'", -EINVAL},
};

struct constraint_run {
	int good[6];
	int bad[G_N_ELEMENTS(bad_rows)];
};

static int
try_rows(sqlite3 *db, void *data)
{
	struct constraint_run *run = data;
	static const char *const good[] = {
	    "INSERT INTO agencies VALUES ('c1', 'C1', 'City', NULL, 'city', NULL, 't')",
	    "INSERT INTO agencies VALUES ('w0', 'W-0', 'Ward', NULL, 'ward', 'c1', 't')",
	    "INSERT INTO users (id, login, full_name, national_id, password_hash, created_at) "
	    "VALUES ('u1', 'alice', 'Alice', '012345678901', '$argon2id$v', 't')",
	    "INSERT INTO user_roles VALUES ('u1', 'admin', NULL)",
	    "INSERT INTO user_roles VALUES ('u1', 'leader', 'c1')",
	    "INSERT INTO user_roles VALUES ('u1', 'leader', 'w0')",
	};
	G_STATIC_ASSERT(G_N_ELEMENTS(good) == G_N_ELEMENTS(run->good));
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
		run->good[i] = store_exec_text(db, good[i], NULL, 0);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad_rows); i++) {
		run->bad[i] = store_exec_text(db, bad_rows[i].sql, NULL, 0);
	}
	return -ECANCELED; /* leave nothing behind */
}

static void
test_constraints(struct fx *f, gconstpointer unused)
{
	struct constraint_run run;
	g_assert_cmpint(store_write_sync(f->s, try_rows, &run), ==, -ECANCELED);
	for (size_t i = 0; i < G_N_ELEMENTS(run.good); i++) {
		g_assert_cmpint(run.good[i], ==, 0);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad_rows); i++) {
		if (run.bad[i] != bad_rows[i].expect) {
			g_test_message("row %zu: %s", i, bad_rows[i].sql);
		}
		g_assert_cmpint(run.bad[i], ==, bad_rows[i].expect);
	}
	g_assert_cmpint(query_int(store_reader(f->s), "SELECT count(*) FROM agencies"), ==, 0);
}

/* ---- group commit ---- */

#define N_JOBS 200
#define FIRST_WAVE 50

struct gc_job {
	struct fx *f;
	unsigned index;
	int status;
	bool done;
};

struct gc {
	struct fx *f;
	struct gc_job jobs[N_JOBS];
	unsigned queued;
	unsigned answered;
	unsigned last_answered;
	bool all_done;
};

static struct gc *gc_current;

static void gc_queue(struct gc *g);

static int
gc_fn(sqlite3 *db, void *data)
{
	struct gc_job *j = data;
	char key[16];
	g_snprintf(key, sizeof(key), "job-%03u", j->index);
	int err = insert_meta(db, key);
	/* Jobs queued while a group is being built belong to the next group. */
	if (j->index < FIRST_WAVE) {
		for (int k = 0; k < 3; k++) {
			gc_queue(gc_current);
		}
	}
	return err;
}

static void
gc_done(int status, void *data)
{
	struct gc_job *j = data;
	struct gc *g = gc_current;
	g_assert_false(j->done);
	j->done = true;
	j->status = status;
	/* FIFO: answers come in queue order. */
	if (g->answered > 0) {
		g_assert_cmpuint(j->index, ==, g->last_answered + 1);
	}
	g->last_answered = j->index;
	g->all_done = ++g->answered == N_JOBS;
}

static void
gc_queue(struct gc *g)
{
	g_assert_cmpuint(g->queued, <, N_JOBS);
	struct gc_job *j = &g->jobs[g->queued];
	*j = (struct gc_job){.f = g->f, .index = g->queued};
	g->queued++;
	g_assert_cmpint(store_write(g->f->s, gc_fn, gc_done, j), ==, 0);
}

static gboolean
gc_first_wave(gpointer data)
{
	struct gc *g = data;
	for (int i = 0; i < FIRST_WAVE; i++) {
		gc_queue(g);
	}
	return G_SOURCE_REMOVE;
}

static void
test_group_commit(struct fx *f, gconstpointer unused)
{
	struct gc *g = g_new0(struct gc, 1);
	g->f = f;
	gc_current = g;
	g_idle_add(gc_first_wave, g);
	iterate_until(&g->all_done);

	g_assert_cmpuint(g->queued, ==, N_JOBS);
	for (unsigned i = 0; i < N_JOBS; i++) {
		g_assert_cmpint(g->jobs[i].status, ==, 0);
	}
	/* The first wave is one group; everything it queued is the second. */
	g_assert_cmpuint(f->groups, ==, 2);
	g_assert_cmpuint(g_array_index(f->group_sizes, unsigned, 0), ==, FIRST_WAVE);
	g_assert_cmpuint(g_array_index(f->group_sizes, unsigned, 1), ==, N_JOBS - FIRST_WAVE);
	g_assert_cmpuint(f->jobs_reported, ==, N_JOBS);
	g_assert_cmpuint(f->failed_groups, ==, 0);
	g_assert_cmpuint(store_pending(f->s), ==, 0);
	g_assert_cmpint(
	    query_int(store_reader(f->s), "SELECT count(*) FROM meta WHERE key GLOB 'job-*'"), ==,
	    N_JOBS);
	gc_current = NULL;
	g_free(g);
}

/* One job per main loop iteration, while commits are in flight. */
struct stream {
	struct fx *f;
	unsigned queued;
	unsigned answered;
	bool all_done;
	int statuses[N_JOBS];
	unsigned indexes[N_JOBS];
};

static int
stream_fn(sqlite3 *db, void *data)
{
	char key[16];
	g_snprintf(key, sizeof(key), "s-%03u", *(unsigned *)data);
	return insert_meta(db, key);
}

static struct stream *stream_current;

static void
stream_done(int status, void *data)
{
	struct stream *st = stream_current;
	st->statuses[*(unsigned *)data] = status;
	st->all_done = ++st->answered == N_JOBS;
}

static gboolean
stream_add(gpointer data)
{
	struct stream *st = data;
	st->indexes[st->queued] = st->queued;
	g_assert_cmpint(store_write(st->f->s, stream_fn, stream_done, &st->indexes[st->queued]), ==,
	                0);
	return ++st->queued < N_JOBS ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
test_group_commit_stream(struct fx *f, gconstpointer unused)
{
	struct stream *st = g_new0(struct stream, 1);
	st->f = f;
	stream_current = st;
	g_idle_add(stream_add, st);
	iterate_until(&st->all_done);
	for (unsigned i = 0; i < N_JOBS; i++) {
		g_assert_cmpint(st->statuses[i], ==, 0);
	}
	g_test_message("%u jobs in %u groups", N_JOBS, f->groups);
	g_assert_cmpuint(f->jobs_reported, ==, N_JOBS);
	g_assert_cmpuint(f->groups, <=, N_JOBS);
	g_assert_cmpint(
	    query_int(store_reader(f->s), "SELECT count(*) FROM meta WHERE key GLOB 's-*'"), ==,
	    N_JOBS);
	stream_current = NULL;
	g_free(st);
}

/* ---- failing jobs ---- */

struct small_job {
	const char *key;
	int ret; /* returned after the insert when nonzero */
	int status;
	bool done;
	bool *all_done;
	unsigned *left;
};

static int
small_fn(sqlite3 *db, void *data)
{
	struct small_job *j = data;
	int err = insert_meta(db, j->key);
	return err ? err : j->ret;
}

static void
small_done(int status, void *data)
{
	struct small_job *j = data;
	g_assert_false(j->done);
	j->done = true;
	j->status = status;
	*j->all_done = --*j->left == 0;
}

static void
queue_small(struct store *s, struct small_job *jobs, size_t n, bool *all_done, unsigned *left)
{
	*all_done = false;
	*left = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		jobs[i].all_done = all_done;
		jobs[i].left = left;
		g_assert_cmpint(store_write(s, small_fn, small_done, &jobs[i]), ==, 0);
	}
}

static void
test_failing_job(struct fx *f, gconstpointer unused)
{
	struct small_job jobs[] = {
	    {.key = "a"},
	    {.key = "b", .ret = -EINVAL},
	    {.key = "a"}, /* duplicate key: -EEXIST */
	    {.key = "d"},
	};
	bool all_done;
	unsigned left;
	queue_small(f->s, jobs, G_N_ELEMENTS(jobs), &all_done, &left);
	g_assert_cmpuint(store_pending(f->s), ==, 4);
	iterate_until(&all_done);
	g_assert_cmpint(jobs[0].status, ==, 0);
	g_assert_cmpint(jobs[1].status, ==, -EINVAL);
	g_assert_cmpint(jobs[2].status, ==, -EEXIST);
	g_assert_cmpint(jobs[3].status, ==, 0);
	g_assert_cmpuint(f->groups, ==, 1);
	g_assert_cmpuint(f->failed_groups, ==, 0);
	g_assert_true(meta_has(f->s, "a"));
	g_assert_false(meta_has(f->s, "b"));
	g_assert_true(meta_has(f->s, "d"));
}

/* store_add_group_end(): once per group, after the jobs, in their transaction; a failure
 * fails the whole group. */
struct group_end {
	unsigned calls;
	int ret;
};

static int
group_end_fn(sqlite3 *db, void *data)
{
	struct group_end *g = data;
	g->calls++;
	if (g->ret < 0) {
		return g->ret;
	}
	char key[32];
	g_snprintf(key, sizeof(key), "end-%u", g->calls);
	return store_exec_text(db, "INSERT INTO meta (key, value) VALUES (?1, 'x')",
	                       (const char *const[]){key}, 1);
}

static void
test_group_end(struct fx *f, gconstpointer unused)
{
	(void)unused;
	struct group_end g = {0};
	store_add_group_end(f->s, group_end_fn, &g);
	struct small_job jobs[] = {{.key = "g1"}, {.key = "g2"}, {.key = "g3"}};
	bool all_done;
	unsigned left;
	queue_small(f->s, jobs, G_N_ELEMENTS(jobs), &all_done, &left);
	iterate_until(&all_done);
	g_assert_cmpuint(f->groups, ==, 1);
	g_assert_cmpuint(g.calls, ==, 1);
	g_assert_true(meta_has(f->s, "g1"));
	g_assert_true(meta_has(f->s, "end-1"));

	g.ret = -EIO;
	struct small_job more[] = {{.key = "h1"}, {.key = "h2"}};
	queue_small(f->s, more, G_N_ELEMENTS(more), &all_done, &left);
	iterate_until(&all_done);
	g_assert_cmpuint(g.calls, ==, 2);
	g_assert_cmpint(more[0].status, ==, -EIO);
	g_assert_cmpint(more[1].status, ==, -EIO);
	g_assert_false(meta_has(f->s, "h1"));
	g_assert_false(meta_has(f->s, "h2"));
}

static int
make_deferred_fk(sqlite3 *db, void *data)
{
	int err =
	    store_exec_text(db, "CREATE TABLE t_parent (id TEXT PRIMARY KEY) STRICT", NULL, 0);
	if (err) {
		return err;
	}
	return store_exec_text(db,
	                       "CREATE TABLE t_child (pid TEXT REFERENCES t_parent(id) "
	                       "DEFERRABLE INITIALLY DEFERRED) STRICT",
	                       NULL, 0);
}

static int
orphan_fn(sqlite3 *db, void *data)
{
	return store_exec_text(db, "INSERT INTO t_child VALUES ('nobody')", NULL, 0);
}

/* A COMMIT that fails (a deferred foreign key) rolls back the whole group. */
static void
test_commit_failure(struct fx *f, gconstpointer unused)
{
	g_assert_cmpint(store_write_sync(f->s, make_deferred_fk, NULL), ==, 0);

	struct small_job ok_job = {.key = "kept?"};
	struct small_job orphan = {.key = "orphan"};
	bool all_done = false;
	unsigned left = 2;
	ok_job.all_done = orphan.all_done = &all_done;
	ok_job.left = orphan.left = &left;
	g_assert_cmpint(store_write(f->s, small_fn, small_done, &ok_job), ==, 0);
	g_assert_cmpint(store_write(f->s, orphan_fn, small_done, &orphan), ==, 0);
	iterate_until(&all_done);
	g_assert_cmpint(ok_job.status, ==, -EIO);
	g_assert_cmpint(orphan.status, ==, -EIO);
	g_assert_cmpuint(f->failed_groups, ==, 1);
	g_assert_false(meta_has(f->s, "kept?"));
	g_assert_cmpint(query_int(store_reader(f->s), "SELECT count(*) FROM t_child"), ==, 0);

	/* The store goes on working. */
	struct small_job after = {.key = "after"};
	queue_small(f->s, &after, 1, &all_done, &left);
	iterate_until(&all_done);
	g_assert_cmpint(after.status, ==, 0);
	g_assert_true(meta_has(f->s, "after"));
}

/* ---- shutdown, durability ---- */

struct closing {
	unsigned calls;
	const unsigned *left; /* jobs not answered yet */
	unsigned left_at_call;
	bool called;
};

static void
closed_cb(void *data)
{
	struct closing *c = data;
	c->calls++;
	c->left_at_call = *c->left;
	c->called = true;
}

static void
test_close_writes(struct fx *f, gconstpointer unused)
{
	struct small_job jobs[10];
	char keys[10][8];
	for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_snprintf(keys[i], sizeof(keys[i]), "c%zu", i);
		jobs[i] = (struct small_job){.key = keys[i]};
	}
	bool all_done;
	unsigned left;
	queue_small(f->s, jobs, G_N_ELEMENTS(jobs), &all_done, &left);

	struct closing c = {.left = &left};
	store_close_writes(f->s, closed_cb, &c);
	g_assert_false(c.called);
	g_assert_cmpint(store_write(f->s, small_fn, small_done, &jobs[0]), ==, -ESHUTDOWN);
	iterate_until(&c.called);
	g_assert_true(all_done);
	g_assert_cmpuint(c.calls, ==, 1);
	g_assert_cmpuint(c.left_at_call, ==, 0);
	for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_assert_true(jobs[i].done);
		g_assert_cmpint(jobs[i].status, ==, 0);
		g_assert_true(meta_has(f->s, keys[i]));
	}
	g_assert_cmpuint(store_pending(f->s), ==, 0);
	iterate_for(20);
	g_assert_cmpuint(c.calls, ==, 1);

	/* Nothing pending: the callback comes at once. */
	store_destroy(f->s);
	f->s = open_store(f, true);
	struct closing c2 = {.left = &left};
	store_close_writes(f->s, closed_cb, &c2);
	g_assert_cmpuint(c2.calls, ==, 1);
	g_assert_cmpint(store_write(f->s, small_fn, NULL, &jobs[0]), ==, -ESHUTDOWN);
}

static void
test_reopen(struct fx *f, gconstpointer unused)
{
	struct small_job j = {.key = "durable"};
	bool all_done;
	unsigned left;
	queue_small(f->s, &j, 1, &all_done, &left);
	iterate_until(&all_done);
	g_assert_cmpint(j.status, ==, 0);
	store_destroy(f->s);
	f->s = open_store(f, false);
	g_assert_true(meta_has(f->s, "durable"));
	/* async = false: only synchronous writes. */
	g_assert_cmpint(store_write(f->s, small_fn, small_done, &j), ==, -ENOTSUP);
}

/* Queued jobs that never started get -ESHUTDOWN from store_destroy(). */
static void
test_destroy_pending(struct fx *f, gconstpointer unused)
{
	struct small_job j = {.key = "never"};
	bool all_done;
	unsigned left;
	queue_small(f->s, &j, 1, &all_done, &left);
	store_destroy(f->s);
	f->s = NULL;
	g_assert_true(j.done);
	g_assert_cmpint(j.status, ==, -ESHUTDOWN);
	iterate_for(10);
}

/* Another connection holds the write lock: jobs wait, then commit. */
static void
test_busy(struct fx *f, gconstpointer unused)
{
	sqlite3 *other = NULL;
	g_assert_cmpint(sqlite3_open_v2(store_path(f->s), &other, SQLITE_OPEN_READWRITE, NULL), ==,
	                SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);

	struct small_job j = {.key = "after-lock"};
	bool all_done;
	unsigned left;
	gint64 t0 = g_get_monotonic_time();
	queue_small(f->s, &j, 1, &all_done, &left);
	iterate_for(300);
	/* The loop kept turning (no 5 s busy wait inside BEGIN). */
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
	g_assert_false(j.done);
	g_assert_cmpuint(store_pending(f->s), ==, 1);

	g_assert_cmpint(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(other);
	iterate_until(&all_done);
	g_assert_cmpint(j.status, ==, 0);
	g_assert_true(meta_has(f->s, "after-lock"));
}

/* ---- off-loop jobs (store_write_off_loop) ---- */

struct where_job {
	struct small_job small;
	bool off_loop;
	GThread *ran_on;
	unsigned answered_as; /* the order of its answer */
};

static unsigned where_answers;

static int
where_fn(sqlite3 *db, void *data)
{
	struct where_job *j = data;
	j->ran_on = g_thread_self();
	return small_fn(db, &j->small);
}

static void
where_done(int status, void *data)
{
	struct where_job *j = data;
	/* done always runs on the loop's thread */
	g_assert_true(g_main_context_is_owner(g_main_context_default()));
	j->answered_as = where_answers++;
	small_done(status, &j->small);
}

static void
queue_where(struct store *s, struct where_job *jobs, size_t n, bool *all_done, unsigned *left)
{
	*all_done = false;
	*left = (unsigned)n;
	where_answers = 0;
	for (size_t i = 0; i < n; i++) {
		jobs[i].small.all_done = all_done;
		jobs[i].small.left = left;
		int r = jobs[i].off_loop ? store_write_off_loop(s, where_fn, where_done, &jobs[i])
		                         : store_write(s, where_fn, where_done, &jobs[i]);
		g_assert_cmpint(r, ==, 0);
	}
}

/*
 * Off-loop jobs run on the writer thread, loop jobs on the loop; a group holds
 * consecutive jobs of one kind; answers come in queue order; a failing job
 * rolls back only itself; the group ends run with the off-loop group.
 */
static void
test_off_loop(struct fx *f, gconstpointer unused)
{
	struct group_end g = {0};
	store_add_group_end(f->s, group_end_fn, &g);
	struct where_job jobs[] = {
	    {.small = {.key = "o1"}, .off_loop = true},
	    {.small = {.key = "o2", .ret = -EINVAL}, .off_loop = true},
	    {.small = {.key = "o3"}, .off_loop = true},
	    {.small = {.key = "l1"}},
	    {.small = {.key = "l2"}},
	    {.small = {.key = "o4"}, .off_loop = true},
	};
	bool all_done;
	unsigned left;
	GThread *loop = g_thread_self();
	queue_where(f->s, jobs, G_N_ELEMENTS(jobs), &all_done, &left);
	iterate_until(&all_done);

	for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_assert_cmpuint(jobs[i].answered_as, ==, i);
		if (jobs[i].off_loop) {
			g_assert_true(jobs[i].ran_on != loop);
		} else {
			g_assert_true(jobs[i].ran_on == loop);
		}
	}
	g_assert_cmpint(jobs[1].small.status, ==, -EINVAL);
	g_assert_false(meta_has(f->s, "o2"));
	for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++) {
		if (i != 1) {
			g_assert_cmpint(jobs[i].small.status, ==, 0);
			g_assert_true(meta_has(f->s, jobs[i].small.key));
		}
	}
	/* off, loop, off: three groups, each with its group end. */
	g_assert_cmpuint(f->groups, ==, 3);
	g_assert_cmpuint(g_array_index(f->group_sizes, unsigned, 0), ==, 3);
	g_assert_cmpuint(g_array_index(f->group_sizes, unsigned, 1), ==, 2);
	g_assert_cmpuint(g_array_index(f->group_sizes, unsigned, 2), ==, 1);
	g_assert_cmpuint(g.calls, ==, 3);
	g_assert_true(meta_has(f->s, "end-3"));

	/* A group end that fails fails the off-loop group: nothing of it is kept. */
	g.ret = -EIO;
	struct where_job more[] = {{.small = {.key = "p1"}, .off_loop = true},
	                           {.small = {.key = "p2"}, .off_loop = true}};
	queue_where(f->s, more, G_N_ELEMENTS(more), &all_done, &left);
	iterate_until(&all_done);
	g_assert_cmpint(more[0].small.status, ==, -EIO);
	g_assert_cmpint(more[1].small.status, ==, -EIO);
	g_assert_false(meta_has(f->s, "p1"));
	g_assert_cmpuint(f->failed_groups, ==, 1);
}

/*
 * The next group of off-loop jobs goes to the writer before the group just
 * committed is answered: inside the first job's done callback the writer is
 * already taken (store_write_sync says -EBUSY) and the second job not answered.
 */
struct relay {
	struct fx *f;
	GMutex lock;
	GCond cond;
	bool a_started, b_queued;
	int sync_in_a_done;
	bool b_answered_before_a_done;
	bool a_done, b_done;
};

static int
relay_a_fn(sqlite3 *db, void *data)
{
	struct relay *r = data;
	g_mutex_lock(&r->lock);
	r->a_started = true;
	g_cond_broadcast(&r->cond);
	while (!r->b_queued) {
		g_cond_wait(&r->cond, &r->lock);
	}
	g_mutex_unlock(&r->lock);
	return insert_meta(db, "relay-a");
}

static int
relay_b_fn(sqlite3 *db, void *data)
{
	return insert_meta(db, "relay-b");
}

static int
relay_sync_fn(sqlite3 *db, void *data)
{
	return 0;
}

static void
relay_a_done(int status, void *data)
{
	struct relay *r = data;
	g_assert_cmpint(status, ==, 0);
	r->sync_in_a_done = store_write_sync(r->f->s, relay_sync_fn, NULL);
	r->b_answered_before_a_done = r->b_done;
	r->a_done = true;
}

static void
relay_b_done(int status, void *data)
{
	struct relay *r = data;
	g_assert_cmpint(status, ==, 0);
	r->b_done = true;
}

static void
test_off_loop_relay(struct fx *f, gconstpointer unused)
{
	struct relay r = {.f = f};
	g_mutex_init(&r.lock);
	g_cond_init(&r.cond);
	g_assert_cmpint(store_write_off_loop(f->s, relay_a_fn, relay_a_done, &r), ==, 0);
	/* Turn the loop until the writer thread runs A (the kick hands it over). */
	for (;;) {
		g_mutex_lock(&r.lock);
		bool started = r.a_started;
		g_mutex_unlock(&r.lock);
		if (started) {
			break;
		}
		g_main_context_iteration(NULL, FALSE);
		g_mutex_lock(&r.lock);
		if (!r.a_started) {
			gint64 until = g_get_monotonic_time() + 10 * G_TIME_SPAN_MILLISECOND;
			g_cond_wait_until(&r.cond, &r.lock, until);
		}
		g_mutex_unlock(&r.lock);
	}
	g_assert_cmpint(store_write_off_loop(f->s, relay_b_fn, relay_b_done, &r), ==, 0);
	g_mutex_lock(&r.lock);
	r.b_queued = true;
	g_cond_broadcast(&r.cond);
	g_mutex_unlock(&r.lock);
	iterate_until(&r.b_done);
	g_assert_true(r.a_done);
	g_assert_cmpint(r.sync_in_a_done, ==, -EBUSY);
	g_assert_false(r.b_answered_before_a_done);
	g_assert_true(meta_has(f->s, "relay-a"));
	g_assert_true(meta_has(f->s, "relay-b"));
	g_assert_cmpuint(f->groups, ==, 2);
	g_mutex_clear(&r.lock);
	g_cond_clear(&r.cond);
}

/* Another connection holds the write lock: off-loop jobs wait too, then commit. */
static void
test_off_loop_busy(struct fx *f, gconstpointer unused)
{
	sqlite3 *other = NULL;
	g_assert_cmpint(sqlite3_open_v2(store_path(f->s), &other, SQLITE_OPEN_READWRITE, NULL), ==,
	                SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);

	struct where_job j = {.small = {.key = "off-after-lock"}, .off_loop = true};
	bool all_done;
	unsigned left;
	queue_where(f->s, &j, 1, &all_done, &left);
	iterate_for(300);
	g_assert_false(j.small.done);
	g_assert_cmpuint(store_pending(f->s), ==, 1);

	g_assert_cmpint(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(other);
	iterate_until(&all_done);
	g_assert_cmpint(j.small.status, ==, 0);
	g_assert_true(meta_has(f->s, "off-after-lock"));
	g_assert_cmpuint(f->failed_groups, ==, 0);
}

/*
 * Checkpoints run on the checkpointer thread, not in the commits: after more
 * than 1000 WAL frames it copies them into the database file, and the data
 * reads back whole.
 */
static int
big_fn(sqlite3 *db, void *data)
{
	struct small_job *j = data;
	return store_exec_text(db,
	                       "INSERT INTO meta (key, value) VALUES (?1, printf('%.*c', 200000, 'x'))",
	                       (const char *const[]){j->key}, 1);
}

static void
test_checkpointer(struct fx *f, gconstpointer unused)
{
	unsigned runs, backfilled;
	store_checkpoints(f->s, &runs, &backfilled);
	g_assert_cmpuint(runs, ==, 0);
	/* 30 rows of 200 kB: some 1500 pages of 4 kB. */
	struct small_job jobs[30];
	char keys[30][16];
	bool all_done = false;
	unsigned left = G_N_ELEMENTS(jobs);
	for (unsigned i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_snprintf(keys[i], sizeof(keys[i]), "big-%02u", i);
		jobs[i] = (struct small_job){.key = keys[i], .all_done = &all_done, .left = &left};
		g_assert_cmpint(store_write_off_loop(f->s, big_fn, small_done, &jobs[i]), ==, 0);
	}
	iterate_until(&all_done);
	for (unsigned i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_assert_cmpint(jobs[i].status, ==, 0);
	}
	/* Wait for the checkpointer's answer, turning the loop. */
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	do {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_thread_yield();
		store_checkpoints(f->s, &runs, &backfilled);
	} while (runs == 0);
	g_assert_cmpuint(backfilled, >=, 1000);
	g_assert_cmpint(query_int(store_reader(f->s), "SELECT count(*) FROM meta WHERE key GLOB "
	                                              "'big-*' AND length(value) = 200000"),
	                ==, G_N_ELEMENTS(jobs));
	char *ok = query_text(store_reader(f->s), "PRAGMA integrity_check");
	g_assert_cmpstr(ok, ==, "ok");
	g_free(ok);
}

/* ---- synchronous writes ---- */

static int
sync_fn(sqlite3 *db, void *data)
{
	struct small_job *j = data;
	int err = insert_meta(db, j->key);
	return err ? err : j->ret;
}

static void
test_write_sync(struct fx *f, gconstpointer unused)
{
	struct small_job kept = {.key = "kept", .ret = 7};
	struct small_job dropped = {.key = "dropped", .ret = -EPERM};
	g_assert_cmpint(store_write_sync(f->s, sync_fn, &kept), ==, 7);
	g_assert_cmpint(store_write_sync(f->s, sync_fn, &dropped), ==, -EPERM);
	g_assert_true(meta_has(f->s, "kept"));
	g_assert_false(meta_has(f->s, "dropped"));
	g_assert_cmpint(store_write_sync(f->s, sync_fn, &kept), ==, -EEXIST);
}

/* ---- backup ---- */

static int
many_rows(sqlite3 *db, void *data)
{
	int err = 0;
	for (int i = 0; i < 500 && !err; i++) {
		char key[16];
		g_snprintf(key, sizeof(key), "row-%d", i);
		err = insert_meta(db, key);
	}
	return err;
}

static void
test_backup(struct fx *f, gconstpointer unused)
{
	g_assert_cmpint(store_write_sync(f->s, many_rows, NULL), ==, 0);
	char *file = g_build_filename(f->dir, "copy.db", NULL);
	char *tmp = g_strconcat(file, ".tmp", NULL);
	g_assert_cmpint(store_backup(f->s, file), ==, 0);
	/* Again over the existing file. */
	g_assert_cmpint(store_backup(f->s, file), ==, 0);
	g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));

	sqlite3 *copy = NULL;
	g_assert_cmpint(sqlite3_open_v2(file, &copy, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	long long n = query_int(store_reader(f->s), "SELECT count(*) FROM meta");
	g_assert_cmpint(query_int(copy, "SELECT count(*) FROM meta"), ==, n);
	g_assert_cmpint(query_int(copy, "PRAGMA user_version"), ==, store_schema_version(f->s));
	char *mode = query_text(copy, "PRAGMA journal_mode");
	g_assert_cmpstr(mode, ==, "delete");
	char *ok = query_text(copy, "PRAGMA integrity_check");
	g_assert_cmpstr(ok, ==, "ok");
	g_free(ok);
	g_free(mode);
	sqlite3_close(copy);

	/* An unwritable destination fails cleanly. */
	char *bad = g_build_filename(f->dir, "missing-dir", "copy.db", NULL);
	g_assert_cmpint(store_backup(f->s, bad), <, 0);
	g_free(bad);
	g_free(tmp);
	g_free(file);
}

/* ---- demo data ---- */

static void
assert_nfc(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		g_assert_true(g_utf8_validate(s, -1, NULL));
		char *nfc = g_utf8_normalize(s, -1, G_NORMALIZE_NFC);
		g_assert_cmpstr(s, ==, nfc);
		g_free(nfc);
	}
	sqlite3_finalize(st);
}

static void
test_demo(struct fx *f, gconstpointer unused)
{
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
	g_assert_cmpint(demo_load(f->s, lines), ==, 0);
	g_assert_cmpuint(lines->len, ==, 7);

	sqlite3 *r = store_reader(f->s);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM agencies WHERE parent_id IS NULL"), ==,
	                1);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM agencies WHERE level = 'department'"),
	                ==, 6);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM agencies WHERE level IN ('ward', "
	                             "'commune')"),
	                >=, 12);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM agencies WHERE code = 'DN-TTTP' AND "
	                             "level = 'inspectorate'"),
	                ==, 1);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM fields f JOIN agencies a "
	                             "ON a.id = f.managing_agency_id"),
	                ==, 9);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM fields f JOIN agencies a ON a.id = "
	                             "f.managing_agency_id WHERE f.code = 'land' AND "
	                             "a.code = 'DN-SNNMT'"),
	                ==, 1);
	g_assert_cmpint(query_int(r, "SELECT count(DISTINCT role) FROM user_roles"), ==, 6);
	g_assert_true(meta_has(f->s, "demo_loaded_at"));
	assert_nfc(r, "SELECT name FROM agencies UNION ALL SELECT full_name FROM users "
	              "UNION ALL SELECT name FROM fields");

	/* Each line: role, login, password (>= 10 characters), agency code, name. */
	for (guint i = 0; i < lines->len; i++) {
		char **fields = g_strsplit(lines->pdata[i], "\t", -1);
		g_assert_cmpuint(g_strv_length(fields), ==, 5);
		g_assert_cmpuint(g_utf8_strlen(fields[2], -1), >=, 10);
		sqlite3_stmt *st = NULL;
		g_assert_cmpint(
		    sqlite3_prepare_v2(r,
		                       "SELECT u.password_hash, ifnull(a.code, '') "
		                       "FROM users u JOIN user_roles ur ON ur.user_id = u.id "
		                       "LEFT JOIN agencies a ON a.id = ur.agency_id "
		                       "WHERE u.login = ?1 AND ur.role = ?2",
		                       -1, &st, NULL),
		    ==, SQLITE_OK);
		sqlite3_bind_text(st, 1, fields[1], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, fields[0], -1, SQLITE_STATIC);
		g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
		g_assert_cmpstr((const char *)sqlite3_column_text(st, 1), ==, fields[3]);
		if (strcmp(fields[0], "citizen") == 0) {
			g_assert_true(auth_password_verify((const char *)sqlite3_column_text(st, 0),
			                                   fields[2]));
		}
		sqlite3_finalize(st);
		g_strfreev(fields);
	}
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM users u JOIN user_roles ur ON "
	                             "ur.user_id = u.id WHERE ur.role = 'citizen' AND "
	                             "u.phone = u.login AND length(u.national_id) = 12"),
	                ==, 1);

	/* demo_accounts() lists the same accounts. */
	GPtrArray *again = g_ptr_array_new_with_free_func(g_free);
	demo_accounts(again);
	g_assert_cmpuint(again->len, ==, lines->len);
	for (guint i = 0; i < lines->len; i++) {
		g_assert_cmpstr(again->pdata[i], ==, lines->pdata[i]);
	}
	g_ptr_array_unref(again);

	/* Only once. */
	long long users = query_int(r, "SELECT count(*) FROM users");
	g_ptr_array_set_size(lines, 0);
	g_assert_cmpint(demo_load(f->s, lines), ==, -EEXIST);
	g_assert_cmpuint(lines->len, ==, 0);
	g_assert_cmpint(query_int(r, "SELECT count(*) FROM users"), ==, users);
	g_ptr_array_unref(lines);
}

/* ---- small pieces ---- */

static void
test_password(void)
{
	char h1[crypto_pwhash_STRBYTES];
	char h2[crypto_pwhash_STRBYTES];
	g_assert_cmpint(auth_password_hash("correct horse battery", h1), ==, 0);
	g_assert_cmpint(auth_password_hash("correct horse battery", h2), ==, 0);
	g_assert_true(g_str_has_prefix(h1, "$argon2id$"));
	g_assert_cmpstr(h1, !=, h2); /* salted */
	g_assert_true(auth_password_verify(h1, "correct horse battery"));
	g_assert_true(auth_password_verify(h2, "correct horse battery"));
	g_assert_false(auth_password_verify(h1, "correct horse batterY"));
	g_assert_false(auth_password_verify(h1, ""));
	g_assert_false(auth_password_verify("not a hash", "correct horse battery"));
	g_assert_false(auth_password_verify(NULL, "x"));
	g_assert_false(auth_password_verify(h1, NULL));
	g_assert_cmpint(auth_password_hash(NULL, h1), ==, -EINVAL);

	char *long_pw = g_strnfill(AUTH_PASSWORD_MAX_BYTES + 1, 'x');
	g_assert_cmpint(auth_password_hash(long_pw, h1), ==, -EINVAL);
	g_assert_false(auth_password_verify(h2, long_pw));
	g_free(long_pw);

	/* Unicode passwords are bytes: NFC and NFD differ. */
	g_assert_cmpint(auth_password_hash("mật khẩu dài", h1), ==, 0);
	g_assert_true(auth_password_verify(h1, "mật khẩu dài"));
}

static void
test_new_id(void)
{
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (int i = 0; i < 1000; i++) {
		char id[23];
		memset(id, 'X', sizeof(id));
		store_new_id(id);
		g_assert_cmpuint(strlen(id), ==, 22);
		for (int k = 0; k < 22; k++) {
			g_assert_true(g_ascii_isalnum(id[k]) || id[k] == '-' || id[k] == '_');
		}
		g_assert_true(g_hash_table_add(seen, g_strdup(id)));
	}
	g_hash_table_unref(seen);
}

static void
test_time_now(void)
{
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	g_assert_true(g_regex_match_simple(
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\+07:00$", now, 0, 0));
	GDateTime *t = g_date_time_new_from_iso8601(now, NULL);
	g_assert_nonnull(t);
	GDateTime *utc_now = g_date_time_new_now_utc();
	g_assert_cmpint(ABS(g_date_time_difference(utc_now, t)), <, 5 * G_USEC_PER_SEC);
	g_date_time_unref(utc_now);
	g_date_time_unref(t);
}

static void
test_errno(void)
{
	g_assert_cmpint(store_errno(SQLITE_OK), ==, 0);
	g_assert_cmpint(store_errno(SQLITE_DONE), ==, 0);
	g_assert_cmpint(store_errno(SQLITE_CONSTRAINT_UNIQUE), ==, -EEXIST);
	g_assert_cmpint(store_errno(SQLITE_CONSTRAINT_PRIMARYKEY), ==, -EEXIST);
	g_assert_cmpint(store_errno(SQLITE_CONSTRAINT_CHECK), ==, -EINVAL);
	g_assert_cmpint(store_errno(SQLITE_CONSTRAINT_FOREIGNKEY), ==, -EINVAL);
	g_assert_cmpint(store_errno(SQLITE_BUSY), ==, -EBUSY);
	g_assert_cmpint(store_errno(SQLITE_IOERR_FSYNC), ==, -EIO);
}

/*
 * G_TEST_OPTION_ISOLATE_DIRS makes GLib replace its user directories before
 * each test, and GLib leaks the old strings on purpose (callers may still
 * hold them). LeakSanitizer reads this hook in sanitizer builds; it is an
 * unused function elsewhere.
 */
const char *__lsan_default_suppressions(void);

/*
 * store_stmt(): one statement per SQL text and connection, lent with its bindings cleared;
 * a nested use of the same SQL gets a fresh one, finalized at release; the store finalizes
 * the kept ones when it closes (a statement left over would make close report it).
 */
static void
test_statement_cache(struct fx *f, gconstpointer unused)
{
	(void)unused;
	sqlite3 *db = store_reader(f->s);
	const char *sql = "SELECT key FROM meta WHERE key > ?1 ORDER BY key";
	sqlite3_stmt *a = store_stmt(db, sql);
	g_assert_nonnull(a);
	sqlite3_bind_text(a, 1, "", -1, SQLITE_STATIC);
	g_assert_cmpint(sqlite3_step(a), ==, SQLITE_ROW);
	/* nested: the kept one is lent out */
	sqlite3_stmt *b = store_stmt(db, sql);
	g_assert_nonnull(b);
	g_assert_true(a != b);
	store_stmt_release(b);
	store_stmt_release(a);
	g_assert_false(sqlite3_stmt_busy(a));
	/* the same text from another buffer finds the kept one, unbound: key > NULL holds for no row */
	char *copy = g_strdup(sql);
	sqlite3_stmt *c = store_stmt(db, copy);
	g_free(copy);
	g_assert_true(c == a);
	g_assert_cmpint(sqlite3_step(c), ==, SQLITE_DONE);
	store_stmt_release(c);
	unsigned n = 0;
	for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
		n += strcmp(sqlite3_sql(st), sql) == 0;
	}
	g_assert_cmpuint(n, ==, 1);
	/* g_autoptr hands it back at the end of the scope */
	{
		g_autoptr(StoreStmt) d = store_stmt(db, sql);
		g_assert_true(d == a);
		g_assert_cmpint(sqlite3_step(d), ==, SQLITE_DONE);
	}
	g_assert_true(store_stmt(db, sql) == a);
	store_stmt_release(a);
	/* a statement that does not prepare */
	g_assert_null(store_stmt(db, "SELECT nothing FROM nowhere"));
}

const char *
__lsan_default_suppressions(void)
{
	return "leak:g_set_user_dirs\n";
}

#define FX_TEST(path, fn) g_test_add(path, struct fx, NULL, fx_setup, fn, fx_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

	FX_TEST("/store/migrations", test_migrations);
	FX_TEST("/store/pragmas", test_pragmas);
	FX_TEST("/store/constraints", test_constraints);
	FX_TEST("/store/group-commit", test_group_commit);
	FX_TEST("/store/group-commit-stream", test_group_commit_stream);
	FX_TEST("/store/failing-job", test_failing_job);
	FX_TEST("/store/commit-failure", test_commit_failure);
	FX_TEST("/store/close-writes", test_close_writes);
	FX_TEST("/store/reopen", test_reopen);
	FX_TEST("/store/destroy-pending", test_destroy_pending);
	FX_TEST("/store/busy", test_busy);
	FX_TEST("/store/off-loop", test_off_loop);
	FX_TEST("/store/off-loop-busy", test_off_loop_busy);
	FX_TEST("/store/off-loop-relay", test_off_loop_relay);
	FX_TEST("/store/checkpointer", test_checkpointer);
	FX_TEST("/store/write-sync", test_write_sync);
	FX_TEST("/store/backup", test_backup);
	FX_TEST("/store/statement-cache", test_statement_cache);
	FX_TEST("/store/group-end", test_group_end);
	FX_TEST("/demo/load", test_demo);
	g_test_add_func("/auth/password", test_password);
	g_test_add_func("/store/new-id", test_new_id);
	g_test_add_func("/store/time-now", test_time_now);
	g_test_add_func("/store/errno", test_errno);
	return g_test_run();
}
