/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "worker.h"

#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sodium.h>
#include <string.h>

#include "tiepdan/log.h"
#include "tiepdan/password.h"

#define MOD "auth"

enum job_kind { JOB_HASH, JOB_VERIFY, JOB_QUIT };

struct job {
	enum job_kind kind;
	char *pw;   /* sodium_malloc'd, wiped on free */
	size_t pw_len;
	char *hash; /* (nullable) to verify against */
	pw_done_fn done;
	void *data;
	struct pw_worker *w;
	int result;
	char *out_hash;
};

struct pw_worker {
	GThread *thread;
	GMainContext *ctx;
	GMutex lock;
	GCond cond;
	GQueue queue; /* of struct job* waiting */
	unsigned max_queued;
	unsigned running; /* 0 or 1, under lock */
	unsigned delivering; /* results handed to the loop, not yet delivered (loop only) */
	bool quit;
	char dummy[crypto_pwhash_STRBYTES];
	void (*idle_cb)(void *data);
	void *idle_data;
};

static void
job_free(struct job *j)
{
	if (j->pw) {
		sodium_free(j->pw);
	}
	g_free(j->hash);
	g_free(j->out_hash);
	g_free(j);
}

static void
check_idle(struct pw_worker *w)
{
	g_mutex_lock(&w->lock);
	bool idle = w->queue.length == 0 && w->running == 0 && w->delivering == 0;
	g_mutex_unlock(&w->lock);
	if (idle && w->idle_cb) {
		void (*cb)(void *) = w->idle_cb;
		w->idle_cb = NULL;
		cb(w->idle_data);
	}
}

/* On the loop: hand the result to whoever asked. */
static gboolean
deliver(gpointer data)
{
	struct job *j = data;
	struct pw_worker *w = j->w;
	char *hash = j->out_hash;
	j->out_hash = NULL;
	w->delivering--;
	j->done(j->result, hash, j->data);
	job_free(j);
	check_idle(w);
	return G_SOURCE_REMOVE;
}

static gpointer
worker_main(gpointer data)
{
	struct pw_worker *w = data;
	/*
	 * argon2 may take a whole core for as long as logins keep coming; the loop
	 * must not wait for it. The lowest nice value of this thread alone lets the
	 * loop go first on a busy machine, and logins slow down instead of every
	 * other request. (SCHED_IDLE was tried: on a machine busy with something
	 * else, logins then starved for minutes.)
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) != 0) {
		td_warn(MOD, "password worker keeps the normal priority", "%s", "");
	}
	/* The dummy hash that unknown logins are verified against, made before any job. */
	if (auth_password_hash("tiepdan dummy password for unknown logins", w->dummy) < 0) {
		w->dummy[0] = '\0';
	}
	for (;;) {
		g_mutex_lock(&w->lock);
		while (!w->quit && w->queue.length == 0) {
			g_cond_wait(&w->cond, &w->lock);
		}
		if (w->quit) {
			g_mutex_unlock(&w->lock);
			break;
		}
		struct job *j = g_queue_pop_head(&w->queue);
		w->running = 1;
		g_mutex_unlock(&w->lock);

		if (j->kind == JOB_HASH) {
			char out[crypto_pwhash_STRBYTES];
			j->result = auth_password_hash(j->pw, out);
			if (j->result == 0) {
				j->out_hash = g_strdup(out);
			}
		} else {
			const char *h = j->hash ? j->hash : w->dummy;
			bool ok = auth_password_verify(h, j->pw);
			j->result = ok && j->hash ? 0 : -EACCES;
		}
		sodium_free(j->pw);
		j->pw = NULL;

		g_mutex_lock(&w->lock);
		w->running = 0;
		g_mutex_unlock(&w->lock);
		/* delivering is counted on the loop side before the job was queued. */
		g_main_context_invoke(w->ctx, deliver, j);
	}
	return NULL;
}

struct pw_worker *
pw_worker_create(unsigned max_queued)
{
	struct pw_worker *w = g_new0(struct pw_worker, 1);
	w->max_queued = max_queued ? max_queued : 32;
	w->ctx = g_main_context_ref_thread_default();
	g_mutex_init(&w->lock);
	g_cond_init(&w->cond);
	g_queue_init(&w->queue);
	w->thread = g_thread_new("tiepdan-argon2", worker_main, w);
	return w;
}

void
pw_worker_destroy(struct pw_worker *w)
{
	if (!w) {
		return;
	}
	g_mutex_lock(&w->lock);
	w->quit = true;
	GQueue waiting = w->queue;
	g_queue_init(&w->queue);
	g_cond_signal(&w->cond);
	g_mutex_unlock(&w->lock);
	g_thread_join(w->thread);
	/* Results already handed over are delivered; waiting jobs are cancelled. */
	while (w->delivering > waiting.length && g_main_context_iteration(w->ctx, FALSE)) {
	}
	struct job *j;
	while ((j = g_queue_pop_head(&waiting))) {
		w->delivering--;
		j->done(-ECANCELED, NULL, j->data);
		job_free(j);
	}
	g_mutex_clear(&w->lock);
	g_cond_clear(&w->cond);
	g_main_context_unref(w->ctx);
	sodium_memzero(w->dummy, sizeof(w->dummy));
	g_free(w);
}

static int
submit(struct pw_worker *w, enum job_kind kind, const char *hash, const char *pw,
       pw_done_fn done, void *data)
{
	size_t len = strnlen(pw, AUTH_PASSWORD_MAX_BYTES + 1);
	g_mutex_lock(&w->lock);
	bool full = w->queue.length >= w->max_queued || w->quit;
	g_mutex_unlock(&w->lock);
	if (full) {
		return -EAGAIN;
	}
	struct job *j = g_new0(struct job, 1);
	j->kind = kind;
	j->pw = sodium_malloc(len + 1);
	if (!j->pw) {
		g_free(j);
		return -ENOMEM;
	}
	memcpy(j->pw, pw, len);
	j->pw[len] = '\0';
	j->pw_len = len;
	j->hash = g_strdup(hash);
	j->done = done;
	j->data = data;
	j->w = w;
	w->delivering++;
	g_mutex_lock(&w->lock);
	g_queue_push_tail(&w->queue, j);
	g_cond_signal(&w->cond);
	g_mutex_unlock(&w->lock);
	return 0;
}

int
pw_worker_hash(struct pw_worker *w, const char *pw, pw_done_fn done, void *data)
{
	return submit(w, JOB_HASH, NULL, pw, done, data);
}

int
pw_worker_verify(struct pw_worker *w, const char *hash, const char *pw, pw_done_fn done,
		 void *data)
{
	return submit(w, JOB_VERIFY, hash, pw, done, data);
}

unsigned
pw_worker_pending(struct pw_worker *w)
{
	return w->delivering;
}

void
pw_worker_when_idle(struct pw_worker *w, void (*cb)(void *data), void *data)
{
	w->idle_cb = cb;
	w->idle_data = data;
	check_idle(w);
}
