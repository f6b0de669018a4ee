/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * media/ sessions end to end in one process: the server's session and
 * webrtcbin test peers (testpeer.c), all ICE on 127.0.0.1. Every wait is on
 * an event or a counter with one generous timeout that fails the test;
 * nothing sleeps and no duration is asserted.
 */
#include "tiepdan/media.h"
#include "testpeer.h"

#include <errno.h>
#include <sys/prctl.h>
#include <glib/gstdio.h>
#include <gst/pbutils/pbutils.h>
#include <string.h>

#define TIMEOUT_S 120
#define MAX_PEERS 6
/* Enough decoded frames (15 fps) and audio buffers to be sure media flows. */
#define FRAMES 20

struct fx {
	struct media_session *s;
	struct tpeer *peers[MAX_PEERS];
	bool gone[MAX_PEERS];
	int n;
	int offers[MAX_PEERS];
	int connected[MAX_PEERS];
	int first[MAX_PEERS][2];
	int failed;
	int errors;
	int recordings;
	bool rec_verified;
	char *rec_path;
	char *rec_sha256;
	char *rec_reason;
	double rec_duration;
};

static const char *const local_addresses[] = {"127.0.0.1", NULL};

/* Library warnings and known upstream criticals, and any other critical (log_writer()). */
static gint tolerated;
static gint unexpected;

static int
index_of(struct fx *fx, const char *id)
{
	for (int i = 0; i < fx->n; i++) {
		if (strcmp(fx->peers[i]->name, id) == 0) {
			return i;
		}
	}
	g_assert_not_reached();
}

/* ---- the server's events ---- */

static void
ev_offer(void *data, const char *id, const char *sdp)
{
	struct fx *fx = data;
	int i = index_of(fx, id);
	fx->offers[i]++;
	tpeer_offer(fx->peers[i], sdp);
}

static void
ev_candidate(void *data, const char *id, unsigned mline, const char *candidate)
{
	struct fx *fx = data;
	tpeer_add_candidate(fx->peers[index_of(fx, id)], mline, candidate);
}

static void
ev_connected(void *data, const char *id)
{
	struct fx *fx = data;
	fx->connected[index_of(fx, id)]++;
}

static void
ev_failed(void *data, const char *id, const char *reason)
{
	struct fx *fx = data;
	g_test_message("failed: %s: %s", id, reason);
	fx->failed++;
}

static void
ev_first_media(void *data, const char *id, enum media_kind kind)
{
	struct fx *fx = data;
	fx->first[index_of(fx, id)][kind]++;
}

static void
ev_error(void *data, int err, const char *message)
{
	struct fx *fx = data;
	g_test_message("session error %d: %s", err, message);
	fx->errors++;
}

static void
ev_recording(void *data, const struct media_recording *rec)
{
	struct fx *fx = data;
	fx->recordings++;
	fx->rec_verified = rec->verified;
	fx->rec_path = g_strdup(rec->path);
	fx->rec_sha256 = g_strdup(rec->sha256);
	fx->rec_reason = g_strdup(rec->reason);
	fx->rec_duration = rec->duration_s;
}

static const struct media_session_events events = {
	.version = MEDIA_SESSION_EVENTS_VERSION,
	.offer = ev_offer,
	.ice_candidate = ev_candidate,
	.connected = ev_connected,
	.failed = ev_failed,
	.first_media = ev_first_media,
	.error = ev_error,
	.recording_finished = ev_recording,
};

/* ---- the peers' signalling ---- */

static void
tp_answer(void *data, struct tpeer *p, const char *sdp)
{
	struct fx *fx = data;
	if (!fx->s || fx->gone[index_of(fx, p->name)]) {
		return;
	}
	g_assert_cmpint(media_session_set_answer(fx->s, p->name, sdp), ==, 0);
}

static void
tp_candidate(void *data, struct tpeer *p, unsigned mline, const char *candidate)
{
	struct fx *fx = data;
	if (!fx->s || fx->gone[index_of(fx, p->name)]) {
		return;
	}
	g_assert_cmpint(media_session_add_ice_candidate(fx->s, p->name, mline, candidate), ==, 0);
}

static const struct tpeer_events tp_events = {
	.answer = tp_answer,
	.candidate = tp_candidate,
};

/* ---- waiting ---- */

static struct fx *current;

/* What every peer decoded from every other: printed when a wait fails. */
static void
dump(void)
{
	for (int i = 0; current && i < current->n; i++) {
		GString *line = g_string_new(NULL);
		struct tpeer *p = current->peers[i];
		g_string_append_printf(line, "%s (offers %d/%d, connected %d, errors %d, spare %d):",
		                       p->name, current->offers[i], p->offers, current->connected[i],
		                       g_atomic_int_get(&p->errors), g_atomic_int_get(&p->spares_used));
		for (int j = 0; j < current->n; j++) {
			const char *from = current->peers[j]->name;
			struct tpeer_stream *v = tpeer_stream_from(current->peers[i], 1, from);
			g_string_append_printf(line, " %s v%d/k%d a%d", from,
			                       tpeer_frames_from(current->peers[i], 1, from),
			                       v ? g_atomic_int_get(&v->keyframes) : -1,
			                       tpeer_frames_from(current->peers[i], 0, from));
		}
		g_test_message("%s", line->str);
		g_string_free(line, TRUE);
	}
}

static gboolean
on_timeout(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

#define WAIT_FOR(cond, what)                                                                       \
	do {                                                                                       \
		bool timed_out_ = false;                                                           \
		guint t_ = g_timeout_add_seconds(TIMEOUT_S, on_timeout, &timed_out_);              \
		while (!(cond) && !timed_out_) {                                                   \
			g_main_context_iteration(NULL, TRUE);                                      \
		}                                                                                  \
		if (!timed_out_) {                                                                 \
			g_source_remove(t_);                                                       \
		}                                                                                  \
		if (!(cond)) {                                                                     \
			g_test_message("timed out (%d s) waiting for %s", TIMEOUT_S, what);        \
			dump();                                                                    \
			g_assert_not_reached();                                                    \
		}                                                                                  \
	} while (0)

/* ---- helpers ---- */

static void
fx_init_recording(struct fx *fx, const char *dir)
{
	memset(fx, 0, sizeof(*fx));
	struct media_options o = {.local_addresses = local_addresses, .recording_dir = dir};
	fx->s = media_session_create(&o, &events, fx);
	g_assert_nonnull(fx->s);
	current = fx;
}

static void
fx_init(struct fx *fx)
{
	fx_init_recording(fx, NULL);
}

static struct tpeer *
fx_add(struct fx *fx, const char *id, unsigned keyframe_max_dist)
{
	g_assert_cmpint(fx->n, <, MAX_PEERS);
	struct tpeer *p = tpeer_create(id, keyframe_max_dist, &tp_events, fx);
	fx->peers[fx->n++] = p;
	g_assert_cmpint(media_session_add_participant(fx->s, id), ==, 0);
	return p;
}

static void
fx_finish(struct fx *fx)
{
	/* Torn down while media flows. */
	media_session_destroy(fx->s);
	fx->s = NULL;
	for (int i = 0; i < fx->n; i++) {
		g_assert_cmpint(g_atomic_int_get(&fx->peers[i]->errors), ==, 0);
		tpeer_destroy(fx->peers[i]);
	}
	g_assert_cmpint(fx->errors, ==, 0);
	g_assert_cmpint(g_atomic_int_get(&unexpected), ==, 0);
	g_free(fx->rec_path);
	g_free(fx->rec_sha256);
	g_free(fx->rec_reason);
	current = NULL;
}

/* Whether every present peer decodes at least min frames and audio buffers from every other. */
static bool
all_receive(struct fx *fx, int min)
{
	for (int i = 0; i < fx->n; i++) {
		for (int j = 0; j < fx->n; j++) {
			if (i == j || fx->gone[i] || fx->gone[j]) {
				continue;
			}
			const char *from = fx->peers[j]->name;
			if (tpeer_frames_from(fx->peers[i], 1, from) < min ||
			    tpeer_frames_from(fx->peers[i], 0, from) < min) {
				return false;
			}
		}
	}
	return true;
}

/* Frame counts now, to wait for more later. */
static int
frames(struct fx *fx, int to, int from, int kind)
{
	return tpeer_frames_from(fx->peers[to], kind, fx->peers[from]->name);
}

/* ---- tests ---- */

/* Two participants: each decodes the other's video and audio through the server. */
static void
test_two_party(void)
{
	struct fx fx;
	fx_init(&fx);
	fx_add(&fx, "citizen", 60);
	fx_add(&fx, "official", 60);
	WAIT_FOR(all_receive(&fx, FRAMES), "both peers to decode the other's media");
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(fx.connected[i], ==, 1);
		g_assert_cmpint(fx.first[i][MEDIA_KIND_AUDIO], ==, 1);
		g_assert_cmpint(fx.first[i][MEDIA_KIND_VIDEO], ==, 1);
		g_test_message("%s: %d offers", fx.peers[i]->name, fx.offers[i]);
	}
	/* Nobody receives their own streams back. */
	g_assert_null(tpeer_stream_from(fx.peers[0], 1, "citizen"));
	g_assert_null(tpeer_stream_from(fx.peers[1], 1, "official"));
	g_assert_cmpint(fx.failed, ==, 0);
	g_assert_cmpuint(media_session_participants(fx.s), ==, 2);
	g_assert_cmpint(media_session_finish_recording(fx.s), ==, -ENOENT);
	fx_finish(&fx);
}

/*
 * Asks for a keyframe until the sender's encoder makes one. A sender's
 * rtpsession ignores a PLI that comes within two round trips of the last
 * one (a keyframe is already on its way), so the request is made again each
 * time the receiver decoded FRAMES more frames without one: progress, not
 * time, decides.
 */
static void
request_until_keyframe(struct fx *fx, struct tpeer *sender, struct tpeer *receiver,
		       bool by_server)
{
	int sent = g_atomic_int_get(&sender->keyframes_sent);
	int requests = 0;
	bool timed_out = false;
	guint t = g_timeout_add_seconds(TIMEOUT_S, on_timeout, &timed_out);
	while (g_atomic_int_get(&sender->keyframes_sent) == sent && !timed_out) {
		int f = tpeer_frames_from(receiver, 1, sender->name);
		if (by_server) {
			g_assert_cmpint(media_session_request_keyframe(fx->s, sender->name), ==, 0);
		} else {
			g_assert_true(tpeer_request_keyframe(receiver, sender->name));
		}
		requests++;
		while (g_atomic_int_get(&sender->keyframes_sent) == sent && !timed_out &&
		       tpeer_frames_from(receiver, 1, sender->name) < f + FRAMES) {
			g_main_context_iteration(NULL, TRUE);
		}
	}
	if (!timed_out) {
		g_source_remove(t);
	}
	g_test_message("%s: keyframe after %d request(s)", by_server ? "server" : "receiver",
		       requests);
	if (g_atomic_int_get(&sender->keyframes_sent) == sent) {
		dump();
		g_assert_not_reached();
	}
}

/*
 * A receiver's keyframe request crosses the bridge: "sender" makes keyframes
 * only on request. Once "receiver" decodes its video, the receiver's
 * webrtcbin sends PLI; the sender's encoder makes a keyframe and the
 * receiver gets it.
 */
static void
test_keyframe_request(void)
{
	struct fx fx;
	fx_init(&fx);
	struct tpeer *sender = fx_add(&fx, "sender", G_MAXINT);
	struct tpeer *receiver = fx_add(&fx, "receiver", 60);
	/* The first picture came from the server's own request when the leg started. */
	WAIT_FOR(tpeer_frames_from(receiver, 1, "sender") >= FRAMES,
		 "the receiver to decode video");
	struct tpeer_stream *st = tpeer_stream_from(receiver, 1, "sender");
	int got = g_atomic_int_get(&st->keyframes);
	g_test_message("before the request: %d keyframes sent, %d received",
		       g_atomic_int_get(&sender->keyframes_sent), got);
	request_until_keyframe(&fx, sender, receiver, false);
	WAIT_FOR(g_atomic_int_get(&st->keyframes) > got, "the receiver to get the keyframe");

	/* The server's own API asks too. */
	got = g_atomic_int_get(&st->keyframes);
	request_until_keyframe(&fx, sender, receiver, true);
	WAIT_FOR(g_atomic_int_get(&st->keyframes) > got, "the receiver to get that keyframe");
	g_assert_cmpint(media_session_request_keyframe(fx.s, "nobody"), ==, -ENOENT);
	fx_finish(&fx);
}

static char *
replace(const char *s, const char *from, const char *to)
{
	char **parts = g_strsplit(s, from, -1);
	char *out = g_strjoinv(to, parts);
	g_strfreev(parts);
	return out;
}

struct capture {
	struct fx fx;
	char *offer;
	char *answer;
};

static void
cap_offer(void *data, const char *id, const char *sdp)
{
	struct capture *c = data;
	g_free(c->offer);
	c->offer = g_strdup(sdp);
	tpeer_offer(c->fx.peers[0], sdp);
}

static void
cap_answer(void *data, struct tpeer *p, const char *sdp)
{
	struct capture *c = data;
	g_free(c->answer);
	c->answer = g_strdup(sdp);
}

static void
cap_candidate(void *data, struct tpeer *p, unsigned mline, const char *candidate)
{
	struct capture *c = data;
	if (c->fx.s) {
		/* Before the answer they are kept, after it they go in. */
		g_assert_cmpint(media_session_add_ice_candidate(c->fx.s, p->name, mline, candidate),
		                ==, 0);
	}
}

/* Malformed or wrong answers and candidates are refused without harm; the right one then works. */
static void
test_bad_answer(void)
{
	static const struct media_session_events cap_events = {
	    .version = MEDIA_SESSION_EVENTS_VERSION,
	    .offer = cap_offer,
	    .ice_candidate = ev_candidate,
	    .connected = ev_connected,
	    .failed = ev_failed,
	    .first_media = ev_first_media,
	    .error = ev_error,
	};
	static const struct tpeer_events cap_tp = {.answer = cap_answer,
	                                           .candidate = cap_candidate};
	struct capture c = {0};
	struct media_options o = {.local_addresses = local_addresses};
	c.fx.s = media_session_create(&o, &cap_events, &c);
	g_assert_nonnull(c.fx.s);
	current = &c.fx;
	struct media_session *s = c.fx.s;

	g_assert_cmpint(media_session_add_participant(s, "bad id!"), ==, -EINVAL);
	g_assert_cmpint(media_session_add_participant(s, ""), ==, -EINVAL);
	c.fx.peers[c.fx.n++] = tpeer_create("citizen", 60, &cap_tp, &c);
	g_assert_cmpint(media_session_set_answer(s, "citizen", "v=0\r\n"), ==, -ENOENT);
	g_assert_cmpint(media_session_add_participant(s, "citizen"), ==, 0);
	g_assert_cmpint(media_session_add_participant(s, "citizen"), ==, -EEXIST);
	/* No offer yet: nothing to answer. */
	g_assert_cmpint(media_session_set_answer(s, "citizen", "v=0\r\n"), ==, -EPROTO);
	WAIT_FOR(c.answer != NULL, "the peer's answer");

	const char *bad[] = {
	    "",
	    "hello",
	    "v=0\r\n",
	    "\x01\x02\xff\xfe garbage \r\n m=video",
	    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_cmpint(media_session_set_answer(s, "citizen", bad[i]), ==, -EINVAL);
	}
	g_assert_cmpint(media_session_set_answer(s, "citizen", NULL), ==, -EINVAL);
	/* The offer itself is no answer (actpass, and the directions do not answer). */
	g_assert_cmpint(media_session_set_answer(s, "citizen", c.offer), ==, -EINVAL);
	/* Cut in half. */
	char *half = g_strndup(c.answer, strlen(c.answer) / 2);
	g_assert_cmpint(media_session_set_answer(s, "citizen", half), ==, -EINVAL);
	g_free(half);
	/* Wrong payload types, mid, kind. */
	char *wrong = replace(c.answer, "VP8/90000", "H264/90000");
	char *wrong_pt = replace(wrong, " 96", " 97");
	g_assert_cmpint(media_session_set_answer(s, "citizen", wrong_pt), ==, -EINVAL);
	g_free(wrong);
	g_free(wrong_pt);
	char *mid1 = replace(c.answer, "a=mid:video1", "a=mid:x");
	char *wrong_mid = replace(mid1, "a=mid:audio0", "a=mid:x");
	g_free(mid1);
	if (strcmp(wrong_mid, c.answer) != 0) {
		g_assert_cmpint(media_session_set_answer(s, "citizen", wrong_mid), ==, -EINVAL);
	}
	g_free(wrong_mid);
	char *no_fp = replace(c.answer, "a=fingerprint:", "a=x-fingerprint:");
	g_assert_cmpint(media_session_set_answer(s, "citizen", no_fp), ==, -EINVAL);
	g_free(no_fp);
	char *big = g_malloc(200 * 1024 + 1);
	memset(big, 'a', 200 * 1024);
	big[200 * 1024] = '\0';
	g_assert_cmpint(media_session_set_answer(s, "citizen", big), ==, -EINVAL);
	g_free(big);

	/* Candidates. */
	const char *bad_cand[] = {
	    "hello",
	    "candidate:",
	    "candidate:1 1 UDP 2122252543 999.1.1.1 5000 typ host",
	    "candidate:1 1 UDP 2122252543 127.0.0.1 notaport typ host",
	    "candidate:1 1 UDP 2122252543 127.0.0.1 5000 typ nonsense",
	    "candidate:1 1 UDP 2122252543 127.0.0.1 5000 typ host\r\na=evil",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad_cand); i++) {
		g_assert_cmpint(media_session_add_ice_candidate(s, "citizen", 0, bad_cand[i]), ==,
		                -EINVAL);
	}
	g_assert_cmpint(
	    media_session_add_ice_candidate(s, "citizen", 99,
	                                    "candidate:1 1 UDP 2122252543 127.0.0.1 5000 typ host"),
	    ==, -EINVAL);
	g_assert_cmpint(media_session_add_ice_candidate(
	                    s, "nobody", 0, "candidate:1 1 UDP 2122252543 127.0.0.1 5000 typ host"),
	                ==, -ENOENT);
	/* A browser's mDNS host candidate is well-formed. */
	g_assert_cmpint(media_session_add_ice_candidate(
	                    s, "citizen", 0,
	                    "candidate:1 1 udp 2122262783 "
	                    "1f4712db-ea17-4bcf-a596-105139dfd8bf.local 54321 typ host"),
	                ==, 0);

	/* After all that, the real answer is taken and the leg connects. */
	g_assert_cmpint(media_session_set_answer(s, "citizen", c.answer), ==, 0);
	g_assert_cmpint(media_session_set_answer(s, "citizen", c.answer), ==, -EPROTO);
	WAIT_FOR(c.fx.connected[0] == 1, "the leg to connect");
	WAIT_FOR(c.fx.first[0][MEDIA_KIND_VIDEO] == 1 && c.fx.first[0][MEDIA_KIND_AUDIO] == 1,
	         "the peer's media at the server");
	g_assert_cmpint(c.fx.failed, ==, 0);
	fx_finish(&c.fx);
	g_free(c.offer);
	g_free(c.answer);
}

/* A participant leaves while media flows; the session goes on and takes a newcomer. */
static void
test_remove_participant(void)
{
	struct fx fx;
	fx_init(&fx);
	fx_add(&fx, "a", 60);
	fx_add(&fx, "b", 60);
	WAIT_FOR(all_receive(&fx, FRAMES), "a and b to exchange media");
	int offers_a = fx.offers[0];
	g_assert_cmpint(media_session_remove_participant(fx.s, "b"), ==, 0);
	fx.gone[1] = true;
	g_assert_cmpint(media_session_remove_participant(fx.s, "b"), ==, -ENOENT);
	g_assert_cmpuint(media_session_participants(fx.s), ==, 1);
	/* a is offered again without b's streams. */
	WAIT_FOR(fx.offers[0] > offers_a, "a new offer for a");

	fx_add(&fx, "c", 60);
	WAIT_FOR(all_receive(&fx, FRAMES), "a and c to exchange media");
	int ac = frames(&fx, 2, 0, 1);
	WAIT_FOR(frames(&fx, 2, 0, 1) > ac + FRAMES, "c to keep receiving a");
	g_assert_cmpint(fx.failed, ==, 0);
	fx_finish(&fx);
}

/*
 * Churn: a participant leaves before its leg ever connected (offers in
 * flight), another joins, and the session is destroyed while a removal is
 * still going on. Nothing hangs, nothing leaks (ASan), the rest works.
 */
static void
test_churn(void)
{
	struct fx fx;
	fx_init(&fx);
	fx_add(&fx, "a", 60);
	fx_add(&fx, "b", 60);
	g_assert_cmpint(media_session_remove_participant(fx.s, "b"), ==, 0);
	fx.gone[1] = true;
	fx_add(&fx, "c", 60);
	WAIT_FOR(all_receive(&fx, FRAMES), "a and c to exchange media");
	/* b's id is free again. */
	g_assert_cmpint(media_session_add_participant(fx.s, "b"), ==, 0);
	g_assert_cmpint(media_session_remove_participant(fx.s, "b"), ==, 0);
	g_assert_cmpint(media_session_remove_participant(fx.s, "c"), ==, 0);
	fx.gone[2] = true;
	g_assert_cmpuint(media_session_participants(fx.s), ==, 1);
	g_assert_cmpint(fx.failed, ==, 0);
	fx_finish(&fx);
}

static char *
sha256_of(const char *path)
{
	char *bytes = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(path, &bytes, &len, NULL));
	char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)bytes, len);
	g_free(bytes);
	return hex;
}

/*
 * Recording: three participants, one leaves midway (its tracks end then);
 * at the end one WebM holds the six tracks, verified by the server
 * (decoded, frames in every track, duration); checked here again with
 * GstDiscoverer and our own SHA-256. The per-track files are gone.
 */
static void
test_recording(void)
{
	char *dir = g_dir_make_tmp("tiepdan-media-XXXXXX", NULL);
	g_assert_nonnull(dir);
	struct fx fx;
	fx_init_recording(&fx, dir);
	fx_add(&fx, "a", 60);
	fx_add(&fx, "b", 60);
	fx_add(&fx, "c", 60);
	WAIT_FOR(all_receive(&fx, FRAMES), "the three to exchange media");
	g_assert_cmpint(media_session_remove_participant(fx.s, "c"), ==, 0);
	fx.gone[2] = true;
	int ab = frames(&fx, 1, 0, 1);
	WAIT_FOR(frames(&fx, 1, 0, 1) > ab + FRAMES, "b to receive more of a");
	g_assert_cmpint(media_session_finish_recording(fx.s), ==, 0);
	g_assert_cmpint(media_session_finish_recording(fx.s), ==, -EALREADY);
	WAIT_FOR(fx.recordings == 1, "the recording to be finished");
	g_test_message("recording %s: %.3f s, verified %d (%s), sha256 %s", fx.rec_path,
		       fx.rec_duration, fx.rec_verified, fx.rec_reason ? fx.rec_reason : "-",
		       fx.rec_sha256);
	g_assert_true(fx.rec_verified);
	g_assert_null(fx.rec_reason);
	char *sha = sha256_of(fx.rec_path);
	g_assert_cmpstr(sha, ==, fx.rec_sha256);
	g_free(sha);

	GstDiscoverer *disc = gst_discoverer_new(30 * GST_SECOND, NULL);
	char *uri = gst_filename_to_uri(fx.rec_path, NULL);
	GError *err = NULL;
	GstDiscovererInfo *info = gst_discoverer_discover_uri(disc, uri, &err);
	g_assert_no_error(err);
	GList *video = gst_discoverer_info_get_video_streams(info);
	GList *audio = gst_discoverer_info_get_audio_streams(info);
	g_assert_cmpuint(g_list_length(video), ==, 3);
	g_assert_cmpuint(g_list_length(audio), ==, 3);
	g_assert_cmpuint(gst_discoverer_info_get_duration(info), >, 0);
	g_assert_true(gst_discoverer_info_get_seekable(info));
	gst_discoverer_stream_info_list_free(video);
	gst_discoverer_stream_info_list_free(audio);
	gst_discoverer_info_unref(info);
	g_object_unref(disc);
	g_free(uri);

	/* Only the remuxed file is left. */
	GDir *d = g_dir_open(dir, 0, NULL);
	int files = 0;
	while (g_dir_read_name(d)) {
		files++;
	}
	g_dir_close(d);
	g_assert_cmpint(files, ==, 1);
	g_assert_cmpint(g_unlink(fx.rec_path), ==, 0);
	fx_finish(&fx);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
	g_free(dir);
}

/* A third participant joins a running dialogue: everyone receives everyone else. */
static void
test_third_joins(void)
{
	struct fx fx;
	fx_init(&fx);
	fx_add(&fx, "a", 60);
	fx_add(&fx, "b", 60);
	WAIT_FOR(all_receive(&fx, FRAMES), "a and b to exchange media");
	fx_add(&fx, "c", 60);
	WAIT_FOR(all_receive(&fx, FRAMES), "all three to receive the two others");
	/* And a and b still receive each other. */
	int ab = frames(&fx, 1, 0, 1);
	WAIT_FOR(frames(&fx, 1, 0, 1) > ab + FRAMES, "b to keep receiving a");
	g_assert_cmpint(fx.failed, ==, 0);
	fx_finish(&fx);
}

/* Six at once: each receives the five others' audio and video. */
static void
test_six_way(void)
{
	static const char *const ids[MAX_PEERS] = {"p1", "p2", "p3", "p4", "p5", "p6"};
	struct fx fx;
	fx_init(&fx);
	for (int i = 0; i < MAX_PEERS; i++) {
		fx_add(&fx, ids[i], 60);
	}
	g_assert_cmpint(media_session_add_participant(fx.s, "p7"), ==, -E2BIG);
	WAIT_FOR(all_receive(&fx, FRAMES), "every peer to receive the five others");
	g_assert_cmpint(fx.failed, ==, 0);
	fx_finish(&fx);
}

/*
 * g_test_init() makes warnings and criticals fatal. Two things under us must
 * not abort the test, so criticals are counted instead and every test ends
 * by asserting that none but the known one came:
 *
 * - warnings: GStreamer and its libraries warn from their own threads about
 *   their own races (webrtcbin 1.22: "jitter_buffer_set_retransmission: code
 *   should not be reached" when a jitter buffer comes before its
 *   transceiver's m-line is known). media/ never calls g_warning (td_log).
 * - one critical: GStreamer 1.22's rtpsession iterates its sources on the
 *   "rtpsession-rtcp" thread while another thread adds one
 *   ("g_hash_table_foreach: assertion 'version == hash_table->version'",
 *   about once in ten six-way runs under load; docs/media.md). Only that
 *   message on that thread.
 *
 * (g_test_log_set_fatal_handler() does not stop the abort in GLib 2.74.)
 */
static const char *
field(const GLogField *fields, gsize n, const char *key)
{
	for (gsize i = 0; i < n; i++) {
		if (strcmp(fields[i].key, key) == 0 && fields[i].length == -1) {
			return fields[i].value;
		}
	}
	return NULL;
}

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
	if (level & G_LOG_LEVEL_CRITICAL) {
		char thread[17] = "";
		prctl(PR_GET_NAME, thread);
		const char *domain = field(fields, n, "GLIB_DOMAIN");
		const char *message = field(fields, n, "MESSAGE");
		bool rtcp_race = g_strcmp0(domain, "GLib") == 0 && message &&
				 strstr(message, "g_hash_table_foreach: assertion 'version == "
						 "hash_table->version'") &&
				 strcmp(thread, "rtpsession-rtcp") == 0;
		g_atomic_int_inc(rtcp_race ? &tolerated : &unexpected);
	} else if (level & G_LOG_LEVEL_WARNING) {
		g_atomic_int_inc(&tolerated);
	}
	return g_log_writer_default(level & ~G_LOG_FLAG_FATAL, fields, n, data);
}

int
main(int argc, char **argv)
{
	g_log_set_writer_func(log_writer, NULL, NULL);
	gst_init(&argc, &argv);
	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK);
	g_assert_cmpint(media_init(), ==, 0);
	media_wait_ready();
	g_test_add_func("/media/session/two-party", test_two_party);
	g_test_add_func("/media/session/keyframe-request", test_keyframe_request);
	g_test_add_func("/media/session/bad-answer", test_bad_answer);
	g_test_add_func("/media/session/remove-participant", test_remove_participant);
	g_test_add_func("/media/session/third-joins", test_third_joins);
	g_test_add_func("/media/session/churn", test_churn);
	g_test_add_func("/media/session/recording", test_recording);
	g_test_add_func("/media/session/six-way", test_six_way);
	int rc = g_test_run();
	if (g_atomic_int_get(&tolerated) > 0) {
		g_test_message("%d warnings from the libraries (above)", g_atomic_int_get(&tolerated));
	}
	if (g_atomic_int_get(&unexpected) > 0) {
		rc = 1;
	}
	media_deinit();
	gst_deinit();
	return rc;
}
