/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "testpeer.h"

#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <string.h>

/*
 * The peer answers like a browser would: the offer's recvonly m-lines (what
 * the server receives) get our test sources, its sendonly m-lines (what the
 * server forwards) get a decoder each. The decoders are made up front and
 * playing, so that pad-added (a streaming thread) only links a pad.
 */

static const char *const send_desc[2] = {
	"audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=1 "
	"! opusenc ! rtpopuspay pt=111 ! capsfilter name=out "
	"caps=application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000",
	"videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=15/1 "
	"! vp8enc name=enc deadline=1 target-bitrate=150000 ! rtpvp8pay pt=96 "
	"picture-id-mode=15-bit ! capsfilter name=out "
	"caps=application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
};

/* ---- handing work to the loop ---- */

struct call {
	struct tpeer *p;
	void (*fn)(struct tpeer *p, struct call *c);
	guint mline;
	char *str;
	GstPromise *promise;
};

static gboolean
run_call(gpointer data)
{
	struct call *c = data;
	c->fn(c->p, c);
	g_atomic_int_dec_and_test(&c->p->pending);
	g_free(c->str);
	if (c->promise) {
		gst_promise_unref(c->promise);
	}
	g_free(c);
	return G_SOURCE_REMOVE;
}

static void
hand_over(struct tpeer *p, struct call *c)
{
	c->p = p;
	g_atomic_int_inc(&p->pending);
	GSource *src = g_idle_source_new();
	g_source_set_callback(src, run_call, c, NULL);
	g_source_attach(src, p->ctx);
	g_source_unref(src);
}

static void
on_promise(GstPromise *promise, gpointer data)
{
	struct call *c = data;
	c->promise = gst_promise_ref(promise);
	hand_over(c->p, c);
}

static GstPromise *
promise_to(struct tpeer *p, void (*fn)(struct tpeer *, struct call *))
{
	struct call *c = g_new0(struct call, 1);
	c->p = p;
	c->fn = fn;
	return gst_promise_new_with_change_func(on_promise, c, NULL);
}

static void
ask(struct tpeer *p, const char *action, gpointer arg, void (*fn)(struct tpeer *, struct call *))
{
	GstPromise *promise = promise_to(p, fn);
	g_signal_emit_by_name(p->webrtc, action, arg, promise);
	gst_promise_unref(promise);
}

/* ---- counting ---- */

static GstPadProbeReturn
count_frame(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct tpeer_stream *st = data;
	g_atomic_int_inc(&st->frames);
	g_main_context_wakeup(NULL);
	return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_key_in(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct tpeer_stream *st = data;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (!GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT)) {
		g_atomic_int_inc(&st->keyframes);
		g_main_context_wakeup(NULL);
	}
	return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_key_out(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct tpeer *p = data;
	GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
	if (!GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT)) {
		g_atomic_int_inc(&p->keyframes_sent);
		g_main_context_wakeup(NULL);
	}
	return GST_PAD_PROBE_OK;
}

/* ---- receiving ---- */

static void
stream_linked(struct tpeer *p, struct call *c)
{
	/* c->mline: kind * TPEER_MAX_STREAMS + index; the transceiver's m-line gives the msid. */
	struct tpeer_stream *st =
	    &p->streams[c->mline / TPEER_MAX_STREAMS][c->mline % TPEER_MAX_STREAMS];
	GstWebRTCRTPTransceiver *t = NULL;
	g_object_get(st->src, "transceiver", &t, NULL);
	guint idx = G_MAXUINT;
	if (t) {
		g_object_get(t, "mlineindex", &idx, NULL);
		gst_object_unref(t);
	}
	if (p->remote && idx < gst_sdp_message_medias_len(p->remote)) {
		const GstSDPMedia *m = gst_sdp_message_get_media(p->remote, idx);
		const char *msid = gst_sdp_media_get_attribute_val(m, "msid");
		for (guint i = 0; !msid && i < gst_sdp_media_attributes_len(m); i++) {
			const GstSDPAttribute *a = gst_sdp_media_get_attribute(m, i);
			const char *at = a->value ? strstr(a->value, " msid:") : NULL;
			if (g_strcmp0(a->key, "ssrc") == 0 && at) {
				msid = at + 6;
			}
		}
		if (msid) {
			st->from = g_strndup(msid, strcspn(msid, " "));
		}
	}
	g_test_message("%s: receiving %s from %s (m-line %u)", p->name,
	               c->mline >= TPEER_MAX_STREAMS ? "video" : "audio", st->from ? st->from : "?",
	               idx);
	g_atomic_int_set(&st->linked, 1);
}

/* A streaming thread: link the new pad to a free decoder of its kind, nothing else. */
static void
on_pad_added(GstElement *webrtc, GstPad *pad, struct tpeer *p)
{
	if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) {
		return;
	}
	/* The kind from the pad's caps (media=), else from its transceiver. */
	int k = -1;
	GstCaps *caps = gst_pad_query_caps(pad, NULL);
	const char *media = caps && gst_caps_get_size(caps) > 0
				    ? gst_structure_get_string(gst_caps_get_structure(caps, 0), "media")
				    : NULL;
	if (g_strcmp0(media, "video") == 0 || g_strcmp0(media, "audio") == 0) {
		k = strcmp(media, "video") == 0 ? 1 : 0;
	}
	gst_clear_caps(&caps);
	if (k < 0) {
		GstWebRTCRTPTransceiver *t = NULL;
		GstWebRTCKind kind = GST_WEBRTC_KIND_UNKNOWN;
		g_object_get(pad, "transceiver", &t, NULL);
		if (t) {
			g_object_get(t, "kind", &kind, NULL);
			gst_object_unref(t);
		}
		k = kind == GST_WEBRTC_KIND_VIDEO ? 1 : kind == GST_WEBRTC_KIND_AUDIO ? 0 : -1;
	}
	for (int i = 0; k >= 0 && i < TPEER_MAX_STREAMS; i++) {
		struct tpeer_stream *st = &p->streams[k][i];
		if (g_atomic_int_compare_and_exchange(&st->used, 0, 1)) {
			st->src = gst_object_ref(pad);
			GstPad *in = gst_element_get_static_pad(st->depay, "sink");
			GstPadLinkReturn r = gst_pad_link(pad, in);
			gst_object_unref(in);
			if (r != GST_PAD_LINK_OK) {
				g_atomic_int_inc(&p->errors);
			}
			struct call *c = g_new0(struct call, 1);
			c->fn = stream_linked;
			c->mline = (guint)(k * TPEER_MAX_STREAMS + i);
			hand_over(p, c);
			return;
		}
	}
	/*
	 * A pad of no known kind, or more than we have decoders for: an unlinked
	 * pad would fail the pipeline, so it goes to a spare sink. The test
	 * still asserts frames from every sender, so nothing is hidden.
	 */
	int spare = g_atomic_int_add(&p->spares_used, 1);
	g_test_message("%s: pad %s (kind %d) to a spare sink", p->name, GST_PAD_NAME(pad), k);
	if (spare < (int)G_N_ELEMENTS(p->spare)) {
		GstPad *in = gst_element_get_static_pad(p->spare[spare], "sink");
		if (gst_pad_link(pad, in) != GST_PAD_LINK_OK) {
			g_atomic_int_inc(&p->errors);
		}
		gst_object_unref(in);
		return;
	}
	g_atomic_int_inc(&p->errors);
}

static void
make_receivers(struct tpeer *p)
{
	for (size_t i = 0; i < G_N_ELEMENTS(p->spare); i++) {
		p->spare[i] = gst_element_factory_make("fakesink", NULL);
		g_object_set(p->spare[i], "sync", FALSE, "async", FALSE, NULL);
		gst_bin_add(GST_BIN(p->pipe), p->spare[i]);
	}
	static const char *const elems[2][2] = {{"rtpopusdepay", "opusdec"},
	                                        {"rtpvp8depay", "vp8dec"}};
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < TPEER_MAX_STREAMS; i++) {
			struct tpeer_stream *st = &p->streams[k][i];
			st->depay = gst_element_factory_make(elems[k][0], NULL);
			st->dec = gst_element_factory_make(elems[k][1], NULL);
			st->sink = gst_element_factory_make("fakesink", NULL);
			g_assert_nonnull(st->depay);
			g_assert_nonnull(st->dec);
			g_object_set(st->sink, "sync", FALSE, "async", FALSE, NULL);
			if (k == 1) {
				/* Missing references while waiting for a keyframe are not errors
				 * here. */
				g_object_set(st->dec, "max-errors", -1, NULL);
			}
			gst_bin_add_many(GST_BIN(p->pipe), st->depay, st->dec, st->sink, NULL);
			g_assert_true(gst_element_link_many(st->depay, st->dec, st->sink, NULL));
			GstPad *in = gst_element_get_static_pad(st->sink, "sink");
			gst_pad_add_probe(in, GST_PAD_PROBE_TYPE_BUFFER, count_frame, st, NULL);
			gst_object_unref(in);
			if (k == 1) {
				GstPad *out = gst_element_get_static_pad(st->depay, "src");
				gst_pad_add_probe(out, GST_PAD_PROBE_TYPE_BUFFER, count_key_in, st,
				                  NULL);
				gst_object_unref(out);
			}
		}
	}
}

/* ---- signalling ---- */

static void
local_candidate(struct tpeer *p, struct call *c)
{
	if (p->ev->candidate) {
		p->ev->candidate(p->data, p, c->mline, c->str);
	}
}

static void
on_ice_candidate(GstElement *webrtc, guint mline, gchar *candidate, struct tpeer *p)
{
	struct call *c = g_new0(struct call, 1);
	c->fn = local_candidate;
	c->mline = mline;
	c->str = g_strdup(candidate);
	hand_over(p, c);
}

static void
answer_created(struct tpeer *p, struct call *c)
{
	const GstStructure *reply = gst_promise_get_reply(c->promise);
	GstWebRTCSessionDescription *answer = NULL;
	g_assert_nonnull(reply);
	gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, NULL);
	g_assert_nonnull(answer);
	g_signal_emit_by_name(p->webrtc, "set-local-description", answer, NULL);
	char *text = gst_sdp_message_as_text(answer->sdp);
	gst_webrtc_session_description_free(answer);
	if (p->ev->answer) {
		p->ev->answer(p->data, p, text);
	}
	g_free(text);
}

static const char *
direction_of(const GstSDPMedia *m)
{
	static const char *const dirs[] = {"sendonly", "recvonly", "inactive"};
	for (guint i = 0; i < gst_sdp_media_attributes_len(m); i++) {
		const char *key = gst_sdp_media_get_attribute(m, i)->key;
		for (size_t d = 0; d < G_N_ELEMENTS(dirs); d++) {
			if (g_strcmp0(key, dirs[d]) == 0) {
				return dirs[d];
			}
		}
	}
	return "sendrecv";
}

/* No UPnP port mapping from libnice (as media/session.c does): the agent is reached through
 * nicesrc. */
static void
no_upnp(GstElement *webrtc)
{
	GstIterator *it = gst_bin_iterate_recurse(GST_BIN(webrtc));
	GValue v = G_VALUE_INIT;
	while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
		GstElement *e = g_value_get_object(&v);
		GstElementFactory *f = gst_element_get_factory(e);
		if (f && strcmp(GST_OBJECT_NAME(f), "nicesrc") == 0) {
			GObject *agent = NULL;
			g_object_get(e, "agent", &agent, NULL);
			g_object_set(agent, "upnp", FALSE, NULL);
			g_object_unref(agent);
		}
		g_value_reset(&v);
	}
	g_value_unset(&v);
	gst_iterator_free(it);
}

static void
remote_set(struct tpeer *p, struct call *c)
{
	const GstStructure *reply = gst_promise_get_reply(c->promise);
	if (reply && gst_structure_has_field(reply, "error")) {
		GError *err = NULL;
		gst_structure_get(reply, "error", G_TYPE_ERROR, &err, NULL);
		g_test_message("%s: offer refused: %s", p->name, err ? err->message : "?");
		g_clear_error(&err);
		g_atomic_int_inc(&p->errors);
		return;
	}
	/* What the server sends, we receive; what it stopped sending, we stop receiving. */
	GArray *ts = NULL;
	g_signal_emit_by_name(p->webrtc, "get-transceivers", &ts);
	for (guint i = 0; ts && i < ts->len; i++) {
		GstWebRTCRTPTransceiver *t = g_array_index(ts, GstWebRTCRTPTransceiver *, i);
		guint idx = G_MAXUINT;
		g_object_get(t, "mlineindex", &idx, NULL);
		if (idx >= gst_sdp_message_medias_len(p->remote)) {
			continue;
		}
		const char *dir = direction_of(gst_sdp_message_get_media(p->remote, idx));
		if (strcmp(dir, "sendonly") == 0) {
			g_object_set(t, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
			             NULL);
		} else if (strcmp(dir, "inactive") == 0) {
			g_object_set(t, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_INACTIVE,
			             NULL);
		}
	}
	if (ts) {
		g_array_unref(ts);
	}
	no_upnp(p->webrtc);
	ask(p, "create-answer", NULL, answer_created);
}

static void
apply_offer(struct tpeer *p, GstWebRTCSessionDescription *offer)
{
	ask(p, "set-remote-description", offer, remote_set);
	gst_webrtc_session_description_free(offer);
}

static void
caps_ready(struct tpeer *p, struct call *c)
{
	if (--p->caps_needed == 0 && p->held_offer) {
		GstWebRTCSessionDescription *offer = p->held_offer;
		p->held_offer = NULL;
		apply_offer(p, offer);
	}
}

static GstPadProbeReturn
on_send_caps(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct tpeer *p = data;
	if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) != GST_EVENT_CAPS) {
		return GST_PAD_PROBE_OK;
	}
	struct call *c = g_new0(struct call, 1);
	c->fn = caps_ready;
	hand_over(p, c);
	return GST_PAD_PROBE_REMOVE;
}

/* First offer: our sources go to its recvonly m-lines, at their m-line numbers. */
static void
start_sending(struct tpeer *p, const GstSDPMessage *sdp)
{
	for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++) {
		const GstSDPMedia *m = gst_sdp_message_get_media(sdp, i);
		if (strcmp(direction_of(m), "recvonly") != 0) {
			continue;
		}
		int k = g_strcmp0(gst_sdp_media_get_media(m), "video") == 0 ? 1 : 0;
		GError *err = NULL;
		GstElement *bin = gst_parse_bin_from_description(send_desc[k], TRUE, &err);
		g_assert_no_error(err);
		if (k == 1) {
			GstElement *enc = gst_bin_get_by_name(GST_BIN(bin), "enc");
			g_object_set(enc, "keyframe-max-dist", (int)p->keyframe_max_dist, NULL);
			GstPad *out = gst_element_get_static_pad(enc, "src");
			gst_pad_add_probe(out, GST_PAD_PROBE_TYPE_BUFFER, count_key_out, p, NULL);
			gst_object_unref(out);
			gst_object_unref(enc);
		}
		gst_bin_add(GST_BIN(p->pipe), bin);
		char name[16];
		g_snprintf(name, sizeof(name), "sink_%u", i);
		GstPad *src = gst_element_get_static_pad(bin, "src");
		GstCaps *caps = gst_pad_query_caps(src, NULL);
		GstPadTemplate *tmpl =
		    gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(p->webrtc), "sink_%u");
		GstPad *sink = gst_element_request_pad(p->webrtc, tmpl, name, caps);
		gst_caps_unref(caps);
		g_assert_nonnull(sink);
		g_assert_cmpint(gst_pad_link(src, sink), ==, GST_PAD_LINK_OK);
		gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_send_caps, p, NULL);
		gst_object_unref(sink);
		gst_object_unref(src);
		p->caps_needed++;
		g_assert_true(gst_element_sync_state_with_parent(bin));
	}
	p->sending = true;
}

void
tpeer_offer(struct tpeer *p, const char *sdp)
{
	GstSDPMessage *msg = NULL;
	g_assert_cmpint(gst_sdp_message_new_from_text(sdp, &msg), ==, GST_SDP_OK);
	if (p->remote) {
		gst_sdp_message_free(p->remote);
	}
	gst_sdp_message_copy(msg, &p->remote);
	p->offers++;
	GstWebRTCSessionDescription *offer =
	    gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, msg);
	if (!p->sending) {
		start_sending(p, msg);
		if (p->caps_needed > 0) {
			/* Answer once our caps (with our SSRCs) reached webrtcbin. */
			p->held_offer = offer;
			return;
		}
	}
	apply_offer(p, offer);
}

void
tpeer_add_candidate(struct tpeer *p, unsigned mline, const char *candidate)
{
	g_signal_emit_by_name(p->webrtc, "add-ice-candidate", mline, candidate);
}

static gboolean
on_bus(GstBus *bus, GstMessage *msg, gpointer data)
{
	struct tpeer *p = data;
	if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
		GError *err = NULL;
		gst_message_parse_error(msg, &err, NULL);
		g_test_message("%s: error from %s: %s", p->name, GST_OBJECT_NAME(msg->src),
		               err->message);
		g_clear_error(&err);
		g_atomic_int_inc(&p->errors);
	}
	return G_SOURCE_CONTINUE;
}

struct tpeer *
tpeer_create(const char *name, unsigned keyframe_max_dist, const struct tpeer_events *ev,
	     void *data)
{
	struct tpeer *p = g_new0(struct tpeer, 1);
	p->name = g_strdup(name);
	p->ctx = g_main_context_ref_thread_default();
	p->keyframe_max_dist = keyframe_max_dist;
	p->ev = ev;
	p->data = data;
	p->pipe = gst_pipeline_new(name);
	p->webrtc = gst_element_factory_make("webrtcbin", NULL);
	g_assert_nonnull(p->webrtc);
	g_object_set(p->webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency", 50,
	             NULL);
	GstWebRTCICE *ice = NULL;
	g_object_get(p->webrtc, "ice-agent", &ice, NULL);
	gboolean ok = FALSE;
	g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &ok);
	g_assert_true(ok);
	gst_object_unref(ice);
	g_signal_connect(p->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate), p);
	g_signal_connect(p->webrtc, "pad-added", G_CALLBACK(on_pad_added), p);
	gst_bin_add(GST_BIN(p->pipe), p->webrtc);
	make_receivers(p);
	GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(p->pipe));
	p->bus_watch = gst_bus_add_watch(bus, on_bus, p);
	gst_object_unref(bus);
	g_assert_cmpint(gst_element_set_state(p->pipe, GST_STATE_PLAYING), !=,
	                GST_STATE_CHANGE_FAILURE);
	return p;
}

void
tpeer_destroy(struct tpeer *p)
{
	if (!p) {
		return;
	}
	gst_element_set_state(p->pipe, GST_STATE_NULL);
	/* Work already handed to the loop runs (and finds nothing to do) before p goes. */
	while (g_atomic_int_get(&p->pending) > 0) {
		g_main_context_iteration(p->ctx, TRUE);
	}
	g_source_remove(p->bus_watch);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < TPEER_MAX_STREAMS; i++) {
			gst_clear_object(&p->streams[k][i].src);
			g_free(p->streams[k][i].from);
		}
	}
	if (p->held_offer) {
		gst_webrtc_session_description_free(p->held_offer);
	}
	if (p->remote) {
		gst_sdp_message_free(p->remote);
	}
	gst_object_unref(p->pipe);
	g_main_context_unref(p->ctx);
	g_free(p->name);
	g_free(p);
}

struct tpeer_stream *
tpeer_stream_from(struct tpeer *p, int kind, const char *from)
{
	for (int i = 0; i < TPEER_MAX_STREAMS; i++) {
		struct tpeer_stream *st = &p->streams[kind][i];
		if (g_atomic_int_get(&st->linked) && g_strcmp0(st->from, from) == 0) {
			return st;
		}
	}
	return NULL;
}

int
tpeer_frames_from(struct tpeer *p, int kind, const char *from)
{
	struct tpeer_stream *st = tpeer_stream_from(p, kind, from);
	return st ? g_atomic_int_get(&st->frames) : 0;
}

bool
tpeer_request_keyframe(struct tpeer *p, const char *from)
{
	struct tpeer_stream *st = tpeer_stream_from(p, 1, from);
	if (!st) {
		return false;
	}
	GstEvent *ev = gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0);
	return gst_pad_send_event(st->src, ev);
}
