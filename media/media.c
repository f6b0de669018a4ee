/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "media-private.h"

#include <errno.h>
#include <nice/agent.h>
#include <string.h>

#include "tiepdan/log.h"

/*
 * Process-wide parts of media/: GStreamer start-up, the check that the
 * elements are installed, the DTLS certificate warm-up, the worker pool
 * that runs blocking state changes off the loop, and the libnice agent used
 * only to parse remote candidates.
 */

static GMutex lock;
static bool initialised;
static GThreadPool *workers;
static GThread *warm_thread;
static NiceAgent *parser;
static GMainContext *parser_ctx;

static const char *const needed[] = {
	"webrtcbin", "nicesrc", "nicesink", "dtlsdec", "dtlsenc", "srtpenc", "srtpdec", "rtpbin",
	"tee", "queue",
	/* recording */
	"rtpvp8depay", "rtpopusdepay", "opusparse", "webmmux", "matroskademux", "vp8dec", "opusdec",
	"filesrc", "filesink", "fakesink",
};

struct job {
	void (*run)(void *data);
	void *data;
};

static void
job_run(gpointer data, gpointer user_data)
{
	struct job *j = data;
	j->run(j->data);
	g_free(j);
}

/*
 * The first dtlsdec of a process makes the self-signed certificate every
 * DTLS connection then shares (an RSA key: 85-400 ms here). Made on a thread
 * at start, the first offer does not wait for it.
 */
static gpointer
warm_main(gpointer data)
{
	GstElement *dec = gst_element_factory_make("dtlsdec", NULL);
	if (dec) {
		gst_object_unref(dec);
	}
	return NULL;
}

int
media_init(void)
{
	int rc = 0;
	g_mutex_lock(&lock);
	if (initialised) {
		goto out;
	}
	if (!gst_is_initialized()) {
		gst_init(NULL, NULL);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(needed); i++) {
		GstElementFactory *f = gst_element_factory_find(needed[i]);
		if (!f) {
			td_error(MOD, "GStreamer element missing", "element=%s", needed[i]);
			rc = -ENOENT;
			goto out;
		}
		gst_object_unref(f);
	}
	workers = g_thread_pool_new(job_run, NULL, 4, FALSE, NULL);
	parser_ctx = g_main_context_new();
	parser = nice_agent_new(parser_ctx, NICE_COMPATIBILITY_RFC5245);
	warm_thread = g_thread_new("media-dtls-warm", warm_main, NULL);
	initialised = true;
out:
	g_mutex_unlock(&lock);
	return rc;
}

void
media_wait_ready(void)
{
	g_mutex_lock(&lock);
	GThread *t = warm_thread;
	warm_thread = NULL;
	g_mutex_unlock(&lock);
	if (t) {
		g_thread_join(t);
	}
}

void
media_deinit(void)
{
	media_wait_ready();
	g_mutex_lock(&lock);
	GThreadPool *pool = workers;
	workers = NULL;
	g_mutex_unlock(&lock);
	if (pool) {
		/* Waits for every queued teardown. */
		g_thread_pool_free(pool, FALSE, TRUE);
	}
	g_mutex_lock(&lock);
	g_clear_object(&parser);
	g_clear_pointer(&parser_ctx, g_main_context_unref);
	initialised = false;
	g_mutex_unlock(&lock);
}

void
media_worker_run(void (*run)(void *data), void *data)
{
	struct job *j = g_new0(struct job, 1);
	j->run = run;
	j->data = data;
	g_mutex_lock(&lock);
	GThreadPool *pool = workers;
	g_mutex_unlock(&lock);
	if (!pool || !g_thread_pool_push(pool, j, NULL)) {
		/* Not initialised (a bug of the caller): do it here rather than leak. */
		job_run(j, NULL);
	}
}

/* A decimal number in [min, max], digits only. */
static bool
number_in(const char *s, guint64 min, guint64 max)
{
	guint64 v = 0;
	return s && *s && strlen(s) <= 10 && g_ascii_string_to_unsigned(s, 10, min, max, &v, NULL);
}

int
media_check_candidate(const char *candidate)
{
	if (!g_str_has_prefix(candidate, "candidate:") || strlen(candidate) > 1024) {
		return -EINVAL;
	}
	for (const char *p = candidate; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			return -EINVAL;
		}
	}
	/*
	 * libnice parses the a= line form but takes any text as a number: the
	 * component, priority and port are checked here first (RFC 8839 §5.1:
	 * foundation component transport priority address port "typ" type ...).
	 * Browsers may hide their host address behind an mDNS name, which
	 * webrtcbin resolves but libnice's parser refuses: such a candidate is
	 * checked with a stand-in address.
	 */
	char **tok = g_strsplit(candidate, " ", 0);
	int rc = -EINVAL;
	if (g_strv_length(tok) < 8 || !number_in(tok[1], 1, 256) ||
	    !number_in(tok[3], 0, G_MAXUINT32) || !number_in(tok[5], 0, 65535)) {
		goto out;
	}
	if (g_str_has_suffix(tok[4], ".local") && strlen(tok[4]) <= 253) {
		bool name_ok = true;
		for (const char *p = tok[4]; *p; p++) {
			if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.') {
				name_ok = false;
			}
		}
		if (name_ok) {
			g_free(tok[4]);
			tok[4] = g_strdup("192.0.2.1");
		}
	}
	char *joined = g_strjoinv(" ", tok);
	char *line = g_strconcat("a=", joined, NULL);
	g_free(joined);
	g_mutex_lock(&lock);
	NiceCandidate *c = parser ? nice_agent_parse_remote_candidate_sdp(parser, 1, line) : NULL;
	g_mutex_unlock(&lock);
	g_free(line);
	if (c) {
		nice_candidate_free(c);
		rc = 0;
	}
out:
	g_strfreev(tok);
	return rc;
}

bool
media_check_address(const char *addr)
{
	NiceAddress a;
	nice_address_init(&a);
	return addr && nice_address_set_from_string(&a, addr);
}
