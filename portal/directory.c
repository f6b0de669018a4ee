/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <errno.h>
#include <glib.h>
#include <jansson.h>

#include "portal.h"
#include "tiepdan/log.h"

/*
 * The public directory: agencies and fields. Reads on the loop from the
 * store's read connection; the tables are small, so a plain query per call.
 */

enum { STMT_AGENCIES_ALL, STMT_AGENCIES_CHILDREN, STMT_AGENCY_EXISTS, STMT_FIELDS, STMT_COUNT };

static const char *const stmt_sql[STMT_COUNT] = {
	[STMT_AGENCIES_ALL] = "SELECT id, code, name, level, parent_id FROM agencies ORDER BY code",
	[STMT_AGENCIES_CHILDREN] = "SELECT id, code, name, level, parent_id FROM agencies "
				   "WHERE parent_id = ?1 ORDER BY code",
	[STMT_AGENCY_EXISTS] = "SELECT 1 FROM agencies WHERE id = ?1",
	[STMT_FIELDS] = "SELECT code, name, name_en FROM fields ORDER BY rowid",
};

struct directory {
	struct store *store;
	sqlite3_stmt *stmts[STMT_COUNT];
};

static sqlite3_stmt *
stmt(struct directory *d, int which)
{
	if (!d->stmts[which]) {
		if (sqlite3_prepare_v3(store_reader(d->store), stmt_sql[which], -1,
				       SQLITE_PREPARE_PERSISTENT, &d->stmts[which], NULL) != SQLITE_OK) {
			td_error("directory", "prepare failed", "err=\"%s\"",
				 sqlite3_errmsg(store_reader(d->store)));
			return NULL;
		}
	}
	return d->stmts[which];
}

static json_t *
text_or_null(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? json_string((const char *)t) : json_null();
}

static void
directory_agencies(struct rpc_call *call, json_t *params, void *data)
{
	struct directory *d = data;
	const char *parent = json_string_value(json_object_get(params, "parent_id"));
	sqlite3_stmt *st;
	int rc;

	if (parent) {
		st = stmt(d, STMT_AGENCY_EXISTS);
		if (!st) {
			goto fail;
		}
		sqlite3_bind_text(st, 1, parent, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE) {
			rpc_call_error(call, TD_ERR_NOT_FOUND, NULL,
				       json_pack("{s:s}", "field", "/parent_id"));
			return;
		} else if (rc != SQLITE_ROW) {
			goto fail;
		}
		st = stmt(d, STMT_AGENCIES_CHILDREN);
		if (!st) {
			goto fail;
		}
		sqlite3_bind_text(st, 1, parent, -1, SQLITE_TRANSIENT);
	} else {
		st = stmt(d, STMT_AGENCIES_ALL);
		if (!st) {
			goto fail;
		}
	}
	json_t *items = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(items, json_pack("{s:o, s:o, s:o, s:o, s:o}", "id",
						       text_or_null(st, 0), "code",
						       text_or_null(st, 1), "name",
						       text_or_null(st, 2), "level",
						       text_or_null(st, 3), "parent_id",
						       text_or_null(st, 4)));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		json_decref(items);
		goto fail;
	}
	rpc_call_reply(call, json_pack("{s:o}", "items", items));
	return;
fail:
	td_error("directory", "query failed", "method=directory.agencies");
	rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
}

static void
directory_fields(struct rpc_call *call, json_t *params, void *data)
{
	struct directory *d = data;
	sqlite3_stmt *st = stmt(d, STMT_FIELDS);
	int rc;
	if (!st) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		return;
	}
	json_t *items = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(items, json_pack("{s:o, s:o, s:o}", "code",
						       text_or_null(st, 0), "name",
						       text_or_null(st, 1), "name_en",
						       text_or_null(st, 2)));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(items);
		td_error("directory", "query failed", "method=directory.fields");
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		return;
	}
	rpc_call_reply(call, json_pack("{s:o}", "items", items));
}

static const struct rpc_param agencies_params[] = {
	{.name = "parent_id",
	 .type = RPC_T_ID,
	 .description = "only the agencies directly under this one"},
	{0},
};

#define AGENCY_SCHEMA                                                                             \
	"{\"type\":\"object\",\"required\":[\"id\",\"code\",\"name\",\"level\",\"parent_id\"],"  \
	"\"properties\":{\"id\":{\"type\":\"string\"},\"code\":{\"type\":\"string\"},"            \
	"\"name\":{\"type\":\"string\"},\"level\":{\"enum\":[\"city\",\"department\","             \
	"\"inspectorate\",\"ward\",\"commune\"]},\"parent_id\":{\"type\":[\"string\",\"null\"]}}}"

static const struct rpc_method directory_methods[] = {
	{
		.name = "directory.agencies",
		.handler = directory_agencies,
		.who = RPC_ANYONE,
		.summary = "The agencies of the city, or those directly under parent_id.",
		.params = agencies_params,
		.result_schema = "{\"type\":\"object\",\"required\":[\"items\"],\"properties\":"
				 "{\"items\":{\"type\":\"array\",\"items\":" AGENCY_SCHEMA "}}}",
	},
	{
		.name = "directory.fields",
		.handler = directory_fields,
		.who = RPC_ANYONE,
		.summary = "The fields (sectors) a petition can concern.",
		.result_schema = "{\"type\":\"object\",\"required\":[\"items\"],\"properties\":"
				 "{\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
				 "\"required\":[\"code\",\"name\"]}}}}",
	},
};

struct directory *
portal_directory_create(struct rpc *rpc, struct store *store)
{
	struct directory *d = g_new0(struct directory, 1);
	d->store = store;
	if (rpc_register(rpc, directory_methods, G_N_ELEMENTS(directory_methods), d) < 0) {
		g_free(d);
		errno = EEXIST;
		return NULL;
	}
	return d;
}

void
portal_directory_destroy(struct directory *d)
{
	if (!d) {
		return;
	}
	for (int i = 0; i < STMT_COUNT; i++) {
		sqlite3_finalize(d->stmts[i]);
	}
	g_free(d);
}
