/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "session-private.h"

#include <errno.h>

#include "tiepdan/log.h"

/*
 * Forwarding without decoding: each received stream goes into a tee (made
 * when its participant was added); each other participant gets a branch
 *
 *     tee ! queue leaky=downstream ! webrtcbin (sendonly transceiver)
 *
 * The queue decouples the legs: webrtcbin holds the data of a transceiver
 * that is not negotiated yet, and one slow leg must not stall the sender's
 * other receivers. Upstream events cross the queue and the tee, so a
 * receiver's keyframe request (GstForceKeyUnit from its rtpsession) reaches
 * the sender's webrtcbin, which sends PLI (MEDIA.md).
 *
 * Removing a participant follows MEDIA.md's safe order: block (idle
 * probes) and unlink its pads, lock the elements' state, set them to NULL
 * (on a worker thread, the loop never waits), take them out of the bin; the
 * others are offered again without its streams.
 */

/* What a forwarding queue may hold: a leg that stalls longer loses the oldest packets. */
#define FORWARD_QUEUE_NS (500 * GST_MSECOND)

struct fwd *
forward_find(struct media_session *s, struct peer *from, struct peer *to, enum media_kind k)
{
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->from == from && f->to == to && f->kind == k && !f->closed) {
			return f;
		}
	}
	return NULL;
}

void
forward_free(struct fwd *f)
{
	if (f->caps_handler) {
		g_signal_handler_disconnect(f->sink, f->caps_handler);
	}
	gst_clear_object(&f->queue);
	gst_clear_object(&f->sink);
	gst_clear_object(&f->trans);
	gst_clear_object(&f->tee_pad);
	g_free(f);
}

/*
 * A streaming thread: the receiver's webrtcbin sink pad stored new caps
 * (with the sender's SSRC). "notify::caps" comes after webrtcbin's own event
 * handler took them, so an offer made from now on announces the SSRC; a
 * probe on the queue would fire before and race with it.
 */
static void
on_sink_caps(GstPad *pad, GParamSpec *pspec, struct probe_ctx *c)
{
	GstCaps *caps = gst_pad_get_current_caps(pad);
	if (!caps) {
		return;
	}
	struct msg *m = msg_new(MSG_CAPS, c->peer);
	m->n = c->n;
	m->caps = caps;
	post(c->sh, m);
}

static void
probe_ctx_closure_notify(gpointer data, GClosure *closure)
{
	probe_ctx_destroy(data);
}

void
forward_create(struct media_session *s, struct peer *from, struct peer *to, enum media_kind k)
{
	struct fwd *f = g_new0(struct fwd, 1);
	f->serial = ++s->next_serial;
	f->from = from;
	f->to = to;
	f->kind = k;
	char name[48];
	g_snprintf(name, sizeof(name), "fwd-%u-%u-%s", from->serial, to->serial,
	           media_kind_name(k));
	f->queue = gst_element_factory_make("queue", name);
	if (!f->queue) {
		goto fail;
	}
	gst_object_ref_sink(f->queue);
	gst_util_set_object_arg(G_OBJECT(f->queue), "leaky", "downstream");
	g_object_set(f->queue, "max-size-buffers", 0, "max-size-bytes", 0, "max-size-time",
	             (guint64)FORWARD_QUEUE_NS, NULL);
	f->sink = gst_element_request_pad_simple(to->webrtc, "sink_%u");
	if (!f->sink) {
		goto fail;
	}
	/* The sender's id as the stream id: a browser groups its audio and video by it. */
	if (g_object_class_find_property(G_OBJECT_GET_CLASS(f->sink), "msid")) {
		g_object_set(f->sink, "msid", from->id, NULL);
	}
	g_object_get(f->sink, "transceiver", &f->trans, NULL);
	if (!f->trans) {
		goto fail_pad;
	}
	g_object_set(f->trans, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, NULL);
	f->caps_handler = g_signal_connect_data(f->sink, "notify::caps", G_CALLBACK(on_sink_caps),
	                                        probe_ctx_new(s->sh, to->serial, f->serial, k),
	                                        probe_ctx_closure_notify, 0);
	if (!gst_bin_add(GST_BIN(s->pipeline), gst_object_ref(f->queue))) {
		gst_object_unref(f->queue);
		goto fail_pad;
	}
	GstPad *qsrc = gst_element_get_static_pad(f->queue, "src");
	GstPadLinkReturn lr = gst_pad_link(qsrc, f->sink);
	gst_object_unref(qsrc);
	gst_element_sync_state_with_parent(f->queue);
	f->tee_pad = gst_element_request_pad_simple(from->tee[k], "src_%u");
	GstPad *qsink = gst_element_get_static_pad(f->queue, "sink");
	if (lr != GST_PAD_LINK_OK || !f->tee_pad ||
	    gst_pad_link(f->tee_pad, qsink) != GST_PAD_LINK_OK) {
		td_error(MOD, "cannot link a forwarded stream", "session=%u from=%s to=%s kind=%s",
		         s->serial, from->id, to->id, media_kind_name(k));
	}
	gst_object_unref(qsink);
	g_hash_table_insert(s->fwds, GUINT_TO_POINTER(f->serial), f);
	to->dirty = true;
	td_debug(MOD, "forwarding", "session=%u from=%s to=%s kind=%s", s->serial, from->id, to->id,
	         media_kind_name(k));
	return;

fail_pad:
	gst_element_release_request_pad(to->webrtc, f->sink);
fail:
	td_error(MOD, "cannot forward a stream", "session=%u from=%s to=%s kind=%s", s->serial,
	         from->id, to->id, media_kind_name(k));
	forward_free(f);
}

/* The caps of a forwarded stream reached the receiver's webrtcbin: it may be offered now. */
void
forward_caps(struct media_session *s, struct peer *to, struct msg *m)
{
	struct fwd *f = g_hash_table_lookup(s->fwds, GUINT_TO_POINTER(m->n));
	if (!f || f->closed || f->to != to) {
		return;
	}
	guint ssrc = 0;
	bool has = gst_caps_get_size(m->caps) > 0 &&
	           gst_structure_get_uint(gst_caps_get_structure(m->caps, 0), "ssrc", &ssrc);
	if (f->have_caps && has == f->has_ssrc && (!has || ssrc == f->ssrc)) {
		return;
	}
	if (f->have_caps) {
		/* The sender's SSRC changed: the receiver must be told. */
		f->offered_gen = 0;
		f->negotiated = false;
		f->keyframe_asked = false;
	}
	f->have_caps = true;
	f->has_ssrc = has;
	f->ssrc = ssrc;
	to->dirty = true;
	peer_negotiate(to);
}

/* ---- removal ------------------------------------------------------------------------------ */

/* Any thread: the pad is idle and stays blocked; the loop is told once. */
static GstPadProbeReturn
on_idle_block(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct probe_ctx *c = data;
	if (g_atomic_int_compare_and_exchange(&c->fired, 0, 1)) {
		post(c->sh, msg_new(MSG_BLOCKED, c->peer));
	}
	return GST_PAD_PROBE_OK;
}

static void
block(struct media_session *s, struct peer *p, GstPad *pad)
{
	p->blocks_pending++;
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_IDLE, on_idle_block,
	                  probe_ctx_new(s->sh, p->serial, 0, 0), probe_ctx_destroy);
}

int
media_session_remove_participant(struct media_session *s, const char *id)
{
	struct peer *p = id ? g_hash_table_lookup(s->peers, id) : NULL;
	if (!p) {
		return -ENOENT;
	}
	g_hash_table_remove(s->peers, id);
	p->removing = true;
	g_atomic_int_set(&p->link->removing, 1);
	td_info(MOD, "removing participant", "session=%u peer=%s", s->serial, p->id);

	/* One for this function, so that the count cannot reach 0 before every probe is set. */
	p->blocks_pending = 1;
	for (int k = 0; k < 2; k++) {
		if (p->stream[k]) {
			block(s, p, p->stream[k]);
		}
	}
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->to == p && f->tee_pad && !f->torn) {
			block(s, p, f->tee_pad);
		} else if (f->from == p && !f->closed) {
			f->closed = true;
			g_object_set(f->trans, "direction",
			             GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_INACTIVE, NULL);
			f->to->dirty = true;
		}
	}
	/* The others are offered again at once, without p's streams. */
	g_hash_table_iter_init(&it, s->peers);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		peer_negotiate(v);
	}
	post(s->sh, msg_new(MSG_BLOCKED, p->serial));
	return 0;
}

struct teardown {
	struct shared *sh;
	unsigned peer;
	GPtrArray *elements;
};

/* A worker thread: stop the elements, then hand them back to the loop. */
static void
teardown_run(void *data)
{
	struct teardown *t = data;
	for (guint i = 0; i < t->elements->len; i++) {
		gst_element_set_state(g_ptr_array_index(t->elements, i), GST_STATE_NULL);
	}
	struct msg *m = msg_new(MSG_PEER_DOWN, t->peer);
	m->elements = t->elements;
	post(t->sh, m);
	shared_unref(t->sh);
	g_free(t);
}

static void
add_element(GPtrArray *a, GstElement *e)
{
	gst_element_set_locked_state(e, TRUE);
	g_ptr_array_add(a, gst_object_ref(e));
}

/* Every pad of p is blocked: unlink, lock, and stop the elements off the loop. */
static void
removal_unlink(struct media_session *s, struct peer *p)
{
	GPtrArray *els = g_ptr_array_new_with_free_func(gst_object_unref);
	for (int k = 0; k < 2; k++) {
		if (p->stream[k]) {
			gst_pad_unlink(p->stream[k], p->link->tee_sink[k]);
		}
	}
	/* Its tracks are finished (EOS) and kept for the recording's remux. */
	recorder_detach_participant(s, p);
	add_element(els, p->webrtc);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->torn || (f->to != p && f->from != p)) {
			continue;
		}
		if (f->to == p && f->tee_pad) {
			GstPad *qsink = gst_element_get_static_pad(f->queue, "sink");
			gst_pad_unlink(f->tee_pad, qsink);
			gst_object_unref(qsink);
			/* Releasing the blocked pad flushes it; tee counts a removed pad as OK. */
			gst_element_release_request_pad(f->from->tee[f->kind], f->tee_pad);
			gst_clear_object(&f->tee_pad);
		}
		f->torn = true;
		add_element(els, f->queue);
	}
	for (int k = 0; k < 2; k++) {
		add_element(els, p->tee[k]);
	}
	struct teardown *t = g_new0(struct teardown, 1);
	t->sh = shared_ref(s->sh);
	t->peer = p->serial;
	t->elements = els;
	media_worker_run(teardown_run, t);
}

static void
removal_done(struct media_session *s, struct peer *p, GPtrArray *els)
{
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->from == p) {
			/* The receiver keeps its (now inactive) transceiver and pad. */
			GstPad *qsrc = gst_element_get_static_pad(f->queue, "src");
			gst_pad_unlink(qsrc, f->sink);
			gst_object_unref(qsrc);
		}
	}
	for (guint i = 0; i < els->len; i++) {
		GstElement *e = g_ptr_array_index(els, i);
		if (GST_OBJECT_PARENT(e) == GST_OBJECT(s->pipeline)) {
			gst_bin_remove(GST_BIN(s->pipeline), e);
		}
	}
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->from == p || f->to == p) {
			g_hash_table_iter_remove(&it);
		}
	}
	td_info(MOD, "participant removed", "session=%u peer=%s", s->serial, p->id);
	g_hash_table_remove(s->by_serial, GUINT_TO_POINTER(p->serial));
}

void
removal_handle(struct media_session *s, struct msg *m)
{
	struct peer *p = g_hash_table_lookup(s->by_serial, GUINT_TO_POINTER(m->peer));
	if (!p || !p->removing) {
		return;
	}
	if (m->type == MSG_BLOCKED) {
		if (p->blocks_pending > 0 && --p->blocks_pending == 0) {
			removal_unlink(s, p);
		}
	} else if (m->type == MSG_PEER_DOWN) {
		removal_done(s, p, m->elements);
	}
}
