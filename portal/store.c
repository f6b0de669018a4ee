/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/store.h"

#include "store-private.h"
#include "tiepdan/log.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

/*
 * Group commit, as a sequence on the loop's thread:
 *
 *   store_write() ─► queue ─► kick (idle source) ─► BEGIN IMMEDIATE,
 *   SAVEPOINT/fn/RELEASE per job ─► commit thread: COMMIT (fsync) ─►
 *   result source on the loop ─► done() per job ─► next group
 *
 * While `committing` is true the commit thread owns the writer connection and
 * nothing on the loop touches it; jobs that arrive meanwhile wait in `queue`
 * and form the next group. A group of off-loop jobs (store_write_off_loop())
 * goes to the thread whole: MSG_RUN makes it BEGIN, run the jobs and the
 * group ends, and COMMIT there, and the loop meanwhile only reads, receives
 * and answers. The loop never blocks on the write lock either:
 * BEGIN runs with a zero busy timeout and, when another process (tiepdan-admin)
 * holds the lock, the kick is retried from a timer with a growing delay.
 */

enum conn {
	CONN_WRITER,
	CONN_READER,
};

enum stmt {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_CHECK,
	STMT_N,
};

static const struct {
	enum conn conn;
	const char *sql;
} stmt_defs[STMT_N] = {
    [STMT_BEGIN] = {CONN_WRITER, "BEGIN IMMEDIATE"},
    [STMT_COMMIT] = {CONN_WRITER, "COMMIT"},
    [STMT_ROLLBACK] = {CONN_WRITER, "ROLLBACK"},
    [STMT_SAVEPOINT] = {CONN_WRITER, "SAVEPOINT job"},
    [STMT_RELEASE] = {CONN_WRITER, "RELEASE job"},
    [STMT_ROLLBACK_TO] = {CONN_WRITER, "ROLLBACK TO job"},
    [STMT_CHECK] = {CONN_READER, "SELECT count(*) FROM meta"},
};

/* Messages to the commit thread (GAsyncQueue refuses NULL). */
enum {
	MSG_COMMIT = 1,
	MSG_QUIT = 2,
	MSG_RUN = 3,
	MSG_CKPT = 4, /* to the checkpointer */
};

/* Retry delays while another process holds the write lock. */
#define BUSY_DELAY_MIN_MS 5
#define BUSY_DELAY_MAX_MS 100

struct job {
	store_txn_fn fn;
	store_done_fn done;
	void *data;
	int status;
	bool off_loop;
};

struct store {
	char *path;
	struct store_options opts;
	sqlite3 *writer;
	sqlite3 *reader;
	sqlite3_stmt *stmts[STMT_N];
	int schema_version;

	const struct store_events *events;
	void *events_data;

	GMainContext *ctx;
	GQueue queue;    /* struct job *: waiting for the next group */
	GQueue group;    /* struct job *: the group being built or committed */
	GQueue answering; /* struct job *: a committed group whose done callbacks run */
	GSource *kick;   /* idle or retry timer that starts the next group */
	bool committing; /* the commit thread owns the writer */
	struct {
		store_txn_fn fn;
		void *data;
	} group_end[4]; /* store_add_group_end() */
	unsigned n_group_end;
	gint64 group_start;
	gint64 busy_since; /* first failed BEGIN of a run of SQLITE_BUSY, or 0 */
	unsigned busy_delay_ms;

	/* Commit thread. commit_rc, commit_end and result are written by the loop
	 * before MSG_COMMIT or by the thread before it attaches result. */
	GThread *thread;
	GAsyncQueue *to_thread;
	GSource *result;
	int begin_rc; /* MSG_RUN: BEGIN's answer on the thread */
	int commit_rc;
	gint64 commit_end;

	/* Checkpointer: its own connection and thread (async stores only). */
	sqlite3 *ckpt_db;
	GThread *ckpt_thread;
	GAsyncQueue *to_ckpt;
	gint ckpt_asked;      /* atomic: a request is queued */
	gint ckpt_runs;       /* atomic: checkpoints run */
	gint ckpt_backfilled; /* atomic: frames copied by the last one */

	bool closing;
	void (*close_cb)(void *data);
	void *close_data;
};

static int start_checkpointer(struct store *s);
static void stop_checkpointer(struct store *s);
static void close_conn(sqlite3 *db, const char *name);

static void
log_db(enum td_log_level level, const char *msg, sqlite3 *db, int rc, const char *what)
{
	if (!td_log_enabled(level)) {
		return;
	}
	char *w = g_strescape(what, NULL);
	char *err = g_strescape(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), NULL);
	td_log(level, "store", msg, "what=\"%s\" rc=%d err=\"%s\"", w, rc, err);
	g_free(err);
	g_free(w);
}

static bool
is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Runs a statement that returns no row we need, and resets it at once. */
static int
step_once(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

static int
exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_db(TD_LOG_ERROR, "statement failed", db, rc, sql);
	}
	return rc;
}

/* The first column of the first row of a PRAGMA, as an integer (or -1). */
static int
pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int value = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		value = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return value;
}

int
store_errno(int sqlite_rc)
{
	switch (sqlite_rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_CONSTRAINT:
		return sqlite_rc == SQLITE_CONSTRAINT_UNIQUE ||
		               sqlite_rc == SQLITE_CONSTRAINT_PRIMARYKEY
		           ? -EEXIST
		           : -EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	default:
		return -EIO;
	}
}

int
store_exec_text(sqlite3 *db, const char *sql, const char *const *params, int n)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	for (int i = 0; rc == SQLITE_OK && i < n; i++) {
		rc = params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC)
		               : sqlite3_bind_null(st, i + 1);
	}
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_db(TD_LOG_DEBUG, "statement failed", db, rc, "store_exec_text");
	}
	sqlite3_finalize(st);
	return store_errno(rc);
}

char *
store_query_text(sqlite3 *db, const char *sql, const char *const *params, int n)
{
	sqlite3_stmt *st = NULL;
	char *out = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	for (int i = 0; rc == SQLITE_OK && i < n; i++) {
		rc = params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC)
		               : sqlite3_bind_null(st, i + 1);
	}
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
		out = g_strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return out;
}

/* ---- statements prepared once per connection ---- */

/*
 * db → (SQL text → struct kept). Connections are used by one thread at a
 * time, but the writer and the reader of a store, and the stores of a test,
 * may live on different threads: the map itself is locked. A kept statement
 * is lent to one user at a time; a nested use of the same SQL gets a fresh
 * statement, finalized when it is released.
 */
struct kept {
	sqlite3_stmt *st;
	bool in_use;
};

static GMutex stmt_lock;
static GHashTable *stmt_caches;

static void
kept_free(gpointer p)
{
	struct kept *k = p;
	sqlite3_finalize(k->st);
	g_free(k);
}

/* Under stmt_lock: the map of db, created when create. */
static GHashTable *
kept_of(sqlite3 *db, bool create)
{
	if (!stmt_caches && create) {
		stmt_caches = g_hash_table_new_full(NULL, NULL, NULL,
		                                    (GDestroyNotify)g_hash_table_unref);
	}
	GHashTable *t = stmt_caches ? g_hash_table_lookup(stmt_caches, db) : NULL;
	if (!t && create) {
		/* keyed by the statement's own copy of its SQL text */
		t = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, kept_free);
		g_hash_table_insert(stmt_caches, db, t);
	}
	return t;
}

sqlite3_stmt *
store_stmt(sqlite3 *db, const char *sql)
{
	g_mutex_lock(&stmt_lock);
	GHashTable *t = kept_of(db, true);
	struct kept *k = g_hash_table_lookup(t, sql);
	if (k && !k->in_use) {
		k->in_use = true;
		g_mutex_unlock(&stmt_lock);
		return k->st;
	}
	g_mutex_unlock(&stmt_lock);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		td_error("store", "statement does not prepare", "err=\"%s\" sql=\"%.60s\"",
		         sqlite3_errmsg(db), sql);
		sqlite3_finalize(st);
		return NULL;
	}
	if (!k) {
		k = g_new0(struct kept, 1);
		k->st = st;
		k->in_use = true;
		g_mutex_lock(&stmt_lock);
		g_hash_table_insert(t, (gpointer)sqlite3_sql(st), k);
		g_mutex_unlock(&stmt_lock);
	}
	return st;
}

int
store_stmt_get(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	*out = store_stmt(db, sql);
	return *out ? SQLITE_OK : SQLITE_ERROR;
}

void
store_stmt_release(sqlite3_stmt *st)
{
	if (!st) {
		return;
	}
	g_mutex_lock(&stmt_lock);
	GHashTable *t = kept_of(sqlite3_db_handle(st), false);
	struct kept *k = t ? g_hash_table_lookup(t, sqlite3_sql(st)) : NULL;
	bool kept = k && k->st == st;
	if (kept) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		k->in_use = false;
	}
	g_mutex_unlock(&stmt_lock);
	if (!kept) {
		sqlite3_finalize(st);
	}
}

void
store_stmt_forget(sqlite3 *db)
{
	g_mutex_lock(&stmt_lock);
	if (kept_of(db, false)) {
		g_hash_table_remove(stmt_caches, db);
	}
	g_mutex_unlock(&stmt_lock);
}

void
store_options_init(struct store_options *opts)
{
	*opts = (struct store_options){
	    .sync_full = true,
	    .cache_mb = 64,
	    .busy_timeout_ms = 5000,
	    .max_queued = 100000,
	    .async = true,
	};
}

static GTimeZone *
portal_zone(void)
{
	static GTimeZone *zone;
	if (g_once_init_enter(&zone)) {
		GTimeZone *z = g_time_zone_new_identifier("Asia/Ho_Chi_Minh");
		if (!z) {
			/* No tzdata: Vietnam has kept +07:00 without DST since 1975. */
			z = g_time_zone_new_offset(7 * 3600);
		}
		g_once_init_leave(&zone, z);
	}
	return zone;
}

void
store_time_now(char out[STORE_TIME_SIZE])
{
	GDateTime *now = g_date_time_new_now(portal_zone());
	char *s = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S%:z");
	g_strlcpy(out, s ? s : "", STORE_TIME_SIZE);
	g_free(s);
	g_date_time_unref(now);
}

void
store_new_id(char out[23])
{
	unsigned char bin[16];
	randombytes_buf(bin, sizeof(bin));
	sodium_bin2base64(out, 23, bin, sizeof(bin), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/*
 * Creates the database file with mode 0600 before SQLite sees it: SQLite
 * would create it 0644, and the -wal and -shm files inherit the main file's
 * mode. An existing file is left as it is.
 */
static int
create_db_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		return -errno;
	}
	close(fd);
	return 0;
}

/*
 * Opens a connection with the settings every connection gets: extended result
 * codes, busy timeout, no double-quoted string literals, defensive mode,
 * untrusted schema, foreign keys and the synchronous level. The writer also
 * switches the database to WAL (a no-op once it is).
 */
static int
open_conn(const char *path, const struct store_options *opts, bool readonly, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_db(TD_LOG_ERROR, "cannot open database", db, rc, path);
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, opts->busy_timeout_ms);
	static const int off[] = {SQLITE_DBCONFIG_DQS_DDL, SQLITE_DBCONFIG_DQS_DML,
	                          SQLITE_DBCONFIG_TRUSTED_SCHEMA};
	for (size_t i = 0; i < G_N_ELEMENTS(off); i++) {
		if (sqlite3_db_config(db, off[i], 0, (int *)NULL) != SQLITE_OK) {
			rc = SQLITE_ERROR;
			goto fail;
		}
	}
	if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) != SQLITE_OK) {
		rc = SQLITE_ERROR;
		goto fail;
	}
	/*
	 * SQLite's default page cache (2 MiB) held a fraction of the pages one
	 * intake touches once the cases outgrew it, and each miss was a pread.
	 */
	char cache[64];
	g_snprintf(cache, sizeof(cache), "PRAGMA cache_size = -%u",
	           (opts->cache_mb ? opts->cache_mb : 64) * 1024u);
	if ((rc = exec(db, cache)) != SQLITE_OK ||
	    (rc = exec(db, "PRAGMA foreign_keys = ON")) != SQLITE_OK ||
	    (rc = exec(db, opts->sync_full ? "PRAGMA synchronous = FULL"
	                                   : "PRAGMA synchronous = NORMAL")) != SQLITE_OK) {
		goto fail;
	}
	if (!readonly) {
		sqlite3_stmt *st = NULL;
		rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
		bool wal = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
		           g_strcmp0((const char *)sqlite3_column_text(st, 0), "wal") == 0;
		sqlite3_finalize(st);
		if (!wal) {
			log_db(TD_LOG_ERROR, "cannot switch to WAL", db, rc, path);
			rc = SQLITE_ERROR;
			goto fail;
		}
		/* Keep the WAL file from staying huge after a burst. */
		if ((rc = exec(db, "PRAGMA journal_size_limit = 67108864")) != SQLITE_OK) {
			goto fail;
		}
	}
	*out = db;
	return 0;

fail:
	sqlite3_close(db);
	return (rc & 0xff) == SQLITE_CANTOPEN ? -ENOENT : -EIO;
}

static int
insert_created_at(sqlite3 *db)
{
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	store_time_now(now);
	int rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES ('created_at', ?1)",
	                            -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc != SQLITE_OK) {
		log_db(TD_LOG_ERROR, "cannot record creation time", db, rc, "meta");
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Applies the missing migrations, each in its own BEGIN IMMEDIATE
 * transaction. The version is read again inside the transaction because the
 * server and tiepdan-admin may open the same fresh database at once. An
 * up-to-date database takes no write lock at all.
 */
static int
migrate(struct store *s)
{
	sqlite3 *db = s->writer;
	int app_id = pragma_int(db, "PRAGMA application_id");
	int version = pragma_int(db, "PRAGMA user_version");
	if (app_id < 0 || version < 0) {
		log_db(TD_LOG_ERROR, "cannot read the schema version", db, SQLITE_ERROR, s->path);
		return -EIO;
	}
	if (app_id != 0 && app_id != STORE_APPLICATION_ID) {
		td_error("store", "not a tiepdan database", "application_id=%d", app_id);
		return -EPROTO;
	}
	while ((size_t)version < store_n_migrations) {
		if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
			return -EIO;
		}
		version = pragma_int(db, "PRAGMA user_version");
		if (version < 0 || (size_t)version >= store_n_migrations) {
			exec(db, "ROLLBACK");
			break;
		}
		char *set_version = g_strdup_printf("PRAGMA user_version = %d", version + 1);
		bool ok = exec(db, store_migrations[version]) == SQLITE_OK &&
		          (version > 0 || insert_created_at(db) == SQLITE_OK) &&
		          exec(db, set_version) == SQLITE_OK && exec(db, "COMMIT") == SQLITE_OK;
		g_free(set_version);
		if (!ok) {
			if (!sqlite3_get_autocommit(db)) {
				exec(db, "ROLLBACK");
			}
			td_error("store", "migration failed", "to_version=%d", version + 1);
			return -EIO;
		}
		version++;
		td_info("store", "migrated", "version=%d", version);
	}
	if (version < 0 || (size_t)version > store_n_migrations) {
		td_error("store", "database schema is newer than this program",
		         "version=%d known=%zu", version, store_n_migrations);
		return -EPROTO;
	}
	s->schema_version = version;
	return 0;
}

static int
prepare_stmts(struct store *s)
{
	for (size_t i = 0; i < STMT_N; i++) {
		sqlite3 *db = stmt_defs[i].conn == CONN_WRITER ? s->writer : s->reader;
		int rc = sqlite3_prepare_v3(db, stmt_defs[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
		                            &s->stmts[i], NULL);
		if (rc != SQLITE_OK) {
			log_db(TD_LOG_ERROR, "cannot prepare", db, rc, stmt_defs[i].sql);
			return -EIO;
		}
	}
	return 0;
}

static gpointer commit_thread(gpointer data);

struct store *
store_open(const char *data_dir, const struct store_options *opts)
{
	struct store_options defaults;
	struct store *s = NULL;
	int err;

	if (!opts) {
		store_options_init(&defaults);
		opts = &defaults;
	}
	if (sodium_init() < 0) {
		td_error("store", "cannot initialize", "lib=%s", "libsodium");
		err = -EIO;
		goto fail;
	}
	if (g_mkdir_with_parents(data_dir, 0700) < 0) {
		err = -errno;
		char *q = g_strescape(data_dir, NULL);
		td_error("store", "cannot create the data directory", "dir=\"%s\" errno=%d", q,
		         -err);
		g_free(q);
		goto fail;
	}

	s = g_new0(struct store, 1);
	s->opts = *opts;
	if (s->opts.busy_timeout_ms < 0) {
		s->opts.busy_timeout_ms = 0;
	}
	if (s->opts.max_queued == 0) {
		s->opts.max_queued = 1;
	}
	s->path = g_build_filename(data_dir, "tiepdan.db", NULL);
	s->ctx = g_main_context_ref_thread_default();
	g_queue_init(&s->queue);
	g_queue_init(&s->group);

	if ((err = create_db_file(s->path)) < 0) {
		td_error("store", "cannot create the database file", "errno=%d", -err);
		goto fail;
	}
	if ((err = open_conn(s->path, &s->opts, false, &s->writer)) < 0 || (err = migrate(s)) < 0 ||
	    (err = open_conn(s->path, &s->opts, true, &s->reader)) < 0 ||
	    (err = prepare_stmts(s)) < 0) {
		goto fail;
	}
	if (s->opts.async) {
		s->to_thread = g_async_queue_new();
		s->thread = g_thread_try_new("td-store-commit", commit_thread, s, NULL);
		if (!s->thread) {
			td_error("store", "cannot start the commit thread", "thread=%s",
			         "td-store-commit");
			err = -EAGAIN;
			goto fail;
		}
		if ((err = start_checkpointer(s)) < 0) {
			goto fail;
		}
	}
	char *q = g_strescape(s->path, NULL);
	td_info("store", "opened", "path=\"%s\" schema_version=%d sync=%s async=%d", q,
	        s->schema_version, s->opts.sync_full ? "full" : "normal", s->opts.async);
	g_free(q);
	return s;

fail:
	store_destroy(s);
	errno = -err;
	return NULL;
}

/*
 * Checkpoints off the commit path. SQLite's default (wal_autocheckpoint) copies
 * the WAL into the database file inside the COMMIT that crosses 1000 frames,
 * so one group in a dozen waited for the copy and its fsync. Here the
 * writer's WAL hook, called after every commit, asks the checkpointer thread
 * instead, which runs a PASSIVE checkpoint on a connection of its own: it
 * copies what no reader still needs while the writer goes on. Once it has
 * copied everything, the next write transaction starts the WAL over. Should
 * the WAL still grow past CKPT_INLINE_FRAMES (a checkpointer that cannot keep
 * up), the writer copies the rest itself, as SQLite would.
 */
#define CKPT_FRAMES 1000
#define CKPT_INLINE_FRAMES 20000

static int
wal_hook(void *data, sqlite3 *db, const char *name, int frames)
{
	struct store *s = data;
	if (frames >= CKPT_FRAMES && g_atomic_int_compare_and_exchange(&s->ckpt_asked, 0, 1)) {
		g_async_queue_push(s->to_ckpt, GINT_TO_POINTER(MSG_CKPT));
	}
	if (frames >= CKPT_INLINE_FRAMES) {
		int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && !is_busy(rc)) {
			log_db(TD_LOG_WARN, "checkpoint failed", db, rc, "writer");
		}
	}
	return SQLITE_OK;
}

static gpointer
ckpt_thread(gpointer data)
{
	struct store *s = data;
	while (GPOINTER_TO_INT(g_async_queue_pop(s->to_ckpt)) == MSG_CKPT) {
		g_atomic_int_set(&s->ckpt_asked, 0);
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
		                                   &done);
		if (rc != SQLITE_OK && !is_busy(rc)) {
			log_db(TD_LOG_WARN, "checkpoint failed", s->ckpt_db, rc, "checkpointer");
		}
		g_atomic_int_set(&s->ckpt_backfilled, done);
		g_atomic_int_inc(&s->ckpt_runs);
	}
	return NULL;
}

static int
start_checkpointer(struct store *s)
{
	int err = open_conn(s->path, &s->opts, false, &s->ckpt_db);
	if (err < 0) {
		return err;
	}
	s->to_ckpt = g_async_queue_new();
	s->ckpt_thread = g_thread_try_new("td-store-ckpt", ckpt_thread, s, NULL);
	if (!s->ckpt_thread) {
		td_error("store", "cannot start the checkpointer thread", "thread=%s", "td-store-ckpt");
		return -EAGAIN;
	}
	sqlite3_wal_hook(s->writer, wal_hook, s);
	return 0;
}

static void
stop_checkpointer(struct store *s)
{
	if (s->ckpt_thread) {
		g_async_queue_push(s->to_ckpt, GINT_TO_POINTER(MSG_QUIT));
		g_thread_join(s->ckpt_thread);
		s->ckpt_thread = NULL;
	}
	if (s->writer) {
		/* Back to SQLite's own checkpoints for the writer's last commits and close. */
		sqlite3_wal_autocheckpoint(s->writer, CKPT_FRAMES);
	}
	if (s->to_ckpt) {
		g_async_queue_unref(s->to_ckpt);
		s->to_ckpt = NULL;
	}
	if (s->ckpt_db) {
		close_conn(s->ckpt_db, "checkpointer");
		s->ckpt_db = NULL;
	}
}

void
store_checkpoints(struct store *s, unsigned *runs, unsigned *backfilled)
{
	*runs = (unsigned)g_atomic_int_get(&s->ckpt_runs);
	*backfilled = (unsigned)g_atomic_int_get(&s->ckpt_backfilled);
}

void
store_set_events(struct store *s, const struct store_events *events, void *data)
{
	s->events = events;
	s->events_data = data;
}

sqlite3 *
store_reader(struct store *s)
{
	return s->reader;
}

const char *
store_path(struct store *s)
{
	return s->path;
}

int
store_schema_version(struct store *s)
{
	return s->schema_version;
}

int
store_check(struct store *s)
{
	int rc = step_once(s->stmts[STMT_CHECK]);
	if (rc != SQLITE_ROW) {
		log_db(TD_LOG_WARN, "health check failed", s->reader, rc, "reader");
		return -EIO;
	}
	return 0;
}

unsigned
store_pending(struct store *s)
{
	return s->queue.length + s->group.length + s->answering.length;
}

/* ---- group commit, on the loop ---- */

static gboolean kick_cb(gpointer data);
static gboolean commit_done_cb(gpointer data);

static void
schedule_kick(struct store *s, unsigned delay_ms)
{
	if (s->kick || s->committing || g_queue_is_empty(&s->queue)) {
		return;
	}
	GSource *src = delay_ms ? g_timeout_source_new(delay_ms) : g_idle_source_new();
	g_source_set_priority(src, G_PRIORITY_HIGH);
	g_source_set_callback(src, kick_cb, s, NULL);
	g_source_set_static_name(src, "td-store-kick");
	g_source_attach(src, s->ctx);
	s->kick = src;
}

static void
maybe_closed(struct store *s)
{
	if (s->closing && s->close_cb && store_pending(s) == 0) {
		void (*cb)(void *) = s->close_cb;
		s->close_cb = NULL;
		cb(s->close_data);
	}
}

/* Moves the jobs of s->group, committed or failed, to s->answering. */
static void
take_answers(struct store *s)
{
	struct job *j;
	while ((j = g_queue_pop_head(&s->group))) {
		g_queue_push_tail(&s->answering, j);
	}
}

/*
 * Answers every job of s->answering (ok: each job's own status; else -EIO).
 * Jobs stay there until answered so that store_pending() and
 * store_close_writes() called from a done callback see them, while s->group
 * may already hold the next group.
 */
static void
answer_taken(struct store *s, bool ok, double seconds)
{
	if (s->events && s->events->commit) {
		s->events->commit(s->events_data, seconds, s->answering.length, ok);
	}
	struct job *j;
	while ((j = g_queue_pop_head(&s->answering))) {
		if (j->done) {
			j->done(ok ? j->status : -EIO, j->data);
		}
		g_free(j);
	}
}

static void
answer_group(struct store *s, bool ok, double seconds)
{
	take_answers(s);
	answer_taken(s, ok, seconds);
}

/* Last call of a loop callback: the close callback may destroy the store. */
static void
finish_group(struct store *s, bool ok, double seconds)
{
	answer_group(s, ok, seconds);
	schedule_kick(s, 0);
	maybe_closed(s);
}

/* Runs one job in its savepoint; false when the transaction can no longer be trusted. */
static bool
run_job(struct store *s, struct job *j)
{
	int rc = step_once(s->stmts[STMT_SAVEPOINT]);
	if (rc != SQLITE_DONE) {
		log_db(TD_LOG_ERROR, "savepoint failed", s->writer, rc, "SAVEPOINT");
		return false;
	}
	j->status = j->fn(s->writer, j->data);
	if (sqlite3_get_autocommit(s->writer)) {
		/* fn ended the transaction, or SQLite rolled it back on an I/O error. */
		td_error("store", "the group transaction ended inside a job", "status=%d",
		         j->status);
		return false;
	}
	if (j->status < 0) {
		rc = step_once(s->stmts[STMT_ROLLBACK_TO]);
		if (rc != SQLITE_DONE) {
			log_db(TD_LOG_ERROR, "rollback to savepoint failed", s->writer, rc, "job");
			return false;
		}
	} else {
		j->status = 0;
	}
	rc = step_once(s->stmts[STMT_RELEASE]);
	if (rc != SQLITE_DONE) {
		log_db(TD_LOG_ERROR, "release failed", s->writer, rc, "RELEASE");
		return false;
	}
	return true;
}

static gboolean commit_done_cb(gpointer data);

/*
 * After a BEGIN that did not succeed (on the loop, or on the thread for a
 * group of off-loop jobs, which is back in the queue then). Busy: another
 * process holds the write lock; retry later and keep the jobs. Any other
 * error: the database is unusable right now, so the waiting jobs are answered
 * -EIO instead of waiting forever.
 */
static void
begin_failed(struct store *s, int rc)
{
	if (is_busy(rc)) {
		if (!s->busy_since) {
			td_warn("store", "write lock held by another connection, retrying",
			        "queued=%u", s->queue.length);
			s->busy_since = g_get_monotonic_time();
			s->busy_delay_ms = BUSY_DELAY_MIN_MS;
		} else {
			s->busy_delay_ms = MIN(s->busy_delay_ms * 2, BUSY_DELAY_MAX_MS);
		}
		schedule_kick(s, s->busy_delay_ms);
		return;
	}
	log_db(TD_LOG_ERROR, "cannot begin a transaction", s->writer, rc, "BEGIN IMMEDIATE");
	s->busy_since = 0;
	s->group = s->queue;
	g_queue_init(&s->queue);
	finish_group(s, false, 0);
}

static void
begin_done(struct store *s)
{
	if (s->busy_since) {
		td_info("store", "write lock acquired", "waited_ms=%" G_GINT64_FORMAT,
		        (g_get_monotonic_time() - s->busy_since) / 1000);
		s->busy_since = 0;
	}
}

/* BEGIN IMMEDIATE without waiting: a busy lock is retried from the loop. */
static int
begin_now(struct store *s)
{
	sqlite3_busy_timeout(s->writer, 0);
	int rc = step_once(s->stmts[STMT_BEGIN]);
	sqlite3_busy_timeout(s->writer, s->opts.busy_timeout_ms);
	return rc;
}

/*
 * The jobs of s->group in their savepoints, then the group ends, on the thread
 * that owns the writer. False (and the transaction rolled back) when the group
 * cannot be committed.
 */
static bool
run_group(struct store *s)
{
	bool ok = true;
	for (GList *l = s->group.head; l && ok; l = l->next) {
		ok = run_job(s, l->data);
	}
	for (unsigned i = 0; i < s->n_group_end && ok; i++) {
		int r = s->group_end[i].fn(s->writer, s->group_end[i].data);
		if (r < 0) {
			td_error("store", "end of group failed", "err=%d", r);
			ok = false;
		}
	}
	if (!ok && !sqlite3_get_autocommit(s->writer)) {
		int rc = step_once(s->stmts[STMT_ROLLBACK]);
		if (rc != SQLITE_DONE) {
			log_db(TD_LOG_ERROR, "rollback failed", s->writer, rc, "ROLLBACK");
		}
	}
	return ok;
}

/* Moves the longest run of jobs of the head's kind from the queue to the group. */
static bool
take_group(struct store *s)
{
	struct job *head = g_queue_peek_head(&s->queue);
	bool off_loop = head->off_loop;
	g_queue_init(&s->group);
	while ((head = g_queue_peek_head(&s->queue)) && head->off_loop == off_loop) {
		g_queue_push_tail(&s->group, g_queue_pop_head(&s->queue));
	}
	return off_loop;
}

static void
hand_to_thread(struct store *s, int msg, gint64 start)
{
	s->committing = true;
	s->group_start = start;
	s->result = g_idle_source_new();
	g_source_set_priority(s->result, G_PRIORITY_HIGH);
	g_source_set_static_name(s->result, "td-store-commit-done");
	g_source_set_callback(s->result, commit_done_cb, s, NULL);
	g_async_queue_push(s->to_thread, GINT_TO_POINTER(msg));
}

static void
start_group(struct store *s)
{
	if (s->committing || g_queue_is_empty(&s->queue)) {
		return;
	}
	gint64 start = g_get_monotonic_time();
	struct job *head = g_queue_peek_head(&s->queue);
	if (head->off_loop) {
		take_group(s);
		hand_to_thread(s, MSG_RUN, start);
		return;
	}
	int rc = begin_now(s);
	if (rc != SQLITE_DONE) {
		begin_failed(s, rc);
		return;
	}
	begin_done(s);
	/* Jobs queued by the fns below go to the next group. */
	take_group(s);
	if (!run_group(s)) {
		finish_group(s, false, (g_get_monotonic_time() - start) / 1e6);
		return;
	}
	hand_to_thread(s, MSG_COMMIT, start);
}

void
store_add_group_end(struct store *s, store_txn_fn fn, void *data)
{
	g_return_if_fail(s->n_group_end < G_N_ELEMENTS(s->group_end));
	s->group_end[s->n_group_end].fn = fn;
	s->group_end[s->n_group_end].data = data;
	s->n_group_end++;
}

static gboolean
kick_cb(gpointer data)
{
	struct store *s = data;
	g_source_unref(s->kick);
	s->kick = NULL;
	start_group(s);
	return G_SOURCE_REMOVE;
}

static gboolean
commit_done_cb(gpointer data)
{
	struct store *s = data;
	g_source_unref(s->result);
	s->result = NULL;
	s->committing = false;
	if (s->begin_rc != SQLITE_DONE) {
		/* An off-loop group that could not begin: back to the head of the queue. */
		struct job *j;
		while ((j = g_queue_pop_tail(&s->group))) {
			g_queue_push_head(&s->queue, j);
		}
		begin_failed(s, s->begin_rc);
		maybe_closed(s);
		return G_SOURCE_REMOVE;
	}
	begin_done(s);
	take_answers(s);
	bool ok = s->commit_rc == SQLITE_DONE;
	double seconds = (s->commit_end - s->group_start) / 1e6;
	/*
	 * The next off-loop group goes to the writer before this one is answered:
	 * the done callbacks keep the loop busy a while, and the writer would wait.
	 */
	struct job *next = g_queue_peek_head(&s->queue);
	if (next && next->off_loop) {
		start_group(s);
	}
	answer_taken(s, ok, seconds);
	schedule_kick(s, 0);
	maybe_closed(s);
	return G_SOURCE_REMOVE;
}

/*
 * The commit thread: owns the writer from MSG_COMMIT until it attaches the
 * result source, which hands the connection back to the loop. MSG_QUIT comes
 * after any MSG_COMMIT already pushed, so a commit in flight always finishes.
 */
static gpointer
commit_thread(gpointer data)
{
	struct store *s = data;
	for (;;) {
		int msg = GPOINTER_TO_INT(g_async_queue_pop(s->to_thread));
		if (msg == MSG_QUIT) {
			break;
		}
		s->begin_rc = SQLITE_DONE;
		if (msg == MSG_RUN) {
			s->begin_rc = begin_now(s);
			if (s->begin_rc != SQLITE_DONE) {
				s->commit_rc = s->begin_rc;
				s->commit_end = g_get_monotonic_time();
				g_source_attach(s->result, s->ctx);
				continue;
			}
			if (!run_group(s)) {
				s->commit_rc = SQLITE_ABORT;
				s->commit_end = g_get_monotonic_time();
				g_source_attach(s->result, s->ctx);
				continue;
			}
		}
		int rc = step_once(s->stmts[STMT_COMMIT]);
		if (rc != SQLITE_DONE) {
			log_db(TD_LOG_ERROR, "commit failed, group rolled back", s->writer, rc,
			       "COMMIT");
			if (!sqlite3_get_autocommit(s->writer)) {
				int rrc = step_once(s->stmts[STMT_ROLLBACK]);
				if (rrc != SQLITE_DONE) {
					log_db(TD_LOG_ERROR, "rollback failed", s->writer, rrc,
					       "ROLLBACK");
				}
			}
		}
		s->commit_rc = rc;
		s->commit_end = g_get_monotonic_time();
		g_source_attach(s->result, s->ctx);
	}
	return NULL;
}

static int
queue_job(struct store *s, store_txn_fn fn, store_done_fn done, void *data, bool off_loop)
{
	if (!fn) {
		return -EINVAL;
	}
	if (!s->opts.async) {
		return -ENOTSUP;
	}
	if (s->closing) {
		return -ESHUTDOWN;
	}
	if (store_pending(s) >= s->opts.max_queued) {
		return -EAGAIN;
	}
	struct job *j = g_new(struct job, 1);
	*j = (struct job){.fn = fn, .done = done, .data = data, .off_loop = off_loop};
	g_queue_push_tail(&s->queue, j);
	schedule_kick(s, 0);
	return 0;
}

int
store_write(struct store *s, store_txn_fn fn, store_done_fn done, void *data)
{
	return queue_job(s, fn, done, data, false);
}

int
store_write_off_loop(struct store *s, store_txn_fn fn, store_done_fn done, void *data)
{
	return queue_job(s, fn, done, data, true);
}

int
store_write_sync(struct store *s, store_txn_fn fn, void *data)
{
	if (!fn) {
		return -EINVAL;
	}
	if (s->committing) {
		return -EBUSY;
	}
	int rc = step_once(s->stmts[STMT_BEGIN]);
	if (rc != SQLITE_DONE) {
		log_db(TD_LOG_ERROR, "cannot begin a transaction", s->writer, rc,
		       "BEGIN IMMEDIATE");
		return is_busy(rc) ? -EBUSY : -EIO;
	}
	int status = fn(s->writer, data);
	if (sqlite3_get_autocommit(s->writer)) {
		td_error("store", "the transaction ended inside a job", "status=%d", status);
		return -EIO;
	}
	if (status < 0) {
		rc = step_once(s->stmts[STMT_ROLLBACK]);
		if (rc != SQLITE_DONE) {
			log_db(TD_LOG_ERROR, "rollback failed", s->writer, rc, "ROLLBACK");
		}
		return status;
	}
	rc = step_once(s->stmts[STMT_COMMIT]);
	if (rc == SQLITE_DONE) {
		return status;
	}
	log_db(TD_LOG_ERROR, "commit failed, rolled back", s->writer, rc, "COMMIT");
	if (!sqlite3_get_autocommit(s->writer)) {
		step_once(s->stmts[STMT_ROLLBACK]);
	}
	return -EIO;
}

void
store_close_writes(struct store *s, void (*cb)(void *data), void *data)
{
	s->closing = true;
	s->close_cb = cb;
	s->close_data = data;
	if (cb) {
		maybe_closed(s);
	}
}

/* ---- backup ---- */

static int
fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	int err = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return err;
}

static void
unlink_db_files(const char *path)
{
	static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		char *p = g_strconcat(path, suffixes[i], NULL);
		g_unlink(p);
		g_free(p);
	}
}

/*
 * Copies the database page by page in one read transaction of a fresh
 * connection, so the copy is a consistent snapshot however busy the writer
 * is (WAL readers do not block writers). The source is in WAL mode and the
 * copy carries that in its header; reopening it and switching to
 * journal_mode=DELETE makes FILE a single self-contained file. The copy is
 * written to FILE.tmp, synced and renamed, so FILE is either the old file or
 * a complete new one.
 */
int
store_backup(struct store *s, const char *file)
{
	char *tmp = g_strconcat(file, ".tmp", NULL);
	char *dir = g_path_get_dirname(file);
	sqlite3 *src = NULL;
	sqlite3 *dst = NULL;
	int err;

	unlink_db_files(tmp);
	if ((err = create_db_file(tmp)) < 0) {
		goto fail;
	}
	if ((err = open_conn(s->path, &s->opts, true, &src)) < 0) {
		goto fail;
	}
	int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_db(TD_LOG_ERROR, "cannot open the backup file", dst, rc, "backup");
		err = -EIO;
		goto fail;
	}
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		log_db(TD_LOG_ERROR, "cannot start the backup", dst, sqlite3_errcode(dst),
		       "backup");
		err = -EIO;
		goto fail;
	}
	int waited_ms = 0;
	while (is_busy(rc = sqlite3_backup_step(b, -1)) && waited_ms < s->opts.busy_timeout_ms) {
		sqlite3_sleep(10);
		waited_ms += 10;
	}
	int pages = sqlite3_backup_pagecount(b);
	int frc = sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE || frc != SQLITE_OK) {
		log_db(TD_LOG_ERROR, "backup failed", dst, rc != SQLITE_DONE ? rc : frc, "backup");
		err = is_busy(rc) ? -EBUSY : -EIO;
		goto fail;
	}
	sqlite3_close(dst);
	dst = NULL;
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK || exec(dst, "PRAGMA journal_mode = DELETE") != SQLITE_OK) {
		err = -EIO;
		goto fail;
	}
	sqlite3_close(dst);
	dst = NULL;
	if ((err = fsync_path(tmp, O_RDONLY)) < 0) {
		goto fail;
	}
	if (rename(tmp, file) < 0) {
		err = -errno;
		goto fail;
	}
	if ((err = fsync_path(dir, O_RDONLY | O_DIRECTORY)) < 0) {
		goto fail;
	}
	td_info("store", "backup written", "pages=%d", pages);
	sqlite3_close(src);
	g_free(dir);
	g_free(tmp);
	return 0;

fail:
	td_error("store", "backup failed", "errno=%d", -err);
	sqlite3_close(dst);
	sqlite3_close(src);
	unlink_db_files(tmp);
	g_free(dir);
	g_free(tmp);
	return err;
}

/* ---- teardown ---- */

static void
close_conn(sqlite3 *db, const char *name)
{
	store_stmt_forget(db);
	if (sqlite3_close(db) == SQLITE_BUSY) {
		int n = 0;
		for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st;
		     st = sqlite3_next_stmt(db, st)) {
			n++;
		}
		td_error("store", "statements left unfinalized at close", "conn=%s count=%d", name,
		         n);
		sqlite3_close_v2(db);
	}
}

/*
 * Joins the commit thread after any commit in flight. Jobs that still wait
 * for an answer get it here: the in-flight group its commit result, queued
 * jobs -ESHUTDOWN. Normal shutdown goes through store_close_writes() first,
 * so there are none.
 */
void
store_destroy(struct store *s)
{
	if (!s) {
		return;
	}
	if (s->thread) {
		g_async_queue_push(s->to_thread, GINT_TO_POINTER(MSG_QUIT));
		g_thread_join(s->thread);
		s->thread = NULL;
	}
	stop_checkpointer(s);
	if (s->kick) {
		g_source_destroy(s->kick);
		g_source_unref(s->kick);
		s->kick = NULL;
	}
	if (s->result) {
		g_source_destroy(s->result);
		g_source_unref(s->result);
		s->result = NULL;
		s->committing = false;
		answer_group(s, s->commit_rc == SQLITE_DONE,
		             (s->commit_end - s->group_start) / 1e6);
	}
	struct job *j;
	while ((j = g_queue_pop_head(&s->queue))) {
		if (j->done) {
			j->done(-ESHUTDOWN, j->data);
		}
		g_free(j);
	}
	if (s->to_thread) {
		g_async_queue_unref(s->to_thread);
	}
	for (size_t i = 0; i < STMT_N; i++) {
		sqlite3_finalize(s->stmts[i]);
	}
	close_conn(s->reader, "reader");
	close_conn(s->writer, "writer");
	if (s->ctx) {
		g_main_context_unref(s->ctx);
	}
	g_free(s->path);
	g_free(s);
}
