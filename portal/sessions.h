/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Live reception sessions (PROTOCOL.md §6, docs/sessions.md): the session.*
 * methods wired to the media layer (include/tiepdan/media.h). Holds every
 * live session on the loop: participants, lobby, consent, the reconnect
 * window, and at the end the recording sealed into the file store and one
 * `reception_session` event in the case timeline.
 */

#include <glib.h>

#include "tiepdan/files.h"
#include "tiepdan/rpc.h"
#include "tiepdan/seal.h"
#include "tiepdan/store.h"

struct sessions;
struct metrics;

struct sessions_options {
	const char *data_dir;         /* recordings go to DATA_DIR/recordings */
	unsigned reconnect_window_s;  /* 30 */
	unsigned max_sessions;        /* 20 */
	const char *stun_server;      /* (nullable) stun://host:port */
	const char *const *turn_servers;  /* (nullable) NULL-terminated */
	const char *const *ice_addresses; /* (nullable) NULL-terminated */
	struct metrics *metrics;          /* (nullable) live sessions, recorded bytes */
};

/**
 * (transfer full) Registers session.* and looks for recordings a crash left unfinished
 * (remuxed on a worker, recorded as interrupted). NULL with *error set. rpc, store, seal and
 * files outlive it; destroy it before them.
 */
struct sessions *sessions_create(struct rpc *rpc, struct store *store, struct seal *seal,
				 struct files *files, const struct sessions_options *opts,
				 GError **error);
/** Tears down every live session (their recordings stay unfinished: recovered at the next
 * start). NULL is fine. */
void sessions_destroy(struct sessions *ss);
