/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "media-private.h"

#include <errno.h>
#include <string.h>

/*
 * Checks of what a participant sends before webrtcbin sees it: webrtcbin
 * refuses a bad description only asynchronously, and some garbage it takes
 * (GstSDPMessage's parser is lenient: "hello" parses as an empty message).
 * Parsing is GstSDPMessage's; this file only compares the answer with the
 * offer it answers.
 */

#define SDP_MAX_BYTES (64 * 1024)

/* An attribute of the m-line, or else of the session. */
static const char *
attr(const GstSDPMessage *msg, const GstSDPMedia *m, const char *key)
{
	const char *v = gst_sdp_media_get_attribute_val(m, key);
	return v ? v : gst_sdp_message_get_attribute_val(msg, key);
}

static bool
has_attr(const GstSDPMedia *m, const char *key)
{
	for (guint i = 0; i < gst_sdp_media_attributes_len(m); i++) {
		if (g_strcmp0(gst_sdp_media_get_attribute(m, i)->key, key) == 0) {
			return true;
		}
	}
	return false;
}

static const char *
direction(const GstSDPMedia *m)
{
	static const char *const dirs[] = {"sendonly", "recvonly", "inactive"};
	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
		if (has_attr(m, dirs[i])) {
			return dirs[i];
		}
	}
	return "sendrecv";
}

/* Whether an m-line answered with direction answered answers one offered with offered (RFC 3264
 * §6.1). */
static bool
direction_answers(const char *offered, const char *answered)
{
	if (strcmp(answered, "inactive") == 0) {
		return true;
	}
	if (strcmp(offered, "recvonly") == 0) {
		return strcmp(answered, "sendonly") == 0;
	}
	if (strcmp(offered, "sendonly") == 0) {
		return strcmp(answered, "recvonly") == 0;
	}
	if (strcmp(offered, "sendrecv") == 0) {
		return true;
	}
	return false;
}

static bool
format_offered(const GstSDPMedia *o, const char *fmt)
{
	for (guint i = 0; i < gst_sdp_media_formats_len(o); i++) {
		if (strcmp(gst_sdp_media_get_format(o, i), fmt) == 0) {
			return true;
		}
	}
	return false;
}

static int
check_media(const GstSDPMessage *msg, const GstSDPMedia *m, const GstSDPMedia *o, const char **why)
{
	if (g_strcmp0(gst_sdp_media_get_media(m), gst_sdp_media_get_media(o)) != 0) {
		*why = "an m-line's kind differs from the offer's";
		return -EINVAL;
	}
	if (g_strcmp0(gst_sdp_media_get_attribute_val(m, "mid"),
	              gst_sdp_media_get_attribute_val(o, "mid")) != 0) {
		*why = "an m-line's mid differs from the offer's";
		return -EINVAL;
	}
	if (g_strcmp0(gst_sdp_media_get_proto(m), gst_sdp_media_get_proto(o)) != 0) {
		*why = "an m-line's protocol differs from the offer's";
		return -EINVAL;
	}
	if (!direction_answers(direction(o), direction(m))) {
		*why = "an m-line's direction does not answer the offer's";
		return -EINVAL;
	}
	if (gst_sdp_media_get_port(m) == 0) {
		return 0; /* rejected m-line: nothing more to check */
	}
	if (gst_sdp_media_formats_len(m) == 0) {
		*why = "an m-line has no payload type";
		return -EINVAL;
	}
	for (guint i = 0; i < gst_sdp_media_formats_len(m); i++) {
		if (!format_offered(o, gst_sdp_media_get_format(m, i))) {
			*why = "an m-line has a payload type that was not offered";
			return -EINVAL;
		}
	}
	const char *ufrag = attr(msg, m, "ice-ufrag");
	const char *pwd = attr(msg, m, "ice-pwd");
	if (!ufrag || !*ufrag || !pwd || !*pwd) {
		*why = "ICE credentials missing";
		return -EINVAL;
	}
	const char *fp = attr(msg, m, "fingerprint");
	if (!fp || !strchr(fp, ' ')) {
		*why = "DTLS fingerprint missing";
		return -EINVAL;
	}
	const char *setup = attr(msg, m, "setup");
	if (setup && strcmp(setup, "active") != 0 && strcmp(setup, "passive") != 0) {
		*why = "the DTLS role (a=setup) must be active or passive in an answer";
		return -EINVAL;
	}
	return 0;
}

int
media_sdp_check_answer(const GstSDPMessage *offer, const char *text, GstSDPMessage **out,
		       const char **why)
{
	*out = NULL;
	*why = "not an SDP answer";
	if (!text) {
		return -EINVAL;
	}
	size_t len = strnlen(text, SDP_MAX_BYTES + 1);
	if (len == 0 || len > SDP_MAX_BYTES) {
		*why = len ? "SDP too large" : "empty SDP";
		return -EINVAL;
	}
	GstSDPMessage *msg = NULL;
	if (gst_sdp_message_new(&msg) != GST_SDP_OK) {
		return -ENOMEM;
	}
	int rc = -EINVAL;
	if (gst_sdp_message_parse_buffer((const guint8 *)text, (guint)len, msg) != GST_SDP_OK ||
	    g_strcmp0(gst_sdp_message_get_version(msg), "0") != 0) {
		goto fail;
	}
	const GstSDPOrigin *origin = gst_sdp_message_get_origin(msg);
	if (!origin || !origin->sess_id) {
		*why = "SDP without an origin";
		goto fail;
	}
	guint n = gst_sdp_message_medias_len(msg);
	if (n == 0 || n != gst_sdp_message_medias_len(offer)) {
		*why = "the m-lines differ from the offer's";
		goto fail;
	}
	for (guint i = 0; i < n; i++) {
		rc = check_media(msg, gst_sdp_message_get_media(msg, i),
		                 gst_sdp_message_get_media(offer, i), why);
		if (rc < 0) {
			goto fail;
		}
	}
	*out = msg;
	*why = NULL;
	return 0;
fail:
	gst_sdp_message_free(msg);
	return -EINVAL;
}

bool
media_sdp_media_has_ssrc(const GstSDPMedia *m, guint32 ssrc)
{
	for (guint i = 0; i < gst_sdp_media_attributes_len(m); i++) {
		const GstSDPAttribute *a = gst_sdp_media_get_attribute(m, i);
		if (g_strcmp0(a->key, "ssrc") == 0 && a->value) {
			char *end = NULL;
			guint64 v = g_ascii_strtoull(a->value, &end, 10);
			if (end != a->value && v == ssrc) {
				return true;
			}
		}
	}
	return false;
}
