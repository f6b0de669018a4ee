/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * The store: one SQLite database `tiepdan.db` in the data directory, WAL mode,
 * foreign keys on, STRICT tables, migrations applied in order under
 * PRAGMA user_version.
 *
 * Writes go through store_write(): the job's function runs on the GLib main
 * loop inside a SAVEPOINT of a shared transaction (BEGIN IMMEDIATE on the
 * writer connection); jobs that arrive while a commit is in progress are
 * gathered into the next transaction (group commit). The COMMIT itself (the
 * fsync) runs on a dedicated commit thread so the loop never waits for the
 * disk; its completion is handed back to the loop, where every job of the
 * group gets its done callback. A job is answered only after its transaction
 * committed, so every answered write survives a crash.
 *
 * Jobs queued with store_write_off_loop() run on that thread instead, BEGIN
 * to COMMIT, so a busy loop and the writer use two cores: a group is made of
 * consecutive jobs of one kind, and runs on the loop when its jobs are loop
 * jobs, on the writer thread when they are off-loop jobs. Either way only one
 * thread owns the writer connection at a time.
 *
 * Reads on the loop use store_reader(), a separate connection that sees the
 * last committed state.
 */

#include <glib.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TD_WUR __attribute__((warn_unused_result))

struct store;

struct store_options {
	/* synchronous=FULL when true (the default), NORMAL otherwise. */
	bool sync_full;
	/* the page cache of each connection in MiB (default 64; SQLite's own is 2). */
	unsigned cache_mb;
	/* busy_timeout in milliseconds (default 5000). */
	int busy_timeout_ms;
	/* at most this many queued write jobs; store_write() answers -EAGAIN past it (default 100000). */
	unsigned max_queued;
	/* false for tiepdan-admin: no commit thread, only store_write_sync(). */
	bool async;
};

struct store_events {
#define STORE_EVENTS_VERSION 0
	uint32_t version;
	/* A group was committed (ok) or failed: its duration in seconds (from BEGIN to
	 * the end of COMMIT) and its number of jobs. Called on the loop. */
	void (*commit)(void *data, double seconds, unsigned jobs, bool ok);
};

/** Fills *opts with the defaults. */
void store_options_init(struct store_options *opts);

/**
 * Opens (creating when absent) DATA_DIR/tiepdan.db and applies the migrations.
 * Returns (transfer full) the store, or NULL with errno set and a log line.
 */
struct store *store_open(const char *data_dir, const struct store_options *opts) TD_WUR;

/** Waits for a commit in flight, finishes the statements, closes. NULL is fine. */
void store_destroy(struct store *s);

/** Sets the (nullable) event listener. */
void store_set_events(struct store *s, const struct store_events *events, void *data);

/** (transfer none) The read connection, for the loop's thread only. */
sqlite3 *store_reader(struct store *s);

/**
 * The checkpoints the checkpointer thread ran so far and the WAL frames the
 * last one copied into the database file (both 0 for a store without threads).
 */
void store_checkpoints(struct store *s, unsigned *runs, unsigned *backfilled);

/** The schema version (PRAGMA user_version) after migrations. */
int store_schema_version(struct store *s);

/** 0 when the database answers a trivial query on the reader, else -EIO. */
int store_check(struct store *s);

/*
 * A write job. fn runs on the loop inside its own SAVEPOINT of the group's
 * transaction, on the writer connection `db`; it returns 0 to keep its
 * changes or a negative errno-style code to roll back its own changes only
 * (the other jobs of the group are unaffected). done runs on the loop after
 * the group's COMMIT: with status 0 when committed, with fn's code when fn
 * failed, or -EIO when the COMMIT failed (then nothing of the group is kept).
 * fn must not keep statements open or start or end transactions.
 */
typedef int (*store_txn_fn)(sqlite3 *db, void *data);
typedef void (*store_done_fn)(int status, void *data);

/** Queues a write job. 0, -EAGAIN when the queue is full, -ESHUTDOWN after store_close_writes(). */
int store_write(struct store *s, store_txn_fn fn, store_done_fn done, void *data) TD_WUR;

/**
 * Queues a write job whose fn runs on the writer thread, not on the loop (done
 * still runs on the loop). fn may touch only `db`, its own data (which nothing
 * else touches until done) and what is safe from any thread: store_stmt() and
 * the other functions of this header that take a db, logging, seal_*(),
 * store_time_now(), jansson on its own values. It must not call store_write().
 * Same answers as store_write().
 */
int store_write_off_loop(struct store *s, store_txn_fn fn, store_done_fn done,
			 void *data) TD_WUR;

/**
 * Adds fn to what runs once at the end of every group, after its jobs, in the same
 * transaction and outside any job's savepoint: work that is cheaper once per group than once
 * per job (FTS5 flushes its pending terms into a new segment at every savepoint). fn
 * returning a negative code fails the whole group (every job is answered -EIO). At most 4.
 * fn runs on the thread that runs the group, the loop or the writer thread
 * (store_write_off_loop()), so it must follow the rules of an off-loop fn.
 */
void store_add_group_end(struct store *s, store_txn_fn fn, void *data);

/**
 * Runs fn in its own BEGIN IMMEDIATE ... COMMIT on the calling thread and
 * returns fn's code, or -EIO when the commit failed. For tiepdan-admin and
 * start-up work before the loop runs.
 */
int store_write_sync(struct store *s, store_txn_fn fn, void *data) TD_WUR;

/**
 * Refuses new writes from now on, and calls cb on the loop once every queued
 * and in-flight job has had its done callback (at once when none is pending).
 */
void store_close_writes(struct store *s, void (*cb)(void *data), void *data);

/** Number of jobs queued or in flight. */
unsigned store_pending(struct store *s);

/** A consistent copy of the database into FILE (online backup API). 0 or negative errno. */
int store_backup(struct store *s, const char *file) TD_WUR;

/** A new opaque identifier: 22 characters of URL-safe base64 of 16 random bytes, NUL-terminated. */
void store_new_id(char out[23]);

/** (transfer none) The path of the database file (DATA_DIR/tiepdan.db). */
const char *store_path(struct store *s);

/* Size of a buffer for store_time_now(), NUL included. */
#define STORE_TIME_SIZE 32

/**
 * The current time as stored in the database: RFC 3339 with seconds and the
 * portal's offset (zone Asia/Ho_Chi_Minh, +07:00), e.g. "2026-06-05T09:30:00+07:00".
 */
void store_time_now(char out[STORE_TIME_SIZE]);

/**
 * Maps a SQLite result code to 0 or a negative errno: SQLITE_OK, SQLITE_ROW
 * and SQLITE_DONE → 0; a UNIQUE or PRIMARY KEY violation → -EEXIST; any other
 * constraint (CHECK, NOT NULL, FOREIGN KEY, STRICT datatype) → -EINVAL;
 * SQLITE_BUSY or SQLITE_LOCKED → -EBUSY; anything else → -EIO.
 */
int store_errno(int sqlite_rc);

/**
 * Runs one statement that returns no row, with ?1..?n bound as text (a NULL
 * element binds NULL). It prepares the statement on every call: for cold
 * paths only (start-up, tiepdan-admin, demo data). 0 or store_errno()'s code;
 * failures are logged at debug level only, since a constraint is often the
 * expected answer.
 */
int store_exec_text(sqlite3 *db, const char *sql, const char *const *params, int n) TD_WUR;

/**
 * (transfer none, nullable) The statement for sql on db, prepared once per connection and
 * kept until the store closes it (SQLite's prepare costs microseconds; a request runs
 * dozens). It comes unbound and is the caller's until store_stmt_release(), which must come
 * as soon as its rows are read — a statement left stepping on the reader keeps that
 * connection's snapshot (and the WAL) from moving on; most simply declare it
 * `g_autoptr(StoreStmt) st = store_stmt(db, SQL);`. A nested use of the same SQL while the
 * kept one is lent out gets a fresh statement, finalized by its release. NULL when it does
 * not prepare (logged; the error is db's).
 */
sqlite3_stmt *store_stmt(sqlite3 *db, const char *sql);

/** The same as an SQLite return code, for code shaped like sqlite3_prepare_v2(). */
int store_stmt_get(sqlite3 *db, const char *sql, sqlite3_stmt **out);

/** Hands back a statement of store_stmt(): reset and unbound, or finalized. NULL is fine. */
void store_stmt_release(sqlite3_stmt *st);

/** Finalizes every cached statement of db (before it is closed). */
void store_stmt_forget(sqlite3 *db);

typedef sqlite3_stmt StoreStmt;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreStmt, store_stmt_release)

/**
 * (transfer full, nullable) The first column of the first row of a query with text
 * parameters (NULL when there is no row, the value is NULL, or the query fails): the
 * one-value lookups ("the level of this agency", "the user with this national id").
 */
char *store_query_text(sqlite3 *db, const char *sql, const char *const *params, int n);
