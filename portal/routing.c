/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/routing.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "tiepdan/log.h"

#define MOD "routing"

/*
 * The rule engine. Plain functions over a connection: the statements are
 * prepared per call (a route costs a handful of indexed lookups on tables of
 * a few dozen rows), so the same code runs on the reader, inside a write job
 * on the writer, and in tiepdan-admin.
 */

const char *const routing_kinds[] = {"complaint", "denunciation", "recommendation", "feedback",
                                     NULL};
const char *const routing_levels[] = {"city", "department", "inspectorate",
                                      "ward", "commune",    NULL};
const char *const routing_resp_types[] = {"agency", "official", "decision", NULL};
const char *const routing_positions[] = {"staff", "leader", NULL};
const char *const routing_targets[] = {"respondent_agency",
                                       "respondent_parent",
                                       "first_resolver_parent",
                                       "city",
                                       "field_department",
                                       "locality",
                                       "outside",
                                       NULL};

bool
routing_in_list(const char *const *list, const char *value)
{
	for (; value && *list; list++) {
		if (strcmp(*list, value) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * One text column of the first row of sql with ?1 bound to arg (when
 * non-NULL): *out is (transfer full) the value, NULL when there is no row or
 * the value is NULL. 0 or -EIO.
 */
static int
lookup(sqlite3 *db, const char *sql, const char *arg, char **out)
{
	sqlite3_stmt *st = NULL;
	*out = NULL;
	int rc = store_stmt_get(db, sql, &st);
	if (rc == SQLITE_OK) {
		if (arg) {
			sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
		}
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			*out = t ? g_strdup((const char *)t) : NULL;
			rc = SQLITE_DONE;
		}
	}
	if (rc != SQLITE_DONE) {
		td_error(MOD, "query failed", "err=\"%s\"", sqlite3_errmsg(db));
	}
	store_stmt_release(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* 1 when a row exists, 0 when not, -EIO. */
static int
exists(sqlite3 *db, const char *sql, const char *arg)
{
	char *v = NULL;
	int err = lookup(db, sql, arg, &v);
	bool found = v != NULL;
	g_free(v);
	return err < 0 ? err : found;
}

static json_t *
text_or_null(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? json_string((const char *)t) : json_null();
}

json_t *
routing_agency_json(sqlite3 *db, const char *agency_id)
{
	sqlite3_stmt *st = NULL;
	json_t *a = NULL;
	if (!agency_id || store_stmt_get(db, "SELECT id, code, name, name_en, level, parent_id "
	                                     "FROM agencies WHERE id = ?1", &st) != SQLITE_OK) {
		return NULL;
	}
	sqlite3_bind_text(st, 1, agency_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		a = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", text_or_null(st, 0), "code",
		              text_or_null(st, 1), "name", text_or_null(st, 2), "name_en",
		              text_or_null(st, 3), "level", text_or_null(st, 4), "parent_id",
		              text_or_null(st, 5));
	}
	store_stmt_release(st);
	return a;
}

/* ---- reading a request from JSON ---- */

static bool
valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_') {
			return false;
		}
	}
	return true;
}

static bool
valid_date(const char *s)
{
	unsigned y, m, d;
	int n = 0;
	if (strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    s[4] != '-' || s[7] != '-') {
		return false;
	}
	for (int i = 0; i < 10; i++) {
		if (i != 4 && i != 7 && !g_ascii_isdigit(s[i])) {
			return false;
		}
	}
	return g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y);
}

/* "/respondent/<key>" with the key escaped as RFC 6901 asks (~ → ~0, / → ~1). */
static char *
respondent_pointer(const char *key)
{
	GString *p = g_string_new("/respondent/");
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

static const char *const respondent_keys[] = {"type",        "agency_id",     "position", "name",
                                              "decision_no", "decision_date", NULL};

/* A string member of the respondent: NULL when absent; *reason set when not a fitting string. */
static const char *
respondent_string(json_t *r, const char *key, size_t max_chars, const char **reason)
{
	json_t *v = json_object_get(r, key);
	if (!v || json_is_null(v)) {
		return NULL;
	}
	if (!json_is_string(v)) {
		*reason = "type";
		return NULL;
	}
	const char *s = json_string_value(v);
	if (memchr(s, '\0', json_string_length(v)) ||
	    !g_utf8_validate(s, (gssize)json_string_length(v), NULL)) {
		*reason = "format";
		return NULL;
	}
	glong chars = g_utf8_strlen(s, -1);
	if (chars == 0) {
		*reason = "empty";
	} else if ((size_t)chars > max_chars) {
		*reason = "too_long";
	}
	return s;
}

/*
 * The respondent object: members known, each of its type and in its value
 * set; the agency must exist. Fills the respondent part of req.
 */
static int
read_respondent(sqlite3 *db, json_t *r, struct routing_request *req, char **pointer,
                const char **reason)
{
	const char *key;
	json_t *v;
	if (!json_is_object(r)) {
		*pointer = g_strdup("/respondent");
		*reason = "type";
		return -EINVAL;
	}
	json_object_foreach(r, key, v)
	{
		if (!routing_in_list(respondent_keys, key)) {
			*pointer = respondent_pointer(key);
			*reason = "unknown";
			return -EINVAL;
		}
	}
	static const struct {
		const char *key;
		size_t max;
	} strings[] = {{"type", 16},  {"agency_id", 64},    {"position", 16},
	               {"name", 200}, {"decision_no", 100}, {"decision_date", 10}};
	const char *val[G_N_ELEMENTS(strings)];
	for (size_t i = 0; i < G_N_ELEMENTS(strings); i++) {
		*reason = NULL;
		val[i] = respondent_string(r, strings[i].key, strings[i].max, reason);
		if (*reason) {
			*pointer = respondent_pointer(strings[i].key);
			return -EINVAL;
		}
	}
	const char *type = val[0], *agency = val[1], *position = val[2], *date = val[5];
	if (!type) {
		*pointer = g_strdup("/respondent/type");
		*reason = "required";
		return -EINVAL;
	}
	if (!routing_in_list(routing_resp_types, type)) {
		*pointer = g_strdup("/respondent/type");
		*reason = "enum";
		return -EINVAL;
	}
	if (position && !routing_in_list(routing_positions, position)) {
		*pointer = g_strdup("/respondent/position");
		*reason = "enum";
		return -EINVAL;
	}
	if (date && !valid_date(date)) {
		*pointer = g_strdup("/respondent/decision_date");
		*reason = "format";
		return -EINVAL;
	}
	if (agency) {
		if (!valid_id(agency)) {
			*pointer = g_strdup("/respondent/agency_id");
			*reason = "format";
			return -EINVAL;
		}
		int found = exists(db, "SELECT 1 FROM agencies WHERE id = ?1", agency);
		if (found < 0) {
			return found;
		}
		if (!found) {
			*pointer = g_strdup("/respondent/agency_id");
			*reason = "unknown";
			return -EINVAL;
		}
	}
	req->respondent_type = type;
	req->respondent_agency_id = agency;
	req->respondent_position = position;
	return 0;
}

/*
 * A required string member of params: NULL with *reason set when it is
 * absent ("required") or not a string ("type").
 */
static const char *
member_string(json_t *params, const char *key, const char **reason)
{
	json_t *v = json_object_get(params, key);
	if (!v || json_is_null(v)) {
		*reason = "required";
		return NULL;
	}
	if (!json_is_string(v)) {
		*reason = "type";
		return NULL;
	}
	return json_string_value(v);
}

int
routing_request_from_json(sqlite3 *db, json_t *params, struct routing_request *req, char **pointer,
                          const char **reason)
{
	int found;
	memset(req, 0, sizeof(*req));
	*pointer = NULL;
	*reason = NULL;

	req->kind = member_string(params, "kind", reason);
	if (!req->kind || !routing_in_list(routing_kinds, req->kind)) {
		*pointer = g_strdup("/kind");
		*reason = *reason ? *reason : "enum";
		return -EINVAL;
	}
	req->field = member_string(params, "field", reason);
	if (!req->field) {
		*pointer = g_strdup("/field");
		return -EINVAL;
	}
	found = exists(db, "SELECT 1 FROM fields WHERE code = ?1", req->field);
	if (found <= 0) {
		*pointer = found < 0 ? NULL : g_strdup("/field");
		*reason = found < 0 ? NULL : "enum";
		return found < 0 ? found : -EINVAL;
	}
	req->locality_code = member_string(params, "locality_code", reason);
	if (!req->locality_code) {
		*pointer = g_strdup("/locality_code");
		return -EINVAL;
	}
	found =
	    exists(db, "SELECT 1 FROM agencies WHERE code = ?1 AND level IN ('ward', 'commune')",
	           req->locality_code);
	if (found <= 0) {
		*pointer = found < 0 ? NULL : g_strdup("/locality_code");
		*reason = found < 0 ? NULL : "unknown";
		return found < 0 ? found : -EINVAL;
	}

	json_t *inst = json_object_get(params, "instance");
	req->instance = 1;
	if (inst && !json_is_null(inst)) {
		if (!json_is_integer(inst)) {
			*reason = "type";
		} else if (json_integer_value(inst) != 1 && json_integer_value(inst) != 2) {
			*reason = "range";
		} else if (json_integer_value(inst) == 2 && strcmp(req->kind, "complaint") != 0) {
			/* Only complaints have a second instance (LKN 33). */
			*reason = "not_applicable";
		}
		if (*reason) {
			*pointer = g_strdup("/instance");
			return -EINVAL;
		}
		req->instance = (int)json_integer_value(inst);
	}

	json_t *resp = json_object_get(params, "respondent");
	if (resp && !json_is_null(resp)) {
		int err = read_respondent(db, resp, req, pointer, reason);
		if (err < 0) {
			return err;
		}
	}

	/*
	 * Competence depends on whom the petition is about: a complaint always
	 * names the agency whose decision or act it contests (LKN 8), and a
	 * denunciation of an official names the official's agency (LTC 23).
	 */
	bool is_complaint = strcmp(req->kind, "complaint") == 0;
	bool official_denounced = strcmp(req->kind, "denunciation") == 0 && req->respondent_type &&
	                          strcmp(req->respondent_type, "official") == 0;
	if (is_complaint && !req->respondent_type) {
		*pointer = g_strdup("/respondent");
		*reason = "required";
		return -EINVAL;
	}
	if ((is_complaint || official_denounced) && !req->respondent_agency_id) {
		*pointer = g_strdup("/respondent/agency_id");
		*reason = "required";
		return -EINVAL;
	}
	return 0;
}

/* ---- the engine ---- */

void
routing_route_finish(struct routing_route *r)
{
	if (!r) {
		return;
	}
	g_free(r->rule_id);
	g_free(r->rule_code);
	g_free(r->target);
	g_free(r->agency_id);
	json_decref(r->agency);
	json_decref(r->explanation);
	memset(r, 0, sizeof(*r));
}

/* The facts the match columns are compared with. */
struct facts {
	const char *kind;
	int instance;
	const char *respondent_type; /* "none" when there is no respondent */
	char *respondent_level;
	char *respondent_parent_id;
	char *respondent_parent_level;
	char *first_resolver_id;
	char *first_resolver_level;
};

static void
facts_clear(struct facts *f)
{
	g_free(f->respondent_level);
	g_free(f->respondent_parent_id);
	g_free(f->respondent_parent_level);
	g_free(f->first_resolver_id);
	g_free(f->first_resolver_level);
}

/* Match columns in the order of the SELECT below (columns 3 to 9). */
static const char *const match_columns[] = {
    "kind",
    "instance",
    "respondent_type",
    "respondent_level",
    "respondent_parent_level",
    "respondent_position",
    "first_resolver_level",
};

#define RULES_SQL                                                                                  \
	"SELECT id, code, target, kind, instance, respondent_type, respondent_level, "             \
	"respondent_parent_level, respondent_position, first_resolver_level, text_vi, text_en, "   \
	"legal_basis FROM routing_rules WHERE enabled = 1 "                                        \
	"AND (kind IS NULL OR kind = ?1) "                                                         \
	"AND (instance IS NULL OR instance = ?2) "                                                 \
	"AND (respondent_type IS NULL OR respondent_type = ?3) "                                   \
	"AND (respondent_level IS NULL OR respondent_level = ?4) "                                 \
	"AND (respondent_parent_level IS NULL OR respondent_parent_level = ?5) "                   \
	"AND (respondent_position IS NULL OR respondent_position = ?6) "                           \
	"AND (first_resolver_level IS NULL OR first_resolver_level = ?7) "                         \
	"ORDER BY priority, code"

/*
 * The agency a target designates for these facts: 0 with *agency_id set
 * (transfer full), or NULL when the target does not resolve; for "outside",
 * 0 with *agency_id NULL and *resolved true. -EIO on a database error.
 */
static int
resolve(sqlite3 *db, const char *target, const struct routing_request *req, const struct facts *f,
        char **agency_id, bool *resolved)
{
	int err = 0;
	*agency_id = NULL;
	*resolved = false;
	if (strcmp(target, "outside") == 0) {
		*resolved = true;
		return 0;
	} else if (strcmp(target, "respondent_agency") == 0) {
		*agency_id = g_strdup(f->respondent_level ? req->respondent_agency_id : NULL);
	} else if (strcmp(target, "respondent_parent") == 0) {
		*agency_id = g_strdup(f->respondent_parent_id);
	} else if (strcmp(target, "first_resolver_parent") == 0) {
		if (f->first_resolver_id) {
			err = lookup(db, "SELECT parent_id FROM agencies WHERE id = ?1",
			             f->first_resolver_id, agency_id);
		}
	} else if (strcmp(target, "city") == 0) {
		err = lookup(db, "SELECT id FROM agencies WHERE level = 'city'", NULL, agency_id);
	} else if (strcmp(target, "field_department") == 0) {
		if (req->field) {
			err = lookup(
			    db,
			    "SELECT f.managing_agency_id FROM fields f "
			    "JOIN agencies a ON a.id = f.managing_agency_id WHERE f.code = ?1",
			    req->field, agency_id);
		}
	} else if (strcmp(target, "locality") == 0) {
		if (req->locality_code) {
			err = lookup(db,
			             "SELECT id FROM agencies WHERE code = ?1 "
			             "AND level IN ('ward', 'commune')",
			             req->locality_code, agency_id);
		}
	}
	*resolved = err == 0 && *agency_id != NULL;
	return err;
}

/* text with every "{agency}" replaced by name (transfer full). */
static char *
fill_text(const char *text, const char *name)
{
	GString *s = g_string_new(text);
	g_string_replace(s, "{agency}", name ? name : "", 0);
	return g_string_free(s, FALSE);
}

/* {column: fact} for every match column the rule sets (columns 3..9 of the row). */
static json_t *
matched_facts(sqlite3_stmt *st, const struct routing_request *req, const struct facts *f)
{
	json_t *m = json_object();
	for (size_t i = 0; i < G_N_ELEMENTS(match_columns); i++) {
		int col = 3 + (int)i;
		if (sqlite3_column_type(st, col) == SQLITE_NULL) {
			continue;
		}
		if (i == 1) {
			json_object_set_new(m, "instance", json_integer(f->instance));
			continue;
		}
		const char *v = (const char *)sqlite3_column_text(st, col); /* equal to the fact */
		json_object_set_new(m, match_columns[i], json_string(v));
	}
	if (req->respondent_agency_id && (json_object_get(m, "respondent_level") ||
	                                  json_object_get(m, "respondent_parent_level"))) {
		json_object_set_new(m, "respondent_agency_id",
		                    json_string(req->respondent_agency_id));
	}
	if (f->first_resolver_id && json_object_get(m, "first_resolver_level")) {
		json_object_set_new(m, "first_resolver_id", json_string(f->first_resolver_id));
	}
	return m;
}

/* Fills *out from the matching row st and the resolved agency (transfer full, nullable). */
static void
build_route(sqlite3 *db, sqlite3_stmt *st, const struct routing_request *req, const struct facts *f,
            char *agency_id, struct routing_route *out)
{
	const char *text_vi = (const char *)sqlite3_column_text(st, 10);
	const char *text_en = (const char *)sqlite3_column_text(st, 11);
	out->rule_id = g_strdup((const char *)sqlite3_column_text(st, 0));
	out->rule_code = g_strdup((const char *)sqlite3_column_text(st, 1));
	out->target = g_strdup((const char *)sqlite3_column_text(st, 2));
	out->agency_id = agency_id;
	out->agency = routing_agency_json(db, agency_id);
	const char *name = json_string_value(json_object_get(out->agency, "name"));
	const char *name_en = json_string_value(json_object_get(out->agency, "name_en"));
	char *vi = fill_text(text_vi, name);
	char *en = fill_text(text_en, name_en ? name_en : name);
	out->explanation =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "rule", out->rule_code, "text_vi", vi,
	              "text_en", en, "legal_basis", (const char *)sqlite3_column_text(st, 12),
	              "target", out->target, "matched", matched_facts(st, req, f));
	g_free(vi);
	g_free(en);
}

static int
route_with_facts(sqlite3 *db, const struct routing_request *req, const struct facts *f,
                 struct routing_route *out)
{
	sqlite3_stmt *st = NULL;
	int rc = store_stmt_get(db, RULES_SQL, &st);
	int err = -ENOENT;
	if (rc != SQLITE_OK) {
		td_error(MOD, "prepare failed", "err=\"%s\"", sqlite3_errmsg(db));
		return -EIO;
	}
	sqlite3_bind_text(st, 1, f->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, f->instance);
	sqlite3_bind_text(st, 3, f->respondent_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, f->respondent_level, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->respondent_parent_level, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, req->respondent_position, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, f->first_resolver_level, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *agency_id = NULL;
		bool resolved = false;
		if (resolve(db, (const char *)sqlite3_column_text(st, 2), req, f, &agency_id,
		            &resolved) < 0) {
			err = -EIO;
			break;
		}
		if (resolved) {
			build_route(db, st, req, f, agency_id, out);
			err = 0;
			break;
		}
		td_debug(MOD, "rule passed over: target does not resolve", "rule=%s",
		         (const char *)sqlite3_column_text(st, 1));
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		td_error(MOD, "rules query failed", "err=\"%s\"", sqlite3_errmsg(db));
		err = -EIO;
	}
	store_stmt_release(st);
	return err;
}

int
routing_route(sqlite3 *db, const struct routing_request *req, struct routing_route *out)
{
	struct facts f = {0};
	int err = 0;
	memset(out, 0, sizeof(*out));
	if (!req->kind || !routing_in_list(routing_kinds, req->kind)) {
		return -EINVAL;
	}
	f.kind = req->kind;
	f.instance = req->instance == 2 ? 2 : 1;
	f.respondent_type = req->respondent_type ? req->respondent_type : "none";
	if (req->respondent_agency_id) {
		if ((err = lookup(db, "SELECT level FROM agencies WHERE id = ?1",
		                  req->respondent_agency_id, &f.respondent_level)) < 0 ||
		    (err = lookup(db, "SELECT parent_id FROM agencies WHERE id = ?1",
		                  req->respondent_agency_id, &f.respondent_parent_id)) < 0 ||
		    (f.respondent_parent_id &&
		     (err = lookup(db, "SELECT level FROM agencies WHERE id = ?1",
		                   f.respondent_parent_id, &f.respondent_parent_level)) < 0)) {
			goto out;
		}
	}
	if (f.instance == 2) {
		if (req->first_resolver_id) {
			f.first_resolver_id = g_strdup(req->first_resolver_id);
		} else {
			/* The first resolver is whom the rules give at instance 1. */
			struct routing_request first = *req;
			first.instance = 1;
			if ((err = routing_route(db, &first, out)) < 0) {
				goto out;
			}
			if (!out->agency_id) {
				goto out; /* outside the portal at instance 1: so is the appeal */
			}
			f.first_resolver_id = g_strdup(out->agency_id);
			routing_route_finish(out);
		}
		if ((err = lookup(db, "SELECT level FROM agencies WHERE id = ?1",
		                  f.first_resolver_id, &f.first_resolver_level)) < 0) {
			goto out;
		}
	}
	err = route_with_facts(db, req, &f, out);
out:
	if (err < 0) {
		routing_route_finish(out);
	}
	facts_clear(&f);
	return err;
}

bool
routing_is_competent(sqlite3 *db, const struct routing_request *req, const char *agency_id,
                     json_t **explanation)
{
	struct routing_route r;
	if (explanation) {
		*explanation = NULL;
	}
	if (routing_route(db, req, &r) < 0) {
		return false;
	}
	bool competent = agency_id && r.agency_id && strcmp(agency_id, r.agency_id) == 0;
	if (explanation) {
		json_object_set_new(r.explanation, "agency_id",
		                    r.agency_id ? json_string(r.agency_id) : json_null());
		*explanation = r.explanation;
		r.explanation = NULL;
	}
	routing_route_finish(&r);
	return competent;
}
