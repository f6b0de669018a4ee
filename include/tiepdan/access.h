/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Object-level rights (PROTOCOL.md §5.2), answered in one place for every
 * handler. The dispatcher has already checked the caller's role for the
 * method; these functions decide whether the caller may act on or see an
 * object held by an agency. A refusal must reach the client as -32004,
 * exactly like a missing object.
 *
 * The agency tree: officials, leaders and staff act in their own agency; a
 * leader also sees the agencies below theirs; an inspector held in an
 * inspectorate monitors the tree of the inspectorate's parent (the city
 * inspectorate: the whole city).
 */

#include <glib.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "tiepdan/rpc.h"

/** Whether id holds one of the roles (enum rpc_who bits) in exactly agency_id. */
bool access_holds(const struct rpc_identity *id, uint32_t roles, const char *agency_id);

/**
 * Appends to out (of g_free'd strings) agency_id and its ancestors up to the city, nearest
 * first. 0, -ENOENT when the agency does not exist, -EIO.
 */
int access_agency_chain(sqlite3 *db, const char *agency_id, GPtrArray *out);

/** Whether id may see objects held by agency_id (see above). Errors count as "no". */
bool access_sees_agency(sqlite3 *db, const struct rpc_identity *id, const char *agency_id);

/** Whether id may act (handle, decide) in agency_id with one of roles: held there exactly. */
bool access_acts_in_agency(const struct rpc_identity *id, uint32_t roles, const char *agency_id);
