/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "portal.h"
#include "tiepdan/log.h"
#include "tiepdan/routing.h"

#define MOD "routing"

/*
 * The routing methods (docs/routing.md): directory.route for anyone, and the
 * admin methods that edit the data the rules run on (agencies, the fields'
 * managing departments, the rules themselves).
 *
 * Reads run on the store's reader. Every change is one store_write() job:
 * the checks that depend on the database (a code taken, a parent that would
 * make a cycle, a second city) run inside the job, where they are
 * authoritative, and the answer goes out after the COMMIT. Each change
 * writes one audit_log row in the same transaction.
 */

struct routing_methods {
	struct store *store;
};

static const char *const rule_resp_types[] = {"agency", "official", "decision", "none", NULL};
static const char *const instance_values[] = {NULL}; /* integers: checked apart */

static const struct {
	const char *column;
	const char *const *values;
} match_columns[] = {
    {"kind", routing_kinds},
    {"instance", instance_values},
    {"respondent_type", rule_resp_types},
    {"respondent_level", routing_levels},
    {"respondent_parent_level", routing_levels},
    {"respondent_position", routing_positions},
    {"first_resolver_level", routing_levels},
};

/* ---- small helpers ---- */

static const char *
str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* prefix + key escaped as a JSON pointer token (RFC 6901). */
static char *
pointer_join(const char *prefix, const char *key)
{
	GString *p = g_string_new(prefix);
	g_string_append_c(p, '/');
	for (const char *c = key; *c; c++) {
		if (*c == '~') {
			g_string_append(p, "~0");
		} else if (*c == '/') {
			g_string_append(p, "~1");
		} else {
			g_string_append_c(p, *c);
		}
	}
	return g_string_free(p, FALSE);
}

/*
 * Binds args (a JSON array: strings, integers, booleans as 0/1, null) to
 * ?1..?n of sql and runs it to the end. 0 or store_errno()'s code.
 */
static int
exec_json(sqlite3 *db, const char *sql, json_t *args /* transfer full */)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		size_t i;
		json_t *v;
		json_array_foreach(args, i, v)
		{
			int idx = (int)i + 1;
			if (json_is_string(v)) {
				sqlite3_bind_text(st, idx, json_string_value(v), -1, SQLITE_STATIC);
			} else if (json_is_integer(v)) {
				sqlite3_bind_int64(st, idx, json_integer_value(v));
			} else if (json_is_boolean(v)) {
				sqlite3_bind_int(st, idx, json_is_true(v));
			} else {
				sqlite3_bind_null(st, idx);
			}
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		}
	}
	if (rc != SQLITE_DONE) {
		td_debug(MOD, "statement failed", "err=\"%s\"", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	json_decref(args);
	return store_errno(rc);
}

/* 1 when sql (?1, ?2 bound to the non-NULL arguments) returns a row, 0 when not, -EIO. */
static int
has_row(sqlite3 *db, const char *sql, const char *a1, const char *a2)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		if (a1) {
			sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC);
		}
		if (a2) {
			sqlite3_bind_text(st, 2, a2, -1, SQLITE_STATIC);
		}
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW) {
		return 1;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* ---- the rule object ---- */

#define RULE_COLUMNS                                                                               \
	"id, code, priority, kind, instance, respondent_type, respondent_level, "                  \
	"respondent_parent_level, respondent_position, first_resolver_level, target, text_vi, "    \
	"text_en, legal_basis, enabled, updated_at"

static json_t *
column_json(sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_NULL:
		return json_null();
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, col));
	default:
		return json_string((const char *)sqlite3_column_text(st, col));
	}
}

/* {id, code, priority, match: {…}, target, text_vi, text_en, legal_basis, enabled, updated_at} */
static json_t *
rule_from_row(sqlite3_stmt *st)
{
	json_t *match = json_object();
	for (size_t i = 0; i < G_N_ELEMENTS(match_columns); i++) {
		json_object_set_new(match, match_columns[i].column, column_json(st, 3 + (int)i));
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "id",
	                 column_json(st, 0), "code", column_json(st, 1), "priority",
	                 column_json(st, 2), "match", match, "target", column_json(st, 10),
	                 "text_vi", column_json(st, 11), "text_en", column_json(st, 12),
	                 "legal_basis", column_json(st, 13), "enabled",
	                 sqlite3_column_int(st, 14) != 0, "updated_at", column_json(st, 15));
}

/* (transfer full, nullable) The rule with this id. */
static json_t *
rule_json(sqlite3 *db, const char *id)
{
	sqlite3_stmt *st = NULL;
	json_t *r = NULL;
	if (sqlite3_prepare_v2(db, "SELECT " RULE_COLUMNS " FROM routing_rules WHERE id = ?1", -1,
	                       &st, NULL) != SQLITE_OK) {
		return NULL;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r = rule_from_row(st);
	}
	sqlite3_finalize(st);
	return r;
}

/* Writes rule (the object above, id taken from it) as a new row or over its row. */
static int
rule_store(sqlite3 *db, json_t *rule, bool insert)
{
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	json_t *match = json_object_get(rule, "match");
	json_t *args = json_pack("[O, O, O]", json_object_get(rule, "id"),
	                         json_object_get(rule, "code"), json_object_get(rule, "priority"));
	for (size_t i = 0; i < G_N_ELEMENTS(match_columns); i++) {
		json_t *v = json_object_get(match, match_columns[i].column);
		json_array_append(args, v ? v : json_null());
	}
	json_array_append(args, json_object_get(rule, "target"));
	json_array_append(args, json_object_get(rule, "text_vi"));
	json_array_append(args, json_object_get(rule, "text_en"));
	json_array_append(args, json_object_get(rule, "legal_basis"));
	json_array_append(args, json_object_get(rule, "enabled"));
	json_array_append_new(args, json_string(now));
	return exec_json(db,
	                 insert
	                     ? "INSERT INTO routing_rules (" RULE_COLUMNS ") VALUES (?1, ?2, ?3, "
	                       "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
	                     : "UPDATE routing_rules SET code = ?2, priority = ?3, kind = ?4, "
	                       "instance = ?5, respondent_type = ?6, respondent_level = ?7, "
	                       "respondent_parent_level = ?8, respondent_position = ?9, "
	                       "first_resolver_level = ?10, target = ?11, text_vi = ?12, "
	                       "text_en = ?13, legal_basis = ?14, enabled = ?15, updated_at = ?16 "
	                       "WHERE id = ?1",
	                 args);
}

/* {code, name, name_en, managing_agency_id} of a field, or NULL. */
static json_t *
field_json(sqlite3 *db, const char *code)
{
	sqlite3_stmt *st = NULL;
	json_t *f = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT code, name, name_en, managing_agency_id FROM fields "
	                       "WHERE code = ?1",
	                       -1, &st, NULL) != SQLITE_OK) {
		return NULL;
	}
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		f = json_pack("{s:o, s:o, s:o, s:o}", "code", column_json(st, 0), "name",
		              column_json(st, 1), "name_en", column_json(st, 2),
		              "managing_agency_id", column_json(st, 3));
	}
	sqlite3_finalize(st);
	return f;
}

/* ---- write jobs ---- */

struct op;
typedef int (*op_fn)(sqlite3 *db, struct op *op);

struct op {
	struct rpc_call *call;
	op_fn fn;
	json_t *params; /* a copy of the validated (and normalised) params */
	char *actor_id;
	char peer[64];
	/* Set by fn: a refusal (code != 0) or the result. */
	int code;
	const char *field;
	const char *reason;
	const char *message;
	json_t *result;
	const char *log_what; /* for the log line after the commit */
	char *log_id;
};

static void
op_free(struct op *op)
{
	json_decref(op->params);
	json_decref(op->result);
	g_free(op->actor_id);
	g_free(op->log_id);
	g_free(op);
}

/* Records a refusal; the job then rolls back its savepoint. */
static int
refuse(struct op *op, int code, const char *field, const char *reason, const char *message)
{
	op->code = code;
	op->field = field;
	op->reason = reason;
	op->message = message;
	return -ECANCELED;
}

/* One append-only audit_log row in the job's transaction. */
static int
audit(sqlite3 *db, const struct op *op, const char *action, json_t *detail /* transfer full */)
{
	char now[STORE_TIME_SIZE];
	char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(detail);
	store_time_now(now);
	int err = exec_json(db,
	                    "INSERT INTO audit_log (at, action, user_id, actor_id, client_addr, "
	                    "detail) VALUES (?1, ?2, NULL, ?3, ?4, ?5)",
	                    json_pack("[s, s, s?, s?, s?]", now, action, op->actor_id,
	                              *op->peer ? op->peer : NULL, d));
	free(d);
	return err;
}

static int
op_txn(sqlite3 *db, void *data)
{
	struct op *op = data;
	int err = op->fn(db, op);
	if (err < 0) {
		json_decref(op->result);
		op->result = NULL;
	}
	return err;
}

static void
op_done(int status, void *data)
{
	struct op *op = data;
	if (status == 0 && op->result) {
		td_info(MOD, op->log_what, "id=%s actor=%s", op->log_id ? op->log_id : "-",
		        op->actor_id);
		rpc_call_reply(op->call, op->result);
		op->result = NULL;
	} else if (op->code == TD_ERR_INVALID_PARAMS) {
		rpc_call_invalid(op->call, op->field, op->reason);
	} else if (op->code) {
		json_t *d = op->reason
		                ? json_pack("{s:s?, s:s}", "field", op->field, "reason", op->reason)
		                : NULL;
		if (d && !op->field) {
			json_object_del(d, "field");
		}
		rpc_call_error(op->call, op->code, op->message, d);
	} else {
		td_error(MOD, "change not stored", "method=%s err=%d", rpc_call_method(op->call),
		         status);
		rpc_call_error(op->call, TD_ERR_INTERNAL, NULL, NULL);
	}
	op_free(op);
}

/* Queues fn as a write job over a copy of params; answers the call itself on failure. */
static void
op_start(struct routing_methods *m, struct rpc_call *call, json_t *params, op_fn fn,
         const char *log_what)
{
	struct op *op = g_new0(struct op, 1);
	const struct rpc_identity *who = rpc_call_identity(call);
	op->call = call;
	op->fn = fn;
	op->params = json_deep_copy(params);
	op->actor_id = g_strdup(who ? who->user_id : NULL);
	op->log_what = log_what;
	g_strlcpy(op->peer, rpc_call_peer(call), sizeof(op->peer));
	int r = store_write(m->store, op_txn, op_done, op);
	if (r < 0) {
		rpc_call_error(call, r == -EAGAIN ? TD_ERR_RATE_LIMITED : TD_ERR_INTERNAL, NULL,
		               r == -EAGAIN ? json_pack("{s:i}", "retry_after_s", 1) : NULL);
		op_free(op);
	}
}

/* ---- input checks before the job ---- */

/*
 * Replaces a text member of params by its NFC form without surrounding
 * space; answers -32602 and returns false when nothing is left.
 */
static bool
normalise_text(struct rpc_call *call, json_t *params, const char *key)
{
	const char *v = str(params, key);
	if (!v) {
		return true;
	}
	char *n = g_utf8_normalize(v, -1, G_NORMALIZE_NFC);
	if (!n || !*g_strstrip(n)) {
		char *ptr = pointer_join("", key);
		rpc_call_invalid(call, ptr, "empty");
		g_free(ptr);
		g_free(n);
		return false;
	}
	json_object_set_new(params, key, json_string(n));
	g_free(n);
	return true;
}

/* Agency codes: upper-case letters, digits and dashes (the agencies.code CHECK). */
static bool
valid_agency_code(const char *s)
{
	if (!*s || *s == '-') {
		return false;
	}
	for (; *s; s++) {
		if (!g_ascii_isupper(*s) && !g_ascii_isdigit(*s) && *s != '-') {
			return false;
		}
	}
	return true;
}

/* Rule codes: dot-separated words of lower-case letters, digits and underscores. */
static bool
valid_rule_code(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..")) {
		return false;
	}
	for (; *s; s++) {
		if (!g_ascii_islower(*s) && !g_ascii_isdigit(*s) && *s != '_' && *s != '.') {
			return false;
		}
	}
	return true;
}

/* The match object of admin.rule.create/update: known columns, values of their sets or null. */
static bool
check_match(struct rpc_call *call, json_t *match)
{
	const char *key;
	json_t *v;
	json_object_foreach(match, key, v)
	{
		const char *reason = NULL;
		size_t i;
		for (i = 0; i < G_N_ELEMENTS(match_columns); i++) {
			if (strcmp(match_columns[i].column, key) == 0) {
				break;
			}
		}
		if (i == G_N_ELEMENTS(match_columns)) {
			reason = "unknown";
		} else if (json_is_null(v)) {
			continue;
		} else if (strcmp(key, "instance") == 0) {
			if (!json_is_integer(v)) {
				reason = "type";
			} else if (json_integer_value(v) != 1 && json_integer_value(v) != 2) {
				reason = "range";
			}
		} else if (!json_is_string(v)) {
			reason = "type";
		} else if (!routing_in_list(match_columns[i].values, json_string_value(v))) {
			reason = "enum";
		}
		if (reason) {
			char *ptr = pointer_join("/match", key);
			rpc_call_invalid(call, ptr, reason);
			g_free(ptr);
			return false;
		}
	}
	return true;
}

/* ---- directory.route ---- */

static void
directory_route(struct rpc_call *call, json_t *params, void *data)
{
	struct routing_methods *m = data;
	sqlite3 *db = store_reader(m->store);
	struct routing_request req;
	struct routing_route route;
	char *pointer = NULL;
	const char *reason = NULL;

	int err = routing_request_from_json(db, params, &req, &pointer, &reason);
	if (err == -EINVAL) {
		rpc_call_invalid(call, pointer, reason);
		g_free(pointer);
		return;
	} else if (err < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		return;
	}
	err = routing_route(db, &req, &route);
	if (err == -ENOENT) {
		rpc_call_error(call, TD_ERR_CONFLICT, "no enabled routing rule applies",
		               json_pack("{s:s}", "reason", "no_rule"));
		return;
	} else if (err < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		return;
	}
	json_t *agency = route.agency ? route.agency : json_null();
	rpc_call_reply(call, json_pack("{s:o, s:s, s:o}", "agency", agency, "rule", route.rule_code,
	                               "explanation", route.explanation));
	route.agency = NULL;
	route.explanation = NULL;
	routing_route_finish(&route);
}

/* ---- admin.agency.* ---- */

static int
agency_create_fn(sqlite3 *db, struct op *op)
{
	json_t *p = op->params;
	const char *code = str(p, "code"), *level = str(p, "level"), *parent = str(p, "parent_id");
	char id[23], now[STORE_TIME_SIZE];
	int found, err;

	if ((found = has_row(db, "SELECT 1 FROM agencies WHERE code = ?1", code, NULL)) != 0) {
		return found < 0 ? found
		                 : refuse(op, TD_ERR_CONFLICT, "/code", "already_exists",
		                          "an agency with this code exists");
	}
	if (strcmp(level, "city") == 0) {
		if (parent) {
			return refuse(op, TD_ERR_INVALID_PARAMS, "/parent_id", "not_applicable",
			              NULL);
		}
		found = has_row(db, "SELECT 1 FROM agencies WHERE level = 'city'", NULL, NULL);
		if (found != 0) {
			return found < 0 ? found
			                 : refuse(op, TD_ERR_CONFLICT, "/level", "second_city",
			                          "the portal serves exactly one city");
		}
	} else if (!parent) {
		return refuse(op, TD_ERR_INVALID_PARAMS, "/parent_id", "required", NULL);
	} else if ((found = has_row(db, "SELECT 1 FROM agencies WHERE id = ?1", parent, NULL)) <=
	           0) {
		return found < 0 ? found
		                 : refuse(op, TD_ERR_INVALID_PARAMS, "/parent_id", "unknown", NULL);
	}
	store_new_id(id);
	store_time_now(now);
	err = exec_json(db,
	                "INSERT INTO agencies (id, code, name, name_en, level, parent_id, "
	                "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                json_pack("[s, s, s, s?, s, s?, s]", id, code, str(p, "name"),
	                          str(p, "name_en"), level, parent, now));
	if (err < 0) {
		return err;
	}
	json_t *agency = routing_agency_json(db, id);
	if (!agency) {
		return -EIO;
	}
	err = audit(db, op, "agency_create", json_pack("{s:O}", "agency", agency));
	op->result = json_pack("{s:o}", "agency", agency);
	op->log_id = g_strdup(id);
	return err;
}

static void
admin_agency_create(struct rpc_call *call, json_t *params, void *data)
{
	if (!valid_agency_code(str(params, "code"))) {
		rpc_call_invalid(call, "/code", "format");
		return;
	}
	if (!normalise_text(call, params, "name") || !normalise_text(call, params, "name_en")) {
		return;
	}
	op_start(data, call, params, agency_create_fn, "agency created");
}

/*
 * A move must keep the tree a tree: the city stays the root, and an agency
 * never goes under itself or one of its descendants (the trigger
 * agencies_no_cycle holds the same line in the schema). The level may change
 * between the non-city levels only, so there is always exactly one city.
 */
static int
agency_update_fn(sqlite3 *db, struct op *op)
{
	json_t *p = op->params;
	const char *id = str(p, "agency_id"), *parent = str(p, "parent_id"),
	           *level = str(p, "level");
	int found, err;

	json_t *before = routing_agency_json(db, id);
	if (!before) {
		return refuse(op, TD_ERR_NOT_FOUND, NULL, NULL, NULL);
	}
	bool is_city = strcmp(str(before, "level"), "city") == 0;
	if (level && strcmp(level, str(before, "level")) != 0) {
		if (is_city) {
			err = refuse(op, TD_ERR_CONFLICT, "/level", "city_level",
			             "the city's level cannot change");
			goto out;
		}
		if (strcmp(level, "city") == 0) {
			err = refuse(op, TD_ERR_CONFLICT, "/level", "second_city",
			             "the portal serves exactly one city");
			goto out;
		}
	}
	if (parent) {
		if (is_city) {
			err = refuse(op, TD_ERR_CONFLICT, "/parent_id", "city_is_root",
			             "the city has no parent");
			goto out;
		}
		found = has_row(db, "SELECT 1 FROM agencies WHERE id = ?1", parent, NULL);
		if (found <= 0) {
			err = found < 0 ? found
			                : refuse(op, TD_ERR_INVALID_PARAMS, "/parent_id", "unknown",
			                         NULL);
			goto out;
		}
		found = has_row(db,
		                "WITH RECURSIVE up(id) AS (SELECT ?1 UNION SELECT a.parent_id "
		                "FROM agencies a JOIN up ON a.id = up.id WHERE a.parent_id IS NOT "
		                "NULL) SELECT 1 FROM up WHERE id = ?2",
		                parent, id);
		if (found != 0) {
			err = found < 0
			          ? found
			          : refuse(op, TD_ERR_CONFLICT, "/parent_id", "cycle",
			                   "the new parent is the agency itself or one of its "
			                   "descendants");
			goto out;
		}
	}
	err = exec_json(
	    db,
	    "UPDATE agencies SET name = coalesce(?2, name), name_en = coalesce(?3, "
	    "name_en), level = coalesce(?4, level), parent_id = coalesce(?5, parent_id) "
	    "WHERE id = ?1",
	    json_pack("[s, s?, s?, s?, s?]", id, str(p, "name"), str(p, "name_en"), level, parent));
	if (err < 0) {
		goto out;
	}
	json_t *after = routing_agency_json(db, id);
	if (!after) {
		err = -EIO;
		goto out;
	}
	if (!json_equal(before, after)) {
		err = audit(db, op, "agency_update",
		            json_pack("{s:s, s:O, s:O}", "agency_id", id, "before", before, "after",
		                      after));
	}
	op->result = json_pack("{s:o}", "agency", after);
	op->log_id = g_strdup(id);
out:
	json_decref(before);
	return err;
}

static void
admin_agency_update(struct rpc_call *call, json_t *params, void *data)
{
	if (!normalise_text(call, params, "name") || !normalise_text(call, params, "name_en")) {
		return;
	}
	op_start(data, call, params, agency_update_fn, "agency updated");
}

/* ---- admin.field.update ---- */

static int
field_update_fn(sqlite3 *db, struct op *op)
{
	json_t *p = op->params;
	const char *code = str(p, "field"), *agency = str(p, "managing_agency_id");
	int err;

	json_t *before = field_json(db, code);
	if (!before) {
		return refuse(op, TD_ERR_INVALID_PARAMS, "/field", "enum", NULL);
	}
	json_t *a = routing_agency_json(db, agency);
	const char *level = a ? str(a, "level") : NULL;
	if (!a || strcmp(level, "ward") == 0 || strcmp(level, "commune") == 0) {
		/* A field is managed city-wide: by a department (or the city itself). */
		err = refuse(op, TD_ERR_INVALID_PARAMS, "/managing_agency_id",
		             a ? "level" : "unknown", NULL);
		json_decref(a);
		goto out;
	}
	json_decref(a);
	err =
	    exec_json(db,
	              "UPDATE fields SET managing_agency_id = ?2, name = coalesce(?3, name), "
	              "name_en = coalesce(?4, name_en) WHERE code = ?1",
	              json_pack("[s, s, s?, s?]", code, agency, str(p, "name"), str(p, "name_en")));
	if (err < 0) {
		goto out;
	}
	json_t *after = field_json(db, code);
	if (!after) {
		err = -EIO;
		goto out;
	}
	if (!json_equal(before, after)) {
		err = audit(
		    db, op, "field_update",
		    json_pack("{s:s, s:O, s:O}", "field", code, "before", before, "after", after));
	}
	op->result = json_pack("{s:o}", "field", after);
	op->log_id = g_strdup(code);
out:
	json_decref(before);
	return err;
}

static void
admin_field_update(struct rpc_call *call, json_t *params, void *data)
{
	if (!normalise_text(call, params, "name") || !normalise_text(call, params, "name_en")) {
		return;
	}
	op_start(data, call, params, field_update_fn, "field updated");
}

/* ---- admin.rule.* ---- */

static void
admin_rule_list(struct rpc_call *call, json_t *params, void *data)
{
	struct routing_methods *m = data;
	sqlite3 *db = store_reader(m->store);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT " RULE_COLUMNS " FROM routing_rules "
	                            "ORDER BY priority, code",
	                            -1, &st, NULL);
	json_t *items = json_array();
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(items, rule_from_row(st));
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		td_error(MOD, "query failed", "method=admin.rule.list err=\"%s\"",
		         sqlite3_errmsg(db));
		json_decref(items);
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		return;
	}
	rpc_call_reply(call, json_pack("{s:o}", "items", items));
}

/* The members of params that are rule columns, copied over rule. */
static void
rule_apply(json_t *rule, json_t *params)
{
	static const char *const keys[] = {"code",    "priority",    "target", "text_vi",
	                                   "text_en", "legal_basis", "enabled"};
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		json_t *v = json_object_get(params, keys[i]);
		if (v) {
			json_object_set(rule, keys[i], v);
		}
	}
	json_t *match = json_object_get(params, "match");
	if (match) {
		json_object_update(json_object_get(rule, "match"), match);
	}
}

/* -32009 when another rule holds code. */
static int
check_code_free(sqlite3 *db, struct op *op, const char *code, const char *id)
{
	if (!code) {
		return 0;
	}
	int found =
	    has_row(db, "SELECT 1 FROM routing_rules WHERE code = ?1 AND id IS NOT ?2", code, id);
	if (found != 0) {
		return found < 0 ? found
		                 : refuse(op, TD_ERR_CONFLICT, "/code", "already_exists",
		                          "a rule with this code exists");
	}
	return 0;
}

static int
rule_create_fn(sqlite3 *db, struct op *op)
{
	char id[23];
	int err = check_code_free(db, op, str(op->params, "code"), NULL);
	if (err < 0) {
		return err;
	}
	store_new_id(id);
	json_t *match = json_object();
	for (size_t i = 0; i < G_N_ELEMENTS(match_columns); i++) {
		json_object_set_new(match, match_columns[i].column, json_null());
	}
	json_t *rule = json_pack("{s:s, s:o, s:b}", "id", id, "match", match, "enabled", 1);
	rule_apply(rule, op->params);
	err = rule_store(db, rule, true);
	json_decref(rule);
	if (err < 0) {
		return err;
	}
	json_t *after = rule_json(db, id);
	if (!after) {
		return -EIO;
	}
	err = audit(db, op, "rule_create", json_pack("{s:O}", "rule", after));
	op->result = json_pack("{s:o}", "rule", after);
	op->log_id = g_strdup(id);
	return err;
}

static int
rule_update_fn(sqlite3 *db, struct op *op)
{
	const char *id = str(op->params, "rule_id");
	json_t *before = rule_json(db, id);
	int err = 0;
	if (!before) {
		return refuse(op, TD_ERR_NOT_FOUND, NULL, NULL, NULL);
	}
	if ((err = check_code_free(db, op, str(op->params, "code"), id)) < 0) {
		goto out;
	}
	json_t *next = json_deep_copy(before);
	rule_apply(next, op->params);
	if (!json_equal(before, next)) {
		err = rule_store(db, next, false);
	}
	json_decref(next);
	if (err < 0) {
		goto out;
	}
	json_t *after = rule_json(db, id);
	if (!after) {
		err = -EIO;
		goto out;
	}
	if (!json_equal(before, after)) {
		err = audit(
		    db, op, "rule_update",
		    json_pack("{s:s, s:O, s:O}", "rule_id", id, "before", before, "after", after));
	}
	op->result = json_pack("{s:o}", "rule", after);
	op->log_id = g_strdup(id);
out:
	json_decref(before);
	return err;
}

static int
rule_disable_fn(sqlite3 *db, struct op *op)
{
	const char *id = str(op->params, "rule_id");
	char now[STORE_TIME_SIZE];
	int err = 0;
	json_t *before = rule_json(db, id);
	if (!before) {
		return refuse(op, TD_ERR_NOT_FOUND, NULL, NULL, NULL);
	}
	if (json_is_true(json_object_get(before, "enabled"))) {
		store_time_now(now);
		err = exec_json(
		    db, "UPDATE routing_rules SET enabled = 0, updated_at = ?2 WHERE id = ?1",
		    json_pack("[s, s]", id, now));
		if (err == 0) {
			err = audit(db, op, "rule_disable",
			            json_pack("{s:s, s:O}", "rule_id", id, "code",
			                      json_object_get(before, "code")));
		}
	}
	json_decref(before);
	if (err < 0) {
		return err;
	}
	json_t *after = rule_json(db, id);
	if (!after) {
		return -EIO;
	}
	op->result = json_pack("{s:o}", "rule", after);
	op->log_id = g_strdup(id);
	return 0;
}

/* Checks shared by admin.rule.create and admin.rule.update. */
static bool
check_rule_params(struct rpc_call *call, json_t *params)
{
	const char *code = str(params, "code");
	if (code && !valid_rule_code(code)) {
		rpc_call_invalid(call, "/code", "format");
		return false;
	}
	json_t *match = json_object_get(params, "match");
	if (match && !check_match(call, match)) {
		return false;
	}
	return normalise_text(call, params, "text_vi") && normalise_text(call, params, "text_en") &&
	       normalise_text(call, params, "legal_basis");
}

static void
admin_rule_create(struct rpc_call *call, json_t *params, void *data)
{
	if (check_rule_params(call, params)) {
		op_start(data, call, params, rule_create_fn, "routing rule created");
	}
}

static void
admin_rule_update(struct rpc_call *call, json_t *params, void *data)
{
	if (check_rule_params(call, params)) {
		op_start(data, call, params, rule_update_fn, "routing rule updated");
	}
}

static void
admin_rule_disable(struct rpc_call *call, json_t *params, void *data)
{
	op_start(data, call, params, rule_disable_fn, "routing rule disabled");
}

/* ---- the table ---- */

#define LEVELS_ENUM "[\"city\",\"department\",\"inspectorate\",\"ward\",\"commune\"]"
#define AGENCY_SCHEMA                                                                              \
	"{\"type\":\"object\",\"required\":[\"id\",\"code\",\"name\",\"level\",\"parent_id\"],"    \
	"\"properties\":{\"id\":{\"type\":\"string\"},\"code\":{\"type\":\"string\"},"             \
	"\"name\":{\"type\":\"string\"},\"name_en\":{\"type\":[\"string\",\"null\"]},"             \
	"\"level\":{\"enum\":" LEVELS_ENUM "},\"parent_id\":{\"type\":[\"string\",\"null\"]}}}"
#define EXPLANATION_SCHEMA                                                                         \
	"{\"type\":\"object\",\"required\":[\"rule\",\"text_vi\",\"text_en\",\"legal_basis\","     \
	"\"target\",\"matched\"],\"properties\":{\"rule\":{\"type\":\"string\"},\"text_vi\":"      \
	"{\"type\":\"string\"},\"text_en\":{\"type\":\"string\"},\"legal_basis\":{\"type\":"       \
	"\"string\"},\"target\":{\"type\":\"string\"},\"matched\":{\"type\":\"object\"}}}"
#define MATCH_SCHEMA                                                                               \
	"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"                     \
	"\"kind\":{\"enum\":[\"complaint\",\"denunciation\",\"recommendation\",\"feedback\","      \
	"null]},\"instance\":{\"enum\":[1,2,null]},\"respondent_type\":{\"enum\":[\"agency\","     \
	"\"official\",\"decision\",\"none\",null]},\"respondent_level\":{\"enum\":[\"city\","      \
	"\"department\",\"inspectorate\",\"ward\",\"commune\",null]},"                             \
	"\"respondent_parent_level\":{\"enum\":[\"city\",\"department\",\"inspectorate\","         \
	"\"ward\",\"commune\",null]},\"respondent_position\":{\"enum\":[\"staff\",\"leader\","     \
	"null]},\"first_resolver_level\":{\"enum\":[\"city\",\"department\",\"inspectorate\","     \
	"\"ward\",\"commune\",null]}}}"
#define RULE_SCHEMA                                                                                \
	"{\"type\":\"object\",\"required\":[\"id\",\"code\",\"priority\",\"match\",\"target\","    \
	"\"text_vi\",\"text_en\",\"legal_basis\",\"enabled\",\"updated_at\"],\"properties\":{"     \
	"\"id\":{\"type\":\"string\"},\"code\":{\"type\":\"string\"},\"priority\":{\"type\":"      \
	"\"integer\"},\"match\":" MATCH_SCHEMA ",\"target\":{\"type\":\"string\"},\"text_vi\":"    \
	"{\"type\":\"string\"},\"text_en\":{\"type\":\"string\"},\"legal_basis\":{\"type\":"       \
	"\"string\"},\"enabled\":{\"type\":\"boolean\"},\"updated_at\":{\"type\":\"string\"}}}"
#define FIELD_SCHEMA                                                                               \
	"{\"type\":\"object\",\"required\":[\"code\",\"name\",\"name_en\","                        \
	"\"managing_agency_id\"],\"properties\":{\"code\":{\"type\":\"string\"},\"name\":"         \
	"{\"type\":\"string\"},\"name_en\":{\"type\":\"string\"},\"managing_agency_id\":"          \
	"{\"type\":[\"string\",\"null\"]}}}"

static const struct rpc_param route_params[] = {
    {.name = "kind",
     .type = RPC_T_ENUM,
     .required = true,
     .enum_values = routing_kinds,
     .description = "the petition's kind"},
    {.name = "field",
     .type = RPC_T_STRING,
     .required = true,
     .min = 1,
     .max = 64,
     .description = "a field code of directory.fields; another value is -32602 enum"},
    {.name = "locality_code",
     .type = RPC_T_STRING,
     .required = true,
     .min = 1,
     .max = 64,
     .description = "the code of the ward or commune where the matter arose"},
    {.name = "respondent",
     .type = RPC_T_OBJECT,
     .description = "whom the petition is about; required for a complaint, and its agency_id "
                    "for a complaint or a denunciation of an official",
     .schema = "{\"type\":\"object\",\"required\":[\"type\"],\"additionalProperties\":false,"
               "\"properties\":{\"type\":{\"enum\":[\"agency\",\"official\",\"decision\"]},"
               "\"agency_id\":{\"type\":\"string\"},\"position\":{\"enum\":[\"staff\","
               "\"leader\"]},\"name\":{\"type\":\"string\",\"maxLength\":200},"
               "\"decision_no\":{\"type\":\"string\",\"maxLength\":100},\"decision_date\":"
               "{\"type\":\"string\",\"format\":\"date\"}}}"},
    {.name = "instance",
     .type = RPC_T_INTEGER,
     .min = 1,
     .max = 2,
     .description = "1 (default) or 2: a second-instance complaint, routed to the direct "
                    "superior of the agency the rules give at instance 1"},
    {0},
};

static const struct rpc_param agency_create_params[] = {
    {.name = "code",
     .type = RPC_T_STRING,
     .required = true,
     .min = 1,
     .max = 32,
     .description = "unique; upper-case letters, digits and dashes"},
    {.name = "name", .type = RPC_T_STRING, .required = true, .min = 1, .max = 200},
    {.name = "name_en", .type = RPC_T_STRING, .min = 1, .max = 200},
    {.name = "level", .type = RPC_T_ENUM, .required = true, .enum_values = routing_levels},
    {.name = "parent_id",
     .type = RPC_T_ID,
     .description = "required for every level but city (a second city is -32009)"},
    {0},
};

static const struct rpc_param agency_update_params[] = {
    {.name = "agency_id", .type = RPC_T_ID, .required = true},
    {.name = "name", .type = RPC_T_STRING, .min = 1, .max = 200},
    {.name = "name_en", .type = RPC_T_STRING, .min = 1, .max = 200},
    {.name = "level",
     .type = RPC_T_ENUM,
     .enum_values = routing_levels,
     .description = "between the non-city levels only"},
    {.name = "parent_id",
     .type = RPC_T_ID,
     .description = "moves the agency; a cycle or moving the city is -32009"},
    {0},
};

static const struct rpc_param field_update_params[] = {
    {.name = "field",
     .type = RPC_T_STRING,
     .required = true,
     .min = 1,
     .max = 64,
     .description = "the field code"},
    {.name = "managing_agency_id",
     .type = RPC_T_ID,
     .required = true,
     .description = "the department (or the city) that manages the field"},
    {.name = "name", .type = RPC_T_STRING, .min = 1, .max = 200},
    {.name = "name_en", .type = RPC_T_STRING, .min = 1, .max = 200},
    {0},
};

#define RULE_BODY_PARAMS(req)                                                                      \
	{.name = "code",                                                                           \
	 .type = RPC_T_STRING,                                                                     \
	 .required = req,                                                                          \
	 .min = 1,                                                                                 \
	 .max = 64,                                                                                \
	 .description = "stable name, e.g. complaint.ward: lower-case words separated by dots"},   \
	    {.name = "priority",                                                                   \
	     .type = RPC_T_INTEGER,                                                                \
	     .required = req,                                                                      \
	     .min = 0,                                                                             \
	     .max = 1000000,                                                                       \
	     .description = "lower first"},                                                        \
	    {.name = "match",                                                                      \
	     .type = RPC_T_OBJECT,                                                                 \
	     .schema = MATCH_SCHEMA,                                                               \
	     .description = "match columns; absent or null means any"},                            \
	    {.name = "target",                                                                     \
	     .type = RPC_T_ENUM,                                                                   \
	     .required = req,                                                                      \
	     .enum_values = routing_targets},                                                      \
	    {.name = "text_vi",                                                                    \
	     .type = RPC_T_STRING,                                                                 \
	     .required = req,                                                                      \
	     .min = 1,                                                                             \
	     .max = 1000,                                                                          \
	     .description =                                                                        \
	         "explanation in Vietnamese; {agency} is replaced by the agency's name"},          \
	    {.name = "text_en", .type = RPC_T_STRING, .required = req, .min = 1, .max = 1000},     \
	    {.name = "legal_basis", .type = RPC_T_STRING, .required = req, .min = 1, .max = 200},  \
	{                                                                                          \
		.name = "enabled", .type = RPC_T_BOOLEAN                                           \
	}

static const struct rpc_param rule_create_params[] = {
    RULE_BODY_PARAMS(true),
    {0},
};

static const struct rpc_param rule_update_params[] = {
    {.name = "rule_id", .type = RPC_T_ID, .required = true},
    RULE_BODY_PARAMS(false),
    {0},
};

static const struct rpc_param rule_id_params[] = {
    {.name = "rule_id", .type = RPC_T_ID, .required = true},
    {0},
};

static const struct rpc_method routing_method_table[] = {
    {.name = "directory.route",
     .handler = directory_route,
     .who = RPC_ANYONE,
     .summary = "Which agency is competent for a petition, and which rule says so.",
     .params = route_params,
     .result_schema =
         "{\"type\":\"object\",\"required\":[\"agency\",\"rule\",\"explanation\"],"
         "\"properties\":{\"agency\":{\"oneOf\":[" AGENCY_SCHEMA ",{\"type\":"
         "\"null\"}]},\"rule\":{\"type\":\"string\"},\"explanation\":" EXPLANATION_SCHEMA "}}"},
    {.name = "admin.agency.create",
     .handler = admin_agency_create,
     .who = RPC_ADMIN,
     .summary = "Adds an agency to the directory.",
     .params = agency_create_params,
     .result_schema = "{\"type\":\"object\",\"required\":[\"agency\"],\"properties\":"
                      "{\"agency\":" AGENCY_SCHEMA "}}"},
    {.name = "admin.agency.update",
     .handler = admin_agency_update,
     .who = RPC_ADMIN,
     .summary = "Renames, re-levels or moves an agency.",
     .params = agency_update_params,
     .result_schema = "{\"type\":\"object\",\"required\":[\"agency\"],\"properties\":"
                      "{\"agency\":" AGENCY_SCHEMA "}}"},
    {.name = "admin.field.update",
     .handler = admin_field_update,
     .who = RPC_ADMIN,
     .summary = "Sets the department that manages a field (and its names).",
     .params = field_update_params,
     .result_schema = "{\"type\":\"object\",\"required\":[\"field\"],\"properties\":"
                      "{\"field\":" FIELD_SCHEMA "}}"},
    {.name = "admin.rule.list",
     .handler = admin_rule_list,
     .who = RPC_ADMIN | RPC_INSPECTOR,
     .summary = "Every routing rule, enabled or not, in the order the engine tries them.",
     .result_schema = "{\"type\":\"object\",\"required\":[\"items\"],\"properties\":"
                      "{\"items\":{\"type\":\"array\",\"items\":" RULE_SCHEMA "}}}"},
    {.name = "admin.rule.create",
     .handler = admin_rule_create,
     .who = RPC_ADMIN,
     .summary = "Adds a routing rule.",
     .params = rule_create_params,
     .result_schema = "{\"type\":\"object\",\"required\":[\"rule\"],\"properties\":"
                      "{\"rule\":" RULE_SCHEMA "}}"},
    {.name = "admin.rule.update",
     .handler = admin_rule_update,
     .who = RPC_ADMIN,
     .summary = "Changes columns of a routing rule (match members given replace, null = any).",
     .params = rule_update_params,
     .result_schema = "{\"type\":\"object\",\"required\":[\"rule\"],\"properties\":"
                      "{\"rule\":" RULE_SCHEMA "}}"},
    {.name = "admin.rule.disable",
     .handler = admin_rule_disable,
     .who = RPC_ADMIN,
     .summary = "Disables a routing rule (admin.rule.update enabled=true turns it back on).",
     .params = rule_id_params,
     .result_schema = "{\"type\":\"object\",\"required\":[\"rule\"],\"properties\":"
                      "{\"rule\":" RULE_SCHEMA "}}"},
};

struct routing_methods *
portal_routing_create(struct rpc *rpc, struct store *store)
{
	struct routing_methods *m = g_new0(struct routing_methods, 1);
	m->store = store;
	if (rpc_register(rpc, routing_method_table, G_N_ELEMENTS(routing_method_table), m) < 0) {
		g_free(m);
		errno = EEXIST;
		return NULL;
	}
	return m;
}

void
portal_routing_destroy(struct routing_methods *m)
{
	g_free(m);
}
