/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Cases (PROTOCOL.md §5, DOMAIN.md §1–§3): petition intake, the statutory
 * state machine with working-day deadlines, the hash-chained timeline,
 * object-level access and denouncer confidentiality. Registers petition.*,
 * case.* and reception.record with the dispatcher.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "tiepdan/calendar.h"
#include "tiepdan/rpc.h"
#include "tiepdan/seal.h"
#include "tiepdan/store.h"

struct cases;

struct files;

/* What cases tell other modules (the reports' hot spot detection). */
struct cases_events {
#define CASES_EVENTS_VERSION 0
	uint32_t version;
	/* A new case was stored and its caller answered (petition.submit, petition.register). */
	void (*received)(void *data, const char *case_id);
};

struct cases_options {
	unsigned sweep_interval_s; /* overdue sweep, 3600 */
	struct files *files;       /* attachments (file_ids, file.ticket) */
	const struct cases_events *events; /* (nullable) */
	void *events_data;
};

/**
 * Whether the identity may see the case (PROTOCOL.md §5.2): the rule of case.get, for
 * other modules that list case ids (report explanations, hot spots).
 */
bool cases_visible(struct cases *c, const struct rpc_identity *id, const char *case_id);

/** (transfer full) NULL with *error set. rpc, store, seal and cal outlive it. */
struct cases *cases_create(struct rpc *rpc, struct store *store, struct seal *seal,
			   struct td_calendar *cal, const struct cases_options *opts,
			   GError **error);
void cases_destroy(struct cases *c);

/** Runs the overdue sweep now (it also runs every sweep_interval_s). */
void cases_sweep(struct cases *c);
