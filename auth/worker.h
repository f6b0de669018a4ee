/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * The password worker: one thread that hands password jobs (argon2id, ~100 ms
 * and 64 MiB each; a second one in parallel adds no throughput on these
 * machines because the work is memory-bound), from a bounded queue, to the
 * helper process tiepdan-pwhash and waits for its answers. Results come back
 * on the GLib main context that created the worker, so the loop never waits
 * for argon2 — not even for the kernel's lock on the address space, which
 * libsodium's 64 MiB mapping per hash would hold in this process.
 */

#include <glib.h>
#include <stdbool.h>

struct pw_worker;

/* result: 0 (hash made / password matches), -EACCES (does not match), -ECANCELED (the worker
 * was destroyed first), -ENOMEM (argon2 had no memory), -EIO (the helper failed twice or hung).
 * hash (transfer full, nullable) only for a hash job. */
typedef void (*pw_done_fn)(int result, char *hash, void *data);

/**
 * (transfer full) A worker accepting at most max_queued jobs waiting, with the helper program
 * at helper_path started (and started again whenever it dies). NULL + error when it cannot be.
 */
struct pw_worker *pw_worker_create(unsigned max_queued, const char *helper_path, GError **error);

/** Cancels waiting jobs (their callbacks get -ECANCELED), finishes the running one, joins. */
void pw_worker_destroy(struct pw_worker *w);

/** Queues a hash of pw (copied and wiped). 0, or -EAGAIN when the queue is full. */
int pw_worker_hash(struct pw_worker *w, const char *pw, pw_done_fn done, void *data);

/**
 * Queues a verification of pw against hash (nullable: then a dummy hash is verified and the
 * result is -EACCES, taking the same time as a real one). 0 or -EAGAIN.
 */
int pw_worker_verify(struct pw_worker *w, const char *hash, const char *pw, pw_done_fn done,
		     void *data);

/** Jobs waiting or running. */
unsigned pw_worker_pending(struct pw_worker *w);

/** Calls cb on the main context once no job is waiting or running (at once if none). */
void pw_worker_when_idle(struct pw_worker *w, void (*cb)(void *data), void *data);
