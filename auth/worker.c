/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/pwhash-proto.h"
#include "tiepdan/log.h"
#include "tiepdan/password.h"

#define MOD "auth"
/* argon2 takes ~100 ms here; a helper silent this long is stuck and is replaced. */
#define HELPER_TIMEOUT_MS 30000

enum job_kind { JOB_HASH, JOB_VERIFY };

struct job {
	enum job_kind kind;
	char *pw;   /* wiped on free */
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
	/* The helper process: started by create, then the worker thread's alone. */
	char *helper_path;
	GPid helper_pid;
	int helper_fd;
	char dummy[crypto_pwhash_STRBYTES];
	void (*idle_cb)(void *data);
	void *idle_data;
};

static void
job_free(struct job *j)
{
	if (j->pw) {
		sodium_memzero(j->pw, j->pw_len);
		g_free(j->pw);
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

/* ---- the helper process ---- */

static bool
helper_start(struct pw_worker *w, GError **error)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "socketpair: %s",
			    g_strerror(errno));
		return false;
	}
	const char *argv[] = {w->helper_path, NULL};
	GPid pid = 0;
	/* The child's standard input is its end of the socket; every other descriptor is closed. */
	gboolean ok = g_spawn_async_with_pipes_and_fds(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
						       NULL, NULL, sv[1], -1, -1, NULL, NULL, 0,
						       &pid, NULL, NULL, NULL, error);
	close(sv[1]);
	if (!ok) {
		close(sv[0]);
		return false;
	}
	w->helper_pid = pid;
	w->helper_fd = sv[0];
	return true;
}

/* Closes the socket (the helper exits at end of file) and reaps it; kill when it is stuck. */
static void
helper_stop(struct pw_worker *w, bool kill_it)
{
	if (w->helper_fd >= 0) {
		close(w->helper_fd);
		w->helper_fd = -1;
	}
	if (w->helper_pid > 0) {
		if (kill_it) {
			kill(w->helper_pid, SIGKILL);
		}
		int status;
		while (waitpid(w->helper_pid, &status, 0) < 0 && errno == EINTR) {
		}
		g_spawn_close_pid(w->helper_pid);
		w->helper_pid = 0;
	}
}

/* One round trip: the answer's length, or -errno when the helper is gone or stuck. */
static ssize_t
helper_exchange(struct pw_worker *w, const void *req, size_t len, char *out, size_t cap)
{
	if (w->helper_fd < 0) {
		return -EPIPE;
	}
	ssize_t n;
	do {
		n = send(w->helper_fd, req, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	struct pollfd p = {.fd = w->helper_fd, .events = POLLIN};
	int r;
	do {
		r = poll(&p, 1, HELPER_TIMEOUT_MS);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		return -ETIMEDOUT;
	}
	do {
		n = recv(w->helper_fd, out, cap, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return -errno;
	}
	return n == 0 ? -EPIPE : n;
}

/*
 * Sends one job to the helper and waits for its answer. A helper that died is
 * started again and the job sent once more; one that is stuck is killed and
 * replaced, and the job fails.
 */
static ssize_t
helper_call(struct pw_worker *w, const void *req, size_t len, char *out, size_t cap)
{
	for (int attempt = 0;; attempt++) {
		ssize_t n = helper_exchange(w, req, len, out, cap);
		if (n > 0) {
			return n;
		}
		td_warn(MOD, "password helper failed; starting it again", "err=\"%s\"",
			g_strerror((int)-n));
		helper_stop(w, true);
		GError *error = NULL;
		if (!helper_start(w, &error)) {
			td_error(MOD, "cannot start the password helper", "path=\"%s\" err=\"%s\"",
				 w->helper_path, error->message);
			g_error_free(error);
			return -EIO;
		}
		if (n == -ETIMEDOUT || attempt > 0) {
			return -EIO;
		}
	}
}

/* Hash (hash == NULL) or verify one password; result as pw_done_fn's. */
static int
run_job(struct pw_worker *w, const char *pw, size_t pw_len, const char *hash, char **out_hash)
{
	unsigned char req[PWHASH_REQUEST_MAX];
	char out[PWHASH_ANSWER_MAX + 1];
	size_t hash_len = hash ? strnlen(hash, crypto_pwhash_STRBYTES) : 0;
	if (pw_len > AUTH_PASSWORD_MAX_BYTES || hash_len >= crypto_pwhash_STRBYTES) {
		return hash ? -EACCES : -EINVAL;
	}
	req[0] = hash ? PWHASH_OP_VERIFY : PWHASH_OP_HASH;
	req[1] = (unsigned char)(pw_len >> 8);
	req[2] = (unsigned char)(pw_len & 0xff);
	memcpy(req + PWHASH_HEADER, pw, pw_len);
	if (hash) {
		memcpy(req + PWHASH_HEADER + pw_len, hash, hash_len);
	}
	ssize_t n = helper_call(w, req, PWHASH_HEADER + pw_len + hash_len, out, PWHASH_ANSWER_MAX);
	sodium_memzero(req, sizeof(req));
	if (n < 0) {
		return -EIO;
	}
	if (out[0] == PWHASH_NO) {
		return -EACCES;
	}
	if (out[0] != PWHASH_YES) {
		return -ENOMEM;
	}
	if (out_hash) {
		out[n] = '\0';
		if (n < 2) {
			return -ENOMEM;
		}
		*out_hash = g_strdup(out + 1);
	}
	return 0;
}

static gpointer
worker_main(gpointer data)
{
	struct pw_worker *w = data;
	/* The dummy hash that unknown logins are verified against, made before any job. */
	char *dummy = NULL;
	if (run_job(w, "tiepdan dummy password for unknown logins", 41, NULL, &dummy) == 0 &&
	    strlen(dummy) < sizeof(w->dummy)) {
		memcpy(w->dummy, dummy, strlen(dummy) + 1);
	}
	g_free(dummy);
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
			j->result = run_job(w, j->pw, j->pw_len, NULL, &j->out_hash);
		} else {
			/* An unknown login costs a real verification, then fails. */
			const char *h = j->hash ? j->hash : w->dummy;
			int r = run_job(w, j->pw, j->pw_len, h, NULL);
			j->result = r == 0 && !j->hash ? -EACCES : r;
		}
		sodium_memzero(j->pw, j->pw_len);

		g_mutex_lock(&w->lock);
		w->running = 0;
		g_mutex_unlock(&w->lock);
		/* delivering is counted on the loop side before the job was queued. */
		g_main_context_invoke(w->ctx, deliver, j);
	}
	helper_stop(w, false);
	return NULL;
}

struct pw_worker *
pw_worker_create(unsigned max_queued, const char *helper_path, GError **error)
{
	struct pw_worker *w = g_new0(struct pw_worker, 1);
	w->max_queued = max_queued ? max_queued : 32;
	w->helper_path = g_strdup(helper_path);
	w->helper_fd = -1;
	if (!helper_start(w, error)) {
		g_prefix_error(error, "password helper %s: ", helper_path);
		g_free(w->helper_path);
		g_free(w);
		return NULL;
	}
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
	g_free(w->helper_path);
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
	/*
	 * Ordinary memory, wiped when freed: sodium_malloc would map, protect and
	 * lock pages here, on the loop, for every login.
	 */
	j->pw = g_malloc(len + 1);
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
