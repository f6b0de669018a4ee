/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* GStreamer's WebRTC headers are "unstable API": without this they warn, and -Werror fails. */
#define GST_USE_UNSTABLE_API 1

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <stdbool.h>

#include "tiepdan/media.h"

#define MOD "media"

/* media.c: process-wide parts. */

/*
 * Work that may block (state changes to NULL) runs on a small pool of worker
 * threads, never on the loop. run(data) is called there; media_deinit()
 * waits for every job.
 */
void media_worker_run(void (*run)(void *data), void *data);

/* 0 when candidate ("candidate:...") is one libnice can parse; -EINVAL otherwise. */
int media_check_candidate(const char *candidate);

/* An IPv4 or IPv6 literal. */
bool media_check_address(const char *addr);

/* sdp.c */

/*
 * 0 when text is an SDP answer to offer: parsed by GstSDPMessage, same m-lines
 * (kind and mid) in the same order, ICE credentials and a DTLS fingerprint,
 * a DTLS role that answers (active or passive), only the payload types offered.
 * On success *out (transfer full) is the parsed answer. -EINVAL otherwise,
 * with a reason in *why (static string).
 */
int media_sdp_check_answer(const GstSDPMessage *offer, const char *text, GstSDPMessage **out,
			   const char **why);

/* The SSRCs an m-line announces (a=ssrc:N ...), for checking an offer. */
bool media_sdp_media_has_ssrc(const GstSDPMedia *m, guint32 ssrc);
