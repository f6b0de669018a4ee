/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/access.h"
#include "tiepdan/store.h"

#include <errno.h>
#include <string.h>

bool
access_holds(const struct rpc_identity *id, uint32_t roles, const char *agency_id)
{
	if (!id) {
		return false;
	}
	for (size_t i = 0; i < id->n_grants; i++) {
		const struct rpc_grant *g = &id->grants[i];
		if ((g->role & roles) && g_strcmp0(g->agency_id, agency_id) == 0) {
			return true;
		}
	}
	return false;
}

bool
access_acts_in_agency(const struct rpc_identity *id, uint32_t roles, const char *agency_id)
{
	return agency_id && access_holds(id, roles, agency_id);
}

int
access_agency_chain(sqlite3 *db, const char *agency_id, GPtrArray *out)
{
	static const char sql[] = "WITH RECURSIVE up(id, parent_id, depth) AS ("
				  " SELECT id, parent_id, 0 FROM agencies WHERE id = ?1"
				  " UNION ALL"
				  " SELECT a.id, a.parent_id, up.depth + 1 FROM agencies a"
				  " JOIN up ON a.id = up.parent_id WHERE up.depth < 64)"
				  " SELECT id FROM up ORDER BY depth";
	int rc, n = 0;
	g_autoptr(StoreStmt) st = store_stmt(db, sql);
	if (!st) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, agency_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		g_ptr_array_add(out, g_strdup((const char *)sqlite3_column_text(st, 0)));
		n++;
	}
	if (rc != SQLITE_DONE) {
		return -EIO;
	}
	return n ? 0 : -ENOENT;
}

static char *
parent_of(sqlite3 *db, const char *agency_id, bool inspectorate_only)
{
	return store_query_text(db,
				inspectorate_only ? "SELECT parent_id FROM agencies WHERE id = ?1 AND "
						    "level = 'inspectorate'"
						  : "SELECT parent_id FROM agencies WHERE id = ?1",
				(const char *const[]){agency_id}, 1);
}

/*
 * Walks the chain of agency_id once and matches every grant against it:
 * official/leader/staff at the agency itself, a leader at any ancestor, an
 * inspector whose inspectorate's parent is on the chain.
 */
bool
access_sees_agency(sqlite3 *db, const struct rpc_identity *id, const char *agency_id)
{
	if (!id || !agency_id || id->n_grants == 0) {
		return false;
	}
	if (access_holds(id, RPC_OFFICIAL | RPC_LEADER | RPC_STAFF, agency_id)) {
		return true;
	}
	GPtrArray *chain = g_ptr_array_new_with_free_func(g_free);
	bool seen = false;
	if (access_agency_chain(db, agency_id, chain) == 0) {
		for (size_t i = 0; i < id->n_grants && !seen; i++) {
			const struct rpc_grant *g = &id->grants[i];
			if (!g->agency_id) {
				continue;
			}
			const char *scope = NULL;
			char *parent = NULL;
			if (g->role == RPC_LEADER) {
				scope = g->agency_id;
			} else if (g->role == RPC_INSPECTOR) {
				parent = parent_of(db, g->agency_id, true);
				scope = parent;
			}
			for (guint j = 0; scope && j < chain->len && !seen; j++) {
				seen = strcmp(chain->pdata[j], scope) == 0;
			}
			g_free(parent);
		}
	}
	g_ptr_array_free(chain, TRUE);
	return seen;
}
