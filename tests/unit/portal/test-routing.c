/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The routing engine (portal/routing.c) over the seeded rules of migration 3
 * and the demo city: a table of petitions with the competent agency written
 * by hand from DOMAIN.md §4, the request reader's refusals, the competence
 * predicate, and the engine's behaviour when the data changes (a unit under
 * a department, a disabled rule, a field without a managing department).
 */
#include "tiepdan/demo.h"
#include "tiepdan/routing.h"
#include "tiepdan/store.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

#define OUTSIDE "outside"

/* The demo city, loaded once (hashing the demo passwords is the slow part). */
static char *shared_dir;
static struct store *shared;

static void
rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	if (d) {
		const char *name;
		while ((name = g_dir_read_name(d))) {
			char *child = g_build_filename(path, name, NULL);
			rm_rf(child);
			g_free(child);
		}
		g_dir_close(d);
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}

static struct store *
demo_store(char **dir)
{
	GError *error = NULL;
	struct store_options o;
	*dir = g_dir_make_tmp("tiepdan-routing-XXXXXX", &error);
	g_assert_no_error(error);
	store_options_init(&o);
	o.async = false;
	o.sync_full = false;
	struct store *s = store_open(*dir, &o);
	g_assert_nonnull(s);
	g_assert_cmpint(demo_load(s, NULL), ==, 0);
	return s;
}

static void
drop_store(struct store *s, char *dir)
{
	store_destroy(s);
	rm_rf(dir);
	g_free(dir);
}

/* (transfer none) The id of the agency with this code; fails the test when there is none. */
static const char *
id_of(sqlite3 *db, const char *code)
{
	static GHashTable *cache;
	if (!cache) {
		cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	}
	char *key = g_strdup_printf("%p/%s", (void *)db, code);
	const char *hit = g_hash_table_lookup(cache, key);
	if (hit) {
		g_free(key);
		return hit;
	}
	sqlite3_stmt *st = NULL;
	g_assert_cmpint(
	    sqlite3_prepare_v2(db, "SELECT id FROM agencies WHERE code = ?1", -1, &st, NULL), ==,
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
	char *id = g_strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	g_hash_table_insert(cache, key, id);
	return id;
}

static char *
code_of(sqlite3 *db, const char *id)
{
	sqlite3_stmt *st = NULL;
	char *code = NULL;
	g_assert_cmpint(
	    sqlite3_prepare_v2(db, "SELECT code FROM agencies WHERE id = ?1", -1, &st, NULL), ==,
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		code = g_strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return code;
}

static int
exec_sql(sqlite3 *db, void *data)
{
	return sqlite3_exec(db, data, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EINVAL;
}

/* Runs sql in its own transaction on the writer; 0 or -EINVAL. */
static int
write_sql(struct store *s, const char *sql)
{
	return store_write_sync(s, exec_sql, (void *)sql);
}

/* ---- the table ---- */

struct row {
	const char *kind;
	const char *field;
	const char *locality;
	const char *resp_type;   /* NULL: no respondent */
	const char *resp_agency; /* a code */
	const char *position;
	int instance;
	const char *want;      /* an agency code, or OUTSIDE */
	const char *want_rule; /* the rule's code */
};

/* Hand-written from DOMAIN.md §4 and the demo city's field → department table. */
static const struct row rows[] = {
    /* Complaints, first instance: the agency complained about, the city for the city. */
    {"complaint", "land", "DN-P-TRANBIEN", "decision", "DN-P-TRANBIEN", NULL, 1, "DN-P-TRANBIEN",
     "complaint.ward"},
    {"complaint", "land", "DN-P-BIENHOA", "official", "DN-P-TRANBIEN", "staff", 1, "DN-P-TRANBIEN",
     "complaint.ward"},
    {"complaint", "land", "DN-P-TRANBIEN", "official", "DN-P-TRANBIEN", "leader", 1,
     "DN-P-TRANBIEN", "complaint.ward"},
    {"complaint", "environment", "DN-X-NHONTRACH", "agency", "DN-X-NHONTRACH", NULL, 1,
     "DN-X-NHONTRACH", "complaint.commune"},
    {"complaint", "environment", "DN-P-TRANBIEN", "decision", "DN-SNNMT", NULL, 1, "DN-SNNMT",
     "complaint.department"},
    {"complaint", "labour_policy", "DN-P-HONAI", "official", "DN-SNV", "staff", 1, "DN-SNV",
     "complaint.department"},
    {"complaint", "administration", "DN-P-HONAI", "official", "DN-TTTP", "leader", 1, "DN-TTTP",
     "complaint.inspectorate"},
    {"complaint", "land", "DN-P-TRANBIEN", "decision", "DN", NULL, 1, "DN", "complaint.city"},
    {"complaint", "land", "DN-X-XUANLOC", "official", "DN", "leader", 1, "DN", "complaint.city"},
    /* Complaints, second instance: the direct superior of the first resolver. */
    {"complaint", "land", "DN-P-TRANBIEN", "decision", "DN-P-TRANBIEN", NULL, 2, "DN",
     "complaint.appeal"},
    {"complaint", "land", "DN-X-XUANLOC", "agency", "DN-X-XUANLOC", NULL, 2, "DN",
     "complaint.appeal"},
    {"complaint", "environment", "DN-P-TRANBIEN", "decision", "DN-SNNMT", NULL, 2, "DN",
     "complaint.appeal"},
    {"complaint", "land", "DN-P-TRANBIEN", "decision", "DN", NULL, 2, OUTSIDE,
     "complaint.appeal_from_city"},
    /* Denunciations of an official: the official's agency; its leaders go up. */
    {"denunciation", "administration", "DN-P-TRANBIEN", "official", "DN-P-TRANBIEN", "staff", 1,
     "DN-P-TRANBIEN", "denunciation.official"},
    {"denunciation", "land", "DN-P-TRANBIEN", "official", "DN-P-TRANBIEN", NULL, 1, "DN-P-TRANBIEN",
     "denunciation.official"},
    {"denunciation", "land", "DN-P-TRANBIEN", "official", "DN-P-TRANBIEN", "leader", 1, "DN",
     "denunciation.ward_leader"},
    {"denunciation", "land", "DN-X-LONGTHANH", "official", "DN-X-LONGTHANH", "leader", 1, "DN",
     "denunciation.commune_leader"},
    {"denunciation", "environment", "DN-P-TRANBIEN", "official", "DN-SNNMT", "leader", 1, "DN",
     "denunciation.department_leader"},
    {"denunciation", "administration", "DN-P-TRANBIEN", "official", "DN-TTTP", "leader", 1, "DN",
     "denunciation.inspectorate_leader"},
    {"denunciation", "land", "DN-P-TRANBIEN", "official", "DN", "leader", 1, OUTSIDE,
     "denunciation.city_leader"},
    {"denunciation", "land", "DN-P-TRANBIEN", "official", "DN", "staff", 1, "DN",
     "denunciation.official"},
    {"denunciation", "social_policy", "DN-P-TRANBIEN", "official", "DN-SYT", "staff", 1, "DN-SYT",
     "denunciation.official"},
    /* Denunciations of a violation in state management: the field's department. */
    {"denunciation", "land", "DN-P-TRANBIEN", "agency", "DN-P-TRANBIEN", NULL, 1, "DN-SNNMT",
     "denunciation.state_management"},
    {"denunciation", "religion", "DN-P-BINHLOC", NULL, NULL, NULL, 1, "DN-SDTTG",
     "denunciation.state_management"},
    {"denunciation", "justice", "DN-P-TRANBIEN", "decision", "DN-STP", NULL, 1, "DN-STP",
     "denunciation.state_management"},
    {"denunciation", "ethnicity", "DN-P-HONAI", "decision", "DN-P-HONAI", NULL, 1, "DN-SDTTG",
     "denunciation.state_management"},
    {"denunciation", "labour_policy", "DN-P-HONAI", "agency", NULL, NULL, 1, "DN-SNV",
     "denunciation.state_management"},
    /* Recommendations and feedback: the locality, or the field's department for a policy. */
    {"recommendation", "environment", "DN-P-LONGBINH", NULL, NULL, NULL, 1, "DN-P-LONGBINH",
     "recommendation.local"},
    {"feedback", "environment", "DN-X-PHUOCAN", NULL, NULL, NULL, 1, "DN-X-PHUOCAN",
     "feedback.local"},
    {"feedback", "land", "DN-P-TRANBIEN", "agency", "DN-P-BIENHOA", NULL, 1, "DN-P-TRANBIEN",
     "feedback.local"},
    {"recommendation", "other", "DN-X-DAIPHUOC", NULL, NULL, NULL, 1, "DN-X-DAIPHUOC",
     "recommendation.local"},
    {"recommendation", "social_policy", "DN-P-TAMHIEP", "agency", "DN-SYT", NULL, 1, "DN-SYT",
     "recommendation.policy_department"},
    {"recommendation", "labour_policy", "DN-P-TAMHIEP", "decision", "DN", NULL, 1, "DN-SNV",
     "recommendation.policy_city"},
    {"feedback", "administration", "DN-P-TRANGDAI", "agency", "DN-TTTP", NULL, 1, "DN-SNV",
     "feedback.policy_inspectorate"},
    {"feedback", "other", "DN-P-TRANGDAI", "agency", "DN-VPUB", NULL, 1, "DN-VPUB",
     "feedback.policy_department"},
    {"feedback", "social_policy", "DN-P-LONGKHANH", "official", "DN-SYT", "staff", 1, "DN-SYT",
     "feedback.policy_department"},
};

static void
fill_request(sqlite3 *db, const struct row *r, struct routing_request *req)
{
	memset(req, 0, sizeof(*req));
	req->kind = r->kind;
	req->field = r->field;
	req->locality_code = r->locality;
	req->instance = r->instance;
	req->respondent_type = r->resp_type;
	req->respondent_agency_id = r->resp_agency ? id_of(db, r->resp_agency) : NULL;
	req->respondent_position = r->position;
}

static void
assert_text(json_t *expl, const char *key)
{
	const char *t = json_string_value(json_object_get(expl, key));
	g_assert_nonnull(t);
	g_assert_cmpuint(strlen(t), >, 20);
	g_assert_null(strstr(t, "{agency}"));
}

static void
test_table(void)
{
	sqlite3 *db = store_reader(shared);
	g_assert_cmpuint(G_N_ELEMENTS(rows), >=, 25);
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		const struct row *r = &rows[i];
		struct routing_request req;
		struct routing_route route;
		fill_request(db, r, &req);
		g_test_message("row %zu: %s %s %s/%s/%s instance %d", i, r->kind, r->field,
		               r->resp_type ? r->resp_type : "none",
		               r->resp_agency ? r->resp_agency : "-",
		               r->position ? r->position : "-", r->instance);
		g_assert_cmpint(routing_route(db, &req, &route), ==, 0);
		char *got = route.agency_id ? code_of(db, route.agency_id) : g_strdup(OUTSIDE);
		g_assert_cmpstr(got, ==, r->want);
		g_assert_cmpstr(route.rule_code, ==, r->want_rule);
		g_free(got);

		json_t *e = route.explanation;
		g_assert_cmpstr(json_string_value(json_object_get(e, "rule")), ==, r->want_rule);
		g_assert_cmpstr(json_string_value(json_object_get(e, "target")), ==, route.target);
		assert_text(e, "text_vi");
		assert_text(e, "text_en");
		g_assert_nonnull(json_string_value(json_object_get(e, "legal_basis")));
		json_t *m = json_object_get(e, "matched");
		g_assert_true(json_is_object(m));
		g_assert_cmpstr(json_string_value(json_object_get(m, "kind")), ==, r->kind);
		if (route.agency_id) {
			/* The explanation names the agency. */
			const char *name = json_string_value(json_object_get(route.agency, "name"));
			g_assert_nonnull(
			    strstr(json_string_value(json_object_get(e, "text_vi")), name));
		} else {
			g_assert_null(route.agency);
			g_assert_cmpstr(route.target, ==, "outside");
		}
		routing_route_finish(&route);
	}
}

/* The first resolver can be given (case.appeal knows who decided): its parent settles. */
static void
test_first_resolver(void)
{
	sqlite3 *db = store_reader(shared);
	struct routing_request req = {
	    .kind = "complaint",
	    .field = "land",
	    .locality_code = "DN-P-TRANBIEN",
	    .instance = 2,
	    .respondent_type = "decision",
	    .respondent_agency_id = id_of(db, "DN-P-TRANBIEN"),
	    .first_resolver_id = id_of(db, "DN"),
	};
	struct routing_route route;
	g_assert_cmpint(routing_route(db, &req, &route), ==, 0);
	g_assert_cmpstr(route.rule_code, ==, "complaint.appeal_from_city");
	g_assert_null(route.agency_id);
	json_t *m = json_object_get(route.explanation, "matched");
	g_assert_cmpstr(json_string_value(json_object_get(m, "first_resolver_level")), ==, "city");
	g_assert_cmpint(json_integer_value(json_object_get(m, "instance")), ==, 2);
	routing_route_finish(&route);

	req.first_resolver_id = id_of(db, "DN-SNNMT");
	g_assert_cmpint(routing_route(db, &req, &route), ==, 0);
	g_assert_cmpstr(route.agency_id, ==, id_of(db, "DN"));
	routing_route_finish(&route);
}

static void
test_competent(void)
{
	sqlite3 *db = store_reader(shared);
	struct routing_request req = {
	    .kind = "denunciation",
	    .field = "land",
	    .locality_code = "DN-P-TRANBIEN",
	    .instance = 1,
	    .respondent_type = "official",
	    .respondent_agency_id = id_of(db, "DN-P-TRANBIEN"),
	    .respondent_position = "leader",
	};
	json_t *e = NULL;
	g_assert_true(routing_is_competent(db, &req, id_of(db, "DN"), &e));
	g_assert_cmpstr(json_string_value(json_object_get(e, "agency_id")), ==, id_of(db, "DN"));
	json_decref(e);
	g_assert_false(routing_is_competent(db, &req, id_of(db, "DN-P-TRANBIEN"), &e));
	g_assert_cmpstr(json_string_value(json_object_get(e, "rule")), ==,
	                "denunciation.ward_leader");
	g_assert_cmpstr(json_string_value(json_object_get(e, "agency_id")), ==, id_of(db, "DN"));
	json_decref(e);
	g_assert_false(routing_is_competent(db, &req, NULL, NULL));

	/* Outside the portal: nobody here is competent. */
	req.respondent_agency_id = id_of(db, "DN");
	g_assert_false(routing_is_competent(db, &req, id_of(db, "DN"), &e));
	g_assert_true(json_is_null(json_object_get(e, "agency_id")));
	json_decref(e);

	/* A feedback belongs to the locality, not to the ward the citizen names. */
	struct routing_request fb = {.kind = "feedback",
	                             .field = "environment",
	                             .locality_code = "DN-P-HONAI",
	                             .instance = 1};
	g_assert_true(routing_is_competent(db, &fb, id_of(db, "DN-P-HONAI"), NULL));
	g_assert_false(routing_is_competent(db, &fb, id_of(db, "DN-SNNMT"), NULL));
	g_assert_false(routing_is_competent(db, &fb, "no-such-agency", NULL));
}

/* ---- reading requests ---- */

struct bad {
	const char *json;
	const char *pointer;
	const char *reason;
};

static void
test_from_json(void)
{
	sqlite3 *db = store_reader(shared);
	char *tranbien = g_strdup(id_of(db, "DN-P-TRANBIEN"));
	char *ok_text = g_strdup_printf(
	    "{\"kind\":\"complaint\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	    "\"respondent\":{\"type\":\"decision\",\"agency_id\":\"%s\",\"decision_no\":"
	    "\"12/QĐ-UBND\",\"decision_date\":\"2026-03-02\",\"name\":\"UBND phường\"},"
	    "\"title\":\"ignored here\"}",
	    tranbien);
	json_t *ok = json_loads(ok_text, 0, NULL);
	g_assert_nonnull(ok);
	struct routing_request req;
	char *pointer = NULL;
	const char *reason = NULL;
	g_assert_cmpint(routing_request_from_json(db, ok, &req, &pointer, &reason), ==, 0);
	g_assert_cmpstr(req.kind, ==, "complaint");
	g_assert_cmpint(req.instance, ==, 1);
	g_assert_cmpstr(req.respondent_type, ==, "decision");
	g_assert_cmpstr(req.respondent_agency_id, ==, tranbien);
	g_assert_null(req.respondent_position);
	g_assert_null(pointer);
	json_decref(ok);
	g_free(ok_text);

	const struct bad bad[] = {
	    {"{}", "/kind", "required"},
	    {"{\"kind\":\"petition\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\"}",
	     "/kind", "enum"},
	    {"{\"kind\":\"feedback\",\"field\":\"weather\",\"locality_code\":\"DN-P-TRANBIEN\"}",
	     "/field", "enum"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\"}", "/locality_code", "required"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-SNNMT\"}",
	     "/locality_code", "unknown"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN\"}",
	     "/locality_code", "unknown"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"XX-P-NOWHERE\"}",
	     "/locality_code", "unknown"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"instance\":2}",
	     "/instance", "not_applicable"},
	    {"{\"kind\":\"complaint\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"instance\":3}",
	     "/instance", "range"},
	    {"{\"kind\":\"complaint\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\"}",
	     "/respondent", "required"},
	    {"{\"kind\":\"complaint\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"decision\"}}",
	     "/respondent/agency_id", "required"},
	    {"{\"kind\":\"denunciation\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"official\",\"position\":\"staff\"}}",
	     "/respondent/agency_id", "required"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"agency\",\"agency_id\":\"nosuchagency\"}}",
	     "/respondent/agency_id", "unknown"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"agency\",\"agency_id\":\"bad id!\"}}",
	     "/respondent/agency_id", "format"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":\"the ward\"}",
	     "/respondent", "type"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"person\"}}",
	     "/respondent/type", "enum"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"name\":\"X\"}}",
	     "/respondent/type", "required"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"agency\",\"a/b~c\":1}}",
	     "/respondent/a~1b~0c", "unknown"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"decision\",\"decision_date\":\"2026-02-30\"}}",
	     "/respondent/decision_date", "format"},
	    {"{\"kind\":\"feedback\",\"field\":\"land\",\"locality_code\":\"DN-P-TRANBIEN\","
	     "\"respondent\":{\"type\":\"decision\",\"decision_no\":7}}",
	     "/respondent/decision_no", "type"},
	    {NULL, "/respondent/position", "enum"},
	    {NULL, "/respondent/name", "empty"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *text;
		if (bad[i].json) {
			text = g_strdup(bad[i].json);
		} else {
			/* A complaint about an official of the ward, one member wrong. */
			bool enum_case = strcmp(bad[i].reason, "enum") == 0;
			text = g_strdup_printf(
			    "{\"kind\":\"complaint\",\"field\":\"land\",\"locality_code\":"
			    "\"DN-P-TRANBIEN\",\"respondent\":{\"type\":\"official\",\"agency_id\":"
			    "\"%s\",%s}}",
			    tranbien, enum_case ? "\"position\":\"chief\"" : "\"name\":\"\"");
		}
		json_error_t err;
		json_t *j = json_loads(text, 0, &err);
		g_assert_nonnull(j);
		g_test_message("bad %zu: %s", i, text);
		g_assert_cmpint(routing_request_from_json(db, j, &req, &pointer, &reason), ==,
		                -EINVAL);
		g_assert_cmpstr(pointer, ==, bad[i].pointer);
		g_assert_cmpstr(reason, ==, bad[i].reason);
		g_free(pointer);
		json_decref(j);
		g_free(text);
	}
	g_free(tranbien);
}

/* ---- the seeded rules themselves ---- */

static void
test_seeded_rules(void)
{
	sqlite3 *db = store_reader(shared);
	sqlite3_stmt *st = NULL;
	g_assert_cmpint(sqlite3_prepare_v2(db,
	                                   "SELECT code, target, text_vi, text_en, legal_basis, "
	                                   "enabled FROM routing_rules ORDER BY priority, code",
	                                   -1, &st, NULL),
	                ==, SQLITE_OK);
	unsigned n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		n++;
		g_assert_true(
		    routing_in_list(routing_targets, (const char *)sqlite3_column_text(st, 1)));
		for (int c = 2; c <= 4; c++) {
			const char *t = (const char *)sqlite3_column_text(st, c);
			g_assert_true(g_utf8_validate(t, -1, NULL));
			g_assert_cmpuint(strlen(t), >, 5);
		}
		g_assert_cmpint(sqlite3_column_int(st, 5), ==, 1);
	}
	sqlite3_finalize(st);
	g_assert_cmpuint(n, >=, 25);
}

/* ---- when the data changes ---- */

static void
route_code(struct store *s, const struct routing_request *req, const char *want_code,
           const char *want_rule)
{
	sqlite3 *db = store_reader(s);
	struct routing_route route;
	g_assert_cmpint(routing_route(db, req, &route), ==, 0);
	char *got = route.agency_id ? code_of(db, route.agency_id) : g_strdup(OUTSIDE);
	g_assert_cmpstr(got, ==, want_code);
	g_assert_cmpstr(route.rule_code, ==, want_rule);
	g_free(got);
	routing_route_finish(&route);
}

static void
test_data_changes(void)
{
	char *dir;
	struct store *s = demo_store(&dir);
	sqlite3 *db = store_reader(s);

	/* A unit under a department: complaints go to the department (DOMAIN.md §4). */
	g_assert_cmpint(write_sql(s,
	                          "INSERT INTO agencies (id, code, name, level, parent_id, "
	                          "created_at) SELECT 'unit1', 'DN-SNNMT-CCBVMT', 'Chi cục Bảo "
	                          "vệ môi trường', 'department', id, '2026-01-01T00:00:00+07:00' "
	                          "FROM agencies WHERE code = 'DN-SNNMT'"),
	                ==, 0);
	struct routing_request req = {.kind = "complaint",
	                              .field = "environment",
	                              .locality_code = "DN-P-TRANBIEN",
	                              .instance = 1,
	                              .respondent_type = "decision",
	                              .respondent_agency_id = "unit1"};
	route_code(s, &req, "DN-SNNMT", "complaint.department_unit");
	req.instance = 2;
	route_code(s, &req, "DN", "complaint.appeal");
	req.kind = "denunciation";
	req.instance = 1;
	req.respondent_type = "official";
	req.respondent_position = "leader";
	route_code(s, &req, "DN-SNNMT", "denunciation.unit_leader");
	req.respondent_position = "staff";
	route_code(s, &req, "DN-SNNMT-CCBVMT", "denunciation.official");

	/* A disabled rule is passed over. */
	struct routing_request fb = {.kind = "feedback",
	                             .field = "environment",
	                             .locality_code = "DN-P-HONAI",
	                             .instance = 1};
	route_code(s, &fb, "DN-P-HONAI", "feedback.local");
	g_assert_cmpint(write_sql(s, "UPDATE routing_rules SET enabled = 0 "
	                             "WHERE code = 'feedback.local'"),
	                ==, 0);
	route_code(s, &fb, "DN", "fallback.city");

	/* A field without a managing department: the rule does not resolve, the next one answers.
	 */
	struct routing_request den = {.kind = "denunciation",
	                              .field = "religion",
	                              .locality_code = "DN-P-HONAI",
	                              .instance = 1};
	route_code(s, &den, "DN-SDTTG", "denunciation.state_management");
	g_assert_cmpint(write_sql(s, "UPDATE fields SET managing_agency_id = NULL "
	                             "WHERE code = 'religion'"),
	                ==, 0);
	route_code(s, &den, "DN", "fallback.city");

	/* A changed target changes the route. */
	g_assert_cmpint(write_sql(s, "UPDATE routing_rules SET target = 'outside' "
	                             "WHERE code = 'fallback.city'"),
	                ==, 0);
	route_code(s, &den, OUTSIDE, "fallback.city");

	/* Nothing enabled: -ENOENT, and nobody is competent. */
	g_assert_cmpint(write_sql(s, "UPDATE routing_rules SET enabled = 0"), ==, 0);
	struct routing_route route;
	g_assert_cmpint(routing_route(db, &den, &route), ==, -ENOENT);
	g_assert_null(route.rule_code);
	json_t *e = json_true(); /* a sentinel: must come back NULL */
	g_assert_false(routing_is_competent(db, &den, id_of(db, "DN"), &e));
	g_assert_null(e);

	/* The schema keeps the agency tree a tree. */
	g_assert_cmpint(write_sql(s, "UPDATE agencies SET parent_id = 'unit1' "
	                             "WHERE code = 'DN-SNNMT'"),
	                ==, -EINVAL);
	g_assert_cmpint(write_sql(s, "UPDATE agencies SET parent_id = id WHERE code = 'DN-SNV'"),
	                ==, -EINVAL);
	g_assert_cmpint(write_sql(s, "UPDATE agencies SET parent_id = (SELECT id FROM agencies "
	                             "WHERE code = 'DN-P-BIENHOA') WHERE code = 'DN-P-TRANBIEN'"),
	                ==, 0);
	g_assert_cmpint(write_sql(s, "UPDATE agencies SET parent_id = (SELECT id FROM agencies "
	                             "WHERE code = 'DN-P-TRANBIEN') WHERE code = 'DN-P-BIENHOA'"),
	                ==, -EINVAL);
	/* Rule columns hold only known values. */
	g_assert_cmpint(write_sql(s, "UPDATE routing_rules SET target = 'police'"), ==, -EINVAL);
	g_assert_cmpint(write_sql(s, "UPDATE routing_rules SET instance = 3"), ==, -EINVAL);

	drop_store(s, dir);
}

/*
 * G_TEST_OPTION_ISOLATE_DIRS makes GLib replace its user directories before
 * each test and leak the old strings on purpose; LeakSanitizer reads this
 * hook in sanitizer builds.
 */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:g_set_user_dirs\n";
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_assert_cmpint(sodium_init(), >=, 0);
	shared = demo_store(&shared_dir);

	g_test_add_func("/routing/table", test_table);
	g_test_add_func("/routing/first-resolver", test_first_resolver);
	g_test_add_func("/routing/competent", test_competent);
	g_test_add_func("/routing/from-json", test_from_json);
	g_test_add_func("/routing/seeded-rules", test_seeded_rules);
	g_test_add_func("/routing/data-changes", test_data_changes);

	int rc = g_test_run();
	drop_store(shared, shared_dir);
	return rc;
}
