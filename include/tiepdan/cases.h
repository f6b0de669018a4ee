/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Cases (PROTOCOL.md §5, DOMAIN.md §1–§3): petition intake, the statutory
 * state machine with working-day deadlines, the hash-chained timeline,
 * object-level access and denouncer confidentiality. Registers petition.*,
 * case.* and reception.record with the dispatcher.
 */

#include <glib.h>

#include "tiepdan/calendar.h"
#include "tiepdan/rpc.h"
#include "tiepdan/seal.h"
#include "tiepdan/store.h"

struct cases;

struct files;

struct cases_options {
	unsigned sweep_interval_s; /* overdue sweep, 3600 */
	struct files *files;       /* attachments (file_ids, file.ticket) */
};

/** (transfer full) NULL with *error set. rpc, store, seal and cal outlive it. */
struct cases *cases_create(struct rpc *rpc, struct store *store, struct seal *seal,
			   struct td_calendar *cal, const struct cases_options *opts,
			   GError **error);
void cases_destroy(struct cases *c);

/** Runs the overdue sweep now (it also runs every sweep_interval_s). */
void cases_sweep(struct cases *c);
