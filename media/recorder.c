/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "session-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tiepdan/log.h"

/*
 * Recording without decoding, one file per track (MEDIA.md: muxing every
 * track live into one file lost the second track's caps or most of the
 * video). Each received stream gets a branch
 *
 *     tee ! queue (no limits) ! rtpvp8depay ! webmmux ! filesink   <dir>/<name>-<id>-video.webm
 *     tee ! queue (no limits) ! rtpopusdepay ! opusparse ! webmmux ! filesink
 *
 * The files keep the pipeline's running time (webmmux offset-to-zero off),
 * so tracks of participants who joined late stay aligned. At the end every
 * track gets EOS (after its tee pad is unlinked), the loop waits until EOS
 * reached each filesink (then the muxer has written duration and cues),
 * stops the branch on a worker, and a worker remuxes the tracks into
 * <dir>/<name>.webm and verifies it: decoded, frames counted per track,
 * duration against the recording's (within a second). A participant who
 * leaves has its tracks finished at once; they are remuxed at the end.
 */

#define REMUX_TIMEOUT (120 * GST_SECOND)

/* The running time of the first and last data into a track (its streaming thread writes). */
struct track_clock {
	gint64 first; /* -1: none yet */
	gint64 last;
};

struct track {
	unsigned serial;
	struct track_clock *clock; /* g_atomic_rc_box, shared with the probe */
	char *participant;
	enum media_kind kind;
	char *path;
	GstElement *tee;
	GstPad *tee_pad; /* NULL once detached */
	GstElement *els[5];
	unsigned n_els;
	bool eos_sent, eos_seen, down;
	GstClockTime start, end; /* pipeline running time */
};

struct recorder {
	char *dir;
	char *name;
	GHashTable *tracks; /* serial → struct track* */
	bool finishing;
	unsigned blocks_pending;
	bool remuxing;
};

static void
track_free(struct track *t)
{
	if (t->clock) {
		g_atomic_rc_box_release(t->clock);
	}
	for (unsigned i = 0; i < t->n_els; i++) {
		gst_object_unref(t->els[i]);
	}
	gst_clear_object(&t->tee_pad);
	gst_clear_object(&t->tee);
	g_free(t->participant);
	g_free(t->path);
	g_free(t);
}

int
recorder_create(struct media_session *s, const char *dir)
{
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR) || g_access(dir, W_OK) != 0) {
		return -EINVAL;
	}
	struct recorder *r = g_new0(struct recorder, 1);
	r->dir = g_strdup(dir);
	char *uuid = g_uuid_string_random();
	r->name = g_strdup_printf("session-%s", uuid);
	g_free(uuid);
	r->tracks = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)track_free);
	s->rec = r;
	return 0;
}

void
recorder_free(struct recorder *r)
{
	if (!r) {
		return;
	}
	g_hash_table_destroy(r->tracks);
	g_free(r->dir);
	g_free(r->name);
	g_free(r);
}

static GstClockTime
running_time(struct media_session *s)
{
	GstClock *clock = gst_element_get_clock(s->pipeline);
	if (!clock) {
		return 0;
	}
	GstClockTime now = gst_clock_get_time(clock);
	gst_object_unref(clock);
	GstClockTime base = gst_element_get_base_time(s->pipeline);
	return now > base ? now - base : 0;
}

/* filesink's streaming thread: EOS got through the muxer, which wrote duration and cues. */
static GstPadProbeReturn
on_track_eos(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct probe_ctx *c = data;
	if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) {
		struct msg *m = msg_new(MSG_REC_EOS, 0);
		m->n = c->n;
		post(c->sh, m);
	}
	return GST_PAD_PROBE_OK;
}

static void
clock_release(gpointer data)
{
	g_atomic_rc_box_release(data);
}

static void
clock_note(GstPad *pad, struct track_clock *c, GstBuffer *b)
{
	if (!GST_BUFFER_PTS_IS_VALID(b)) {
		return;
	}
	GstEvent *ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
	if (!ev) {
		return;
	}
	const GstSegment *seg = NULL;
	gst_event_parse_segment(ev, &seg);
	guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(b));
	gst_event_unref(ev);
	if (rt == GST_CLOCK_TIME_NONE) {
		return;
	}
	if (GST_BUFFER_DURATION_IS_VALID(b)) {
		rt += GST_BUFFER_DURATION(b);
	}
	/* One streaming thread writes; the loop reads once the pad was blocked and unlinked
	 * (posted through the queue's mutex after the last buffer). */
	if (c->first < 0) {
		c->first = (gint64)rt;
	}
	if ((gint64)rt > c->last) {
		c->last = (gint64)rt;
	}
}

/*
 * A streaming thread: what enters the track, in running time. The track's
 * start and end come from its data, not from the clock when it was made or
 * ended: under load the data lags the clock by more than the second the
 * verification allows (seen under ASan: 1.1 s).
 */
static GstPadProbeReturn
on_track_data(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct track_clock *c = data;
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
		clock_note(pad, c, GST_PAD_PROBE_INFO_BUFFER(info));
	} else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
		GstBufferList *l = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
		for (guint i = 0; i < gst_buffer_list_length(l); i++) {
			clock_note(pad, c, gst_buffer_list_get(l, i));
		}
	}
	return GST_PAD_PROBE_OK;
}

void
recorder_add(struct media_session *s, struct peer *p, enum media_kind k)
{
	struct recorder *r = s->rec;
	if (!r || r->finishing) {
		return;
	}
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, r->tracks);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct track *t = v;
		if (t->tee == p->tee[k] && t->tee_pad) {
			return; /* already recording this stream */
		}
	}
	struct track *t = g_new0(struct track, 1);
	t->serial = ++s->next_serial;
	t->participant = g_strdup(p->id);
	t->kind = k;
	t->path = g_strdup_printf("%s/%s-%s-%u-%s.webm", r->dir, r->name, p->id, t->serial,
				  media_kind_name(k));
	t->tee = gst_object_ref(p->tee[k]);
	const char *names[2][4] = {{"queue", "rtpopusdepay", "opusparse", "webmmux"},
				   {"queue", "rtpvp8depay", NULL, "webmmux"}};
	for (int i = 0; i < 4; i++) {
		if (names[k][i]) {
			GstElement *e = gst_element_factory_make(names[k][i], NULL);
			if (!e) {
				goto fail;
			}
			t->els[t->n_els++] = gst_object_ref_sink(e);
		}
	}
	GstElement *sink = gst_element_factory_make("filesink", NULL);
	if (!sink) {
		goto fail;
	}
	t->els[t->n_els++] = gst_object_ref_sink(sink);
	/* MEDIA.md: no limits in front of the muxer. */
	g_object_set(t->els[0], "max-size-buffers", 0, "max-size-bytes", 0, "max-size-time",
		     (guint64)0, NULL);
	/* Unbuffered: what was received is on disk when the process dies (recovered at start). */
	g_object_set(sink, "location", t->path, "async", FALSE, "sync", FALSE, "buffer-mode", 2,
		     NULL);
	for (unsigned i = 0; i < t->n_els; i++) {
		gst_bin_add(GST_BIN(s->pipeline), gst_object_ref(t->els[i]));
		if (i > 0 && !gst_element_link(t->els[i - 1], t->els[i])) {
			td_error(MOD, "cannot link a recording branch", "session=%u peer=%s",
				 s->serial, p->id);
		}
	}
	GstPad *in = gst_element_get_static_pad(sink, "sink");
	gst_pad_add_probe(in, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_track_eos,
			  probe_ctx_new(s->sh, p->serial, t->serial, k), probe_ctx_destroy);
	gst_object_unref(in);
	for (unsigned i = t->n_els; i > 0; i--) {
		gst_element_sync_state_with_parent(t->els[i - 1]);
	}
	t->tee_pad = gst_element_request_pad_simple(p->tee[k], "src_%u");
	GstPad *qsink = gst_element_get_static_pad(t->els[0], "sink");
	if (!t->tee_pad || gst_pad_link(t->tee_pad, qsink) != GST_PAD_LINK_OK) {
		td_error(MOD, "cannot record a stream", "session=%u peer=%s kind=%s", s->serial,
			 p->id, media_kind_name(k));
	}
	t->clock = g_atomic_rc_box_new0(struct track_clock);
	t->clock->first = -1;
	gst_pad_add_probe(qsink, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
			  on_track_data, g_atomic_rc_box_acquire(t->clock), clock_release);
	gst_object_unref(qsink);
	t->start = running_time(s);
	g_hash_table_insert(r->tracks, GUINT_TO_POINTER(t->serial), t);
	td_info(MOD, "recording track", "session=%u peer=%s kind=%s", s->serial, p->id,
		media_kind_name(k));
	if (k == MEDIA_KIND_VIDEO) {
		/* The track starts with a picture. */
		peer_request_keyframe(p);
	}
	return;
fail:
	td_error(MOD, "cannot record a stream", "session=%u peer=%s kind=%s", s->serial, p->id,
		 media_kind_name(k));
	track_free(t);
}

/* The tee pad is idle (blocked, or its stream stopped): unlink it and end the track. */
static void
track_detach(struct media_session *s, struct track *t)
{
	if (!t->tee_pad) {
		return;
	}
	GstPad *qsink = gst_element_get_static_pad(t->els[0], "sink");
	gst_pad_unlink(t->tee_pad, qsink);
	gst_element_release_request_pad(t->tee, t->tee_pad);
	gst_clear_object(&t->tee_pad);
	t->end = running_time(s);
	/* The tee pad is unlinked: the probe has seen the last of it. */
	if (t->clock && t->clock->first >= 0) {
		t->start = (GstClockTime)t->clock->first;
		t->end = (GstClockTime)MAX(t->clock->last, t->clock->first);
	}
	t->eos_sent = true;
	gst_pad_send_event(qsink, gst_event_new_eos());
	gst_object_unref(qsink);
}

/* A leaving participant (its received streams already blocked): its tracks end now. */
void
recorder_detach_participant(struct media_session *s, struct peer *p)
{
	if (!s->rec) {
		return;
	}
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->rec->tracks);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct track *t = v;
		if (t->tee == p->tee[0] || t->tee == p->tee[1]) {
			track_detach(s, t);
		}
	}
}

static GstPadProbeReturn
on_track_idle(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct probe_ctx *c = data;
	if (g_atomic_int_compare_and_exchange(&c->fired, 0, 1)) {
		struct msg *m = msg_new(MSG_REC_BLOCKED, 0);
		m->n = c->n;
		post(c->sh, m);
	}
	return GST_PAD_PROBE_OK;
}

int
media_session_finish_recording(struct media_session *s)
{
	struct recorder *r = s->rec;
	if (!r) {
		return -ENOENT;
	}
	if (r->finishing) {
		return -EALREADY;
	}
	r->finishing = true;
	r->blocks_pending = 1;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, r->tracks);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct track *t = v;
		if (t->tee_pad) {
			r->blocks_pending++;
			gst_pad_add_probe(t->tee_pad, GST_PAD_PROBE_TYPE_IDLE, on_track_idle,
					  probe_ctx_new(s->sh, 0, t->serial, 0), probe_ctx_destroy);
		}
	}
	td_info(MOD, "finishing recording", "session=%u tracks=%u", s->serial,
		g_hash_table_size(r->tracks));
	post(s->sh, msg_new(MSG_REC_BLOCKED, 0));
	return 0;
}

/* ---- the remux and its verification, on a worker ---- */

struct remux {
	struct shared *sh;
	char *out;
	GPtrArray *paths; /* char* */
	GArray *kinds;	  /* int */
	GstClockTime expected;
	/* results */
	bool verified;
	char *reason;
	char *sha256;
	guint64 bytes;
	double duration_s;
};

static void
remux_free(gpointer data)
{
	struct remux *x = data;
	g_free(x->out);
	g_ptr_array_unref(x->paths);
	g_array_unref(x->kinds);
	g_free(x->reason);
	g_free(x->sha256);
	g_free(x);
}

/* Runs a pipeline to EOS on this (worker) thread. NULL, or the error. */
static char *
run_to_eos(GstElement *pipe)
{
	char *err_text = NULL;
	if (gst_element_set_state(pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
		err_text = g_strdup("cannot start");
	} else {
		GstBus *bus = gst_element_get_bus(pipe);
		GstMessage *m = gst_bus_timed_pop_filtered(bus, REMUX_TIMEOUT,
							   GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
		if (!m) {
			err_text = g_strdup("timed out");
		} else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
			GError *e = NULL;
			gst_message_parse_error(m, &e, NULL);
			err_text = g_strdup(e->message);
			g_clear_error(&e);
		}
		if (m) {
			gst_message_unref(m);
		}
		gst_object_unref(bus);
	}
	gst_element_set_state(pipe, GST_STATE_NULL);
	return err_text;
}

/* Where a demuxer's pads go: the first free input of the same kind. */
struct slots {
	guint n;
	GstPad **pads;
	bool *video;
};

static struct slots *
slots_new(guint n)
{
	struct slots *sl = g_new0(struct slots, 1);
	sl->pads = g_new0(GstPad *, n);
	sl->video = g_new0(bool, n);
	return sl;
}

static void
slots_free(gpointer data, GClosure *closure)
{
	struct slots *sl = data;
	for (guint i = 0; i < sl->n; i++) {
		gst_object_unref(sl->pads[i]);
	}
	g_free(sl->pads);
	g_free(sl->video);
	g_free(sl);
}

/* A demuxer's streaming thread: only a link is made here. */
static void
link_to_free(GstElement *demux, GstPad *pad, gpointer data)
{
	struct slots *sl = data;
	GstCaps *caps = gst_pad_get_current_caps(pad);
	if (!caps) {
		caps = gst_pad_query_caps(pad, NULL);
	}
	bool video = gst_caps_get_size(caps) > 0 &&
		     g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)),
				      "video/");
	gst_caps_unref(caps);
	for (guint i = 0; i < sl->n; i++) {
		if (sl->video[i] == video && !gst_pad_is_linked(sl->pads[i]) &&
		    gst_pad_link(pad, sl->pads[i]) == GST_PAD_LINK_OK) {
			return;
		}
	}
}

static void
slot_add(struct slots *sl, GstElement *e, bool video)
{
	sl->pads[sl->n] = gst_element_get_static_pad(e, "sink");
	sl->video[sl->n] = video;
	sl->n++;
}

static GstElement *
make(GstElement *bin, const char *factory)
{
	GstElement *e = gst_element_factory_make(factory, NULL);
	g_assert(e); /* media_init() checked the factories */
	gst_bin_add(GST_BIN(bin), e);
	return e;
}

/* The tracks into one WebM, every request pad of the muxer made up front (MEDIA.md). */
static char *
remux_tracks(struct remux *x)
{
	GstElement *pipe = gst_pipeline_new("remux");
	GstElement *mux = make(pipe, "webmmux");
	GstElement *sink = make(pipe, "filesink");
	g_object_set(mux, "offset-to-zero", TRUE, NULL);
	g_object_set(sink, "location", x->out, NULL);
	gst_element_link(mux, sink);
	for (guint i = 0; i < x->paths->len; i++) {
		GstElement *src = make(pipe, "filesrc");
		GstElement *demux = make(pipe, "matroskademux");
		GstElement *q = make(pipe, "queue");
		g_object_set(src, "location", g_ptr_array_index(x->paths, i), NULL);
		gst_element_link(src, demux);
		bool video = g_array_index(x->kinds, int, i) == MEDIA_KIND_VIDEO;
		GstPad *mpad = gst_element_request_pad_simple(mux, video ? "video_%u" : "audio_%u");
		GstPad *qsrc = gst_element_get_static_pad(q, "src");
		gst_pad_link(qsrc, mpad);
		gst_object_unref(qsrc);
		gst_object_unref(mpad);
		struct slots *sl = slots_new(1);
		slot_add(sl, q, video);
		g_signal_connect_data(demux, "pad-added", G_CALLBACK(link_to_free), sl, slots_free,
				      0);
	}
	char *err = run_to_eos(pipe);
	gst_object_unref(pipe);
	return err;
}

struct count {
	gint buffers;
	GstClockTime first, last; /* under the pad's streaming thread only */
};

static GstPadProbeReturn
count_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct count *c = data;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	c->buffers++;
	if (GST_BUFFER_PTS_IS_VALID(b)) {
		GstClockTime end = GST_BUFFER_PTS(b) +
				   (GST_BUFFER_DURATION_IS_VALID(b) ? GST_BUFFER_DURATION(b) : 0);
		if (c->first == GST_CLOCK_TIME_NONE || GST_BUFFER_PTS(b) < c->first) {
			c->first = GST_BUFFER_PTS(b);
		}
		if (c->last == GST_CLOCK_TIME_NONE || end > c->last) {
			c->last = end;
		}
	}
	return GST_PAD_PROBE_OK;
}

/* Decodes every track of the remuxed file and counts what comes out. */
static void
verify(struct remux *x)
{
	guint n = x->paths->len;
	GstElement *pipe = gst_pipeline_new("verify");
	GstElement *src = make(pipe, "filesrc");
	GstElement *demux = make(pipe, "matroskademux");
	g_object_set(src, "location", x->out, NULL);
	gst_element_link(src, demux);
	struct count *counts = g_new0(struct count, n);
	struct slots *sl = slots_new(n);
	for (guint i = 0; i < n; i++) {
		bool video = g_array_index(x->kinds, int, i) == MEDIA_KIND_VIDEO;
		GstElement *q = make(pipe, "queue");
		GstElement *dec = make(pipe, video ? "vp8dec" : "opusdec");
		GstElement *sink = make(pipe, "fakesink");
		g_object_set(sink, "sync", FALSE, NULL);
		gst_element_link_many(q, dec, sink, NULL);
		counts[i].first = counts[i].last = GST_CLOCK_TIME_NONE;
		GstPad *in = gst_element_get_static_pad(sink, "sink");
		gst_pad_add_probe(in, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, &counts[i], NULL);
		gst_object_unref(in);
		slot_add(sl, q, video);
	}
	g_signal_connect_data(demux, "pad-added", G_CALLBACK(link_to_free), sl, slots_free, 0);
	char *err = run_to_eos(pipe);
	gst_object_unref(pipe);

	GstClockTime first = GST_CLOCK_TIME_NONE, last = 0;
	guint empty = 0;
	for (guint i = 0; i < n; i++) {
		if (counts[i].buffers == 0) {
			empty++;
		}
		if (counts[i].first != GST_CLOCK_TIME_NONE && counts[i].first < first) {
			first = counts[i].first;
		}
		if (counts[i].last != GST_CLOCK_TIME_NONE && counts[i].last > last) {
			last = counts[i].last;
		}
	}
	GstClockTime dur = first != GST_CLOCK_TIME_NONE && last > first ? last - first : 0;
	x->duration_s = (double)dur / GST_SECOND;
	GstClockTimeDiff off = GST_CLOCK_DIFF(x->expected, dur);
	if (err) {
		x->reason = g_strdup_printf("does not decode: %s", err);
	} else if (empty > 0) {
		x->reason = g_strdup_printf("%u of %u tracks decode to nothing", empty, n);
	} else if (off > GST_SECOND || off < -GST_SECOND) {
		x->reason = g_strdup_printf("duration %.3f s, recorded %.3f s", x->duration_s,
					    (double)x->expected / GST_SECOND);
	} else {
		x->verified = true;
	}
	g_free(err);
	g_free(counts);
}

static void
hash_file(struct remux *x)
{
	GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
	FILE *f = fopen(x->out, "rb");
	if (f) {
		guchar buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			g_checksum_update(sum, buf, n);
			x->bytes += n;
		}
		fclose(f);
		x->sha256 = g_strdup(g_checksum_get_string(sum));
	}
	g_checksum_free(sum);
}

static void
remux_run(void *data)
{
	struct remux *x = data;
	char *err = remux_tracks(x);
	if (err) {
		x->reason = g_strdup_printf("remux failed: %s", err);
		g_free(err);
	} else {
		verify(x);
	}
	hash_file(x);
	if (x->verified) {
		for (guint i = 0; i < x->paths->len; i++) {
			g_unlink(g_ptr_array_index(x->paths, i));
		}
	}
	/* x belongs to the message once posted: the loop may free it at once. */
	struct shared *sh = x->sh;
	x->sh = NULL;
	struct msg *m = msg_new(MSG_REC_DONE, 0);
	m->data = x;
	m->data_free = remux_free;
	post(sh, m);
	shared_unref(sh);
}

static void
maybe_remux(struct media_session *s)
{
	struct recorder *r = s->rec;
	if (!r->finishing || r->blocks_pending > 0 || r->remuxing) {
		return;
	}
	struct remux *x = g_new0(struct remux, 1);
	x->paths = g_ptr_array_new_with_free_func(g_free);
	x->kinds = g_array_new(FALSE, FALSE, sizeof(int));
	GstClockTime first = GST_CLOCK_TIME_NONE, last = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, r->tracks);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct track *t = v;
		if (!t->down) {
			remux_free(x);
			return; /* MSG_REC_DOWN calls again */
		}
		g_ptr_array_add(x->paths, g_strdup(t->path));
		int k = (int)t->kind;
		g_array_append_val(x->kinds, k);
		first = MIN(first, t->start);
		last = MAX(last, t->end);
	}
	r->remuxing = true;
	x->out = g_strdup_printf("%s/%s.webm", r->dir, r->name);
	x->expected = first != GST_CLOCK_TIME_NONE && last > first ? last - first : 0;
	if (x->paths->len == 0) {
		x->reason = g_strdup("nothing was recorded");
		struct msg *m = msg_new(MSG_REC_DONE, 0);
		m->data = x;
		m->data_free = remux_free;
		post(s->sh, m);
		return;
	}
	x->sh = shared_ref(s->sh);
	td_info(MOD, "remuxing recording", "session=%u tracks=%u", s->serial, x->paths->len);
	media_worker_run(remux_run, x);
}

struct track_down {
	struct shared *sh;
	unsigned serial;
	GPtrArray *elements;
};

static void
track_down_run(void *data)
{
	struct track_down *d = data;
	for (guint i = 0; i < d->elements->len; i++) {
		gst_element_set_state(g_ptr_array_index(d->elements, i), GST_STATE_NULL);
	}
	struct msg *m = msg_new(MSG_REC_DOWN, 0);
	m->n = d->serial;
	m->elements = d->elements;
	post(d->sh, m);
	shared_unref(d->sh);
	g_free(d);
}

void
recorder_handle(struct media_session *s, struct msg *m)
{
	struct recorder *r = s->rec;
	if (!r) {
		return;
	}
	struct track *t = m->n ? g_hash_table_lookup(r->tracks, GUINT_TO_POINTER(m->n)) : NULL;
	switch (m->type) {
	case MSG_REC_BLOCKED:
		if (t) {
			track_detach(s, t);
		}
		if (r->blocks_pending > 0) {
			r->blocks_pending--;
		}
		maybe_remux(s);
		break;
	case MSG_REC_EOS:
		if (t && !t->eos_seen) {
			t->eos_seen = true;
			struct track_down *d = g_new0(struct track_down, 1);
			d->sh = shared_ref(s->sh);
			d->serial = t->serial;
			d->elements = g_ptr_array_new_with_free_func(gst_object_unref);
			for (unsigned i = 0; i < t->n_els; i++) {
				gst_element_set_locked_state(t->els[i], TRUE);
				g_ptr_array_add(d->elements, gst_object_ref(t->els[i]));
			}
			media_worker_run(track_down_run, d);
		}
		break;
	case MSG_REC_DOWN:
		for (guint i = 0; i < m->elements->len; i++) {
			GstElement *e = g_ptr_array_index(m->elements, i);
			if (GST_OBJECT_PARENT(e) == GST_OBJECT(s->pipeline)) {
				gst_bin_remove(GST_BIN(s->pipeline), e);
			}
		}
		if (t) {
			t->down = true;
		}
		maybe_remux(s);
		break;
	case MSG_REC_DONE: {
		struct remux *x = m->data;
		td_info(MOD, "recording finished", "session=%u verified=%s bytes=%" G_GUINT64_FORMAT,
			s->serial, x->verified ? "yes" : "no", x->bytes);
		if (!x->verified) {
			td_warn(MOD, "recording failed verification", "session=%u reason=\"%s\"",
				s->serial, x->reason ? x->reason : "-");
		}
		struct event *e = queue_event(s, EV_RECORDING, NULL, x->out, 0, x->verified);
		e->str2 = g_strdup(x->sha256);
		e->num = x->duration_s;
		e->str3 = g_strdup(x->reason);
		break;
	}
	default:
		break;
	}
}

/*
 * A worker thread, at start: tracks a crash left (files without duration or
 * cues, perhaps cut mid-cluster) remuxed into one WebM as far as they read,
 * decoded to check it and hashed. There is no recording time to check the
 * duration against: the decoded one is reported.
 */
int
media_recover_tracks(const char *const *paths, const char *out, struct media_recovered *res)
{
	memset(res, 0, sizeof(*res));
	if (media_init() < 0) {
		return -ENOENT;
	}
	struct remux *x = g_new0(struct remux, 1);
	x->paths = g_ptr_array_new_with_free_func(g_free);
	x->kinds = g_array_new(FALSE, FALSE, sizeof(int));
	x->out = g_strdup(out);
	GString *skipped = g_string_new(NULL);
	for (const char *const *p = paths; p && *p; p++) {
		/* A track cut before its first cluster (or empty) would fail the whole remux. */
		char *desc = g_strdup_printf("filesrc location=\"%s\" ! matroskademux ! fakesink", *p);
		GstElement *probe = gst_parse_launch(desc, NULL);
		char *err = probe ? run_to_eos(probe) : g_strdup("cannot read");
		gst_clear_object(&probe);
		g_free(desc);
		if (err) {
			char *base = g_path_get_basename(*p);
			g_string_append_printf(skipped, "%s%s (%s)", skipped->len ? ", " : "", base,
					       err);
			g_free(base);
			g_free(err);
			continue;
		}
		int k = g_str_has_suffix(*p, "-video.webm") ? MEDIA_KIND_VIDEO : MEDIA_KIND_AUDIO;
		g_ptr_array_add(x->paths, g_strdup(*p));
		g_array_append_val(x->kinds, k);
	}
	int r = 0;
	char *err = x->paths->len ? remux_tracks(x) : g_strdup("no tracks");
	if (err) {
		res->reason = g_strdup_printf("remux failed: %s", err);
		g_free(err);
		r = -EIO;
	} else {
		verify(x);
		/* Without a recording time the duration check means nothing: decoding decides. */
		if (!x->verified && x->reason && g_str_has_prefix(x->reason, "duration")) {
			g_clear_pointer(&x->reason, g_free);
			x->verified = true;
		}
		hash_file(x);
		res->readable = x->verified && x->sha256;
		res->reason = skipped->len ? g_strdup_printf("unreadable tracks left out: %s%s%s",
							     skipped->str, x->reason ? "; " : "",
							     x->reason ? x->reason : "")
					   : g_strdup(x->reason);
		res->sha256 = g_strdup(x->sha256);
		res->duration_s = x->duration_s;
		r = x->sha256 ? 0 : -EIO;
	}
	remux_free(x);
	g_string_free(skipped, TRUE);
	return r;
}

void
media_recovered_clear(struct media_recovered *res)
{
	g_free(res->sha256);
	g_free(res->reason);
	memset(res, 0, sizeof(*res));
}
