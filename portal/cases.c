/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/cases.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "cases-private.h"
#include "tiepdan/access.h"
#include "tiepdan/files.h"
#include "tiepdan/log.h"
#include "tiepdan/routing.h"
#include "tiepdan/timeline.h"

/*
 * The state machine of DOMAIN.md §2 as one table: for each method, the
 * statuses it may start from, the status it leads to, the kinds it applies
 * to, and who may call it. case_transition() is the only place that reads
 * it; any other move answers -32009.
 */
static const struct transition transitions[] = {
	{"case.accept", {"received"}, "accepted", KINDS_ALL, ACT_HANDLER},
	{"case.forward", {"received"}, "received", KINDS_NOT_COMPLAINT, ACT_HANDLER},
	{"case.guide", {"received"}, "guided", KINDS_ALL, ACT_HANDLER},
	{"case.reject", {"received"}, "rejected", KINDS_ALL, ACT_HANDLER},
	{"case.file", {"received"}, "filed", KINDS_ALL, ACT_HANDLER},
	{"petition.withdraw", {"received", "accepted"}, "withdrawn", KINDS_ALL, ACT_OWNER},
	{"case.suspend", {"accepted"}, "suspended", KINDS_ALL, ACT_LEADER},
	{"case.resume", {"suspended"}, "accepted", KINDS_ALL, ACT_LEADER},
	{"case.extend", {"accepted", "suspended"}, NULL, KINDS_ALL, ACT_LEADER},
	{"case.decide", {"accepted"}, "decided", KINDS_ALL, ACT_LEADER},
	{"case.appeal", {"decided"}, "received", KIND_COMPLAINT, ACT_OWNER},
	{"case.close", {"decided"}, "closed", KINDS_ALL, ACT_LEADER},
	{"case.terminate", {"decided", "closed"}, "terminated", KINDS_ALL, ACT_LEADER},
	{"case.assign", {"received", "accepted", "suspended", "decided"}, NULL, KINDS_ALL,
	 ACT_HANDLER},
	{"case.classify", {"received", "accepted", "suspended"}, NULL, KINDS_ALL, ACT_HANDLER},
	{"case.link_duplicate", {"received", "accepted", "suspended"}, NULL, KINDS_ALL,
	 ACT_HANDLER},
};

const struct transition *
case_transition_for(const char *method)
{
	for (size_t i = 0; i < G_N_ELEMENTS(transitions); i++) {
		if (strcmp(transitions[i].method, method) == 0) {
			return &transitions[i];
		}
	}
	return NULL;
}

bool
case_transition_allowed(const struct transition *t, const char *status, const char *kind)
{
	uint32_t k = case_kind_bit(kind);
	if (!(t->kinds & k)) {
		return false;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(t->from) && t->from[i]; i++) {
		if (strcmp(t->from[i], status) == 0) {
			return true;
		}
	}
	return false;
}

uint32_t
case_kind_bit(const char *kind)
{
	static const char *const kinds[] = {"complaint", "denunciation", "recommendation",
					    "feedback"};
	for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++) {
		if (kind && strcmp(kinds[i], kind) == 0) {
			return 1u << i;
		}
	}
	return 0;
}

/* ---- the module ---- */

#define MOD "cases"

struct cases {
	struct rpc *rpc;
	struct store *store;
	struct seal *seal;
	struct td_calendar *cal;
	struct cases_options opts;
	guint sweep;
	GHashTable *warned; /* case id → "overdue" / "due_soon" last announced */
	GHashTable *citizen_macs; /* user id → keyed hash of their national id ("" when none) */
	bool fts_pending;         /* intake wrote rows to temp.fts_pending in this group */
};

/* One row of `cases`, owned strings. */
struct case_row {
	int64_t rowid;
	char *id, *tracking_code, *kind, *field, *title, *content, *status, *agency_id;
	char *first_resolver_id, *assigned_official_id, *petitioner_user_id, *petitioner_mac;
	char *petitioner; /* JSON text; NULL for a denunciation */
	unsigned char *sealed;
	size_t sealed_len;
	int instance, mass, complex, repeat, forwards, extensions;
	char *locality_code, *respondent, *incident_date, *via, *received_on, *received_at;
	char *stage_started_on, *suspended_days, *duplicate_of, *outcome, *decided_on;
	char *effective_on, *updated_at;
};

#define CASE_COLUMNS                                                                              \
	"rowid, id, tracking_code, kind, field, title, content, status, agency_id, "             \
	"first_resolver_id, assigned_official_id, petitioner_user_id, petitioner_mac, "           \
	"petitioner, petitioner_sealed, instance, mass, complex, repeat_after_termination, "      \
	"forwards, extensions, locality_code, respondent, incident_date, via, received_on, "      \
	"received_at, stage_started_on, suspended_days, duplicate_of, outcome, decided_on, "      \
	"effective_on, updated_at"

/* The same, qualified, for statements that join cases c with tables of the same column names. */
#define CASE_COLUMNS_C                                                                            \
	"c.rowid, c.id, c.tracking_code, c.kind, c.field, c.title, c.content, c.status, "        \
	"c.agency_id, c.first_resolver_id, c.assigned_official_id, c.petitioner_user_id, "        \
	"c.petitioner_mac, c.petitioner, c.petitioner_sealed, c.instance, c.mass, c.complex, "    \
	"c.repeat_after_termination, c.forwards, c.extensions, c.locality_code, c.respondent, "   \
	"c.incident_date, c.via, c.received_on, c.received_at, c.stage_started_on, "              \
	"c.suspended_days, c.duplicate_of, c.outcome, c.decided_on, c.effective_on, c.updated_at"

static char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? g_strdup((const char *)t) : NULL;
}

static void
row_read(sqlite3_stmt *st, struct case_row *r)
{
	int i = 0;
	memset(r, 0, sizeof(*r));
	r->rowid = sqlite3_column_int64(st, i++);
	r->id = col(st, i++);
	r->tracking_code = col(st, i++);
	r->kind = col(st, i++);
	r->field = col(st, i++);
	r->title = col(st, i++);
	r->content = col(st, i++);
	r->status = col(st, i++);
	r->agency_id = col(st, i++);
	r->first_resolver_id = col(st, i++);
	r->assigned_official_id = col(st, i++);
	r->petitioner_user_id = col(st, i++);
	r->petitioner_mac = col(st, i++);
	r->petitioner = col(st, i++);
	if (sqlite3_column_type(st, i) == SQLITE_BLOB) {
		r->sealed_len = (size_t)sqlite3_column_bytes(st, i);
		r->sealed = g_memdup2(sqlite3_column_blob(st, i), r->sealed_len);
	}
	i++;
	r->instance = sqlite3_column_int(st, i++);
	r->mass = sqlite3_column_int(st, i++);
	r->complex = sqlite3_column_int(st, i++);
	r->repeat = sqlite3_column_int(st, i++);
	r->forwards = sqlite3_column_int(st, i++);
	r->extensions = sqlite3_column_int(st, i++);
	r->locality_code = col(st, i++);
	r->respondent = col(st, i++);
	r->incident_date = col(st, i++);
	r->via = col(st, i++);
	r->received_on = col(st, i++);
	r->received_at = col(st, i++);
	r->stage_started_on = col(st, i++);
	r->suspended_days = col(st, i++);
	r->duplicate_of = col(st, i++);
	r->outcome = col(st, i++);
	r->decided_on = col(st, i++);
	r->effective_on = col(st, i++);
	r->updated_at = col(st, i++);
}

static void
row_clear(struct case_row *r)
{
	char **strs[] = {&r->id, &r->tracking_code, &r->kind, &r->field, &r->title, &r->content,
			 &r->status, &r->agency_id, &r->first_resolver_id,
			 &r->assigned_official_id, &r->petitioner_user_id, &r->petitioner_mac,
			 &r->petitioner, &r->locality_code, &r->respondent, &r->incident_date,
			 &r->via, &r->received_on, &r->received_at, &r->stage_started_on,
			 &r->suspended_days, &r->duplicate_of, &r->outcome, &r->decided_on,
			 &r->effective_on, &r->updated_at};
	for (size_t i = 0; i < G_N_ELEMENTS(strs); i++) {
		g_free(*strs[i]);
	}
	g_free(r->sealed);
	memset(r, 0, sizeof(*r));
}

/* 0, -ENOENT, -EIO. */
static int
row_load(sqlite3 *db, const char *id, struct case_row *r)
{
	sqlite3_stmt *st = NULL;
	memset(r, 0, sizeof(*r));
	if (store_stmt_get(db, "SELECT " CASE_COLUMNS " FROM cases WHERE id = ?1", &st) != SQLITE_OK) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_read(st, r);
	}
	store_stmt_release(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

static char *
today_text(void)
{
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	return g_strndup(now, 10);
}

static bool
date_of(const char *text, GDate *out)
{
	char d[11];
	if (!text || strlen(text) < 10) {
		return false;
	}
	memcpy(d, text, 10);
	d[10] = '\0';
	return td_calendar_date_parse(d, out) == 0;
}

/* ---- who may see and act ---- */

static char *
user_national_id(sqlite3 *db, const char *user_id)
{
	g_autoptr(StoreStmt) st = store_stmt(db, "SELECT national_id FROM users WHERE id = ?1");
	if (!st) {
		return NULL;
	}
	sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_ROW ? col(st, 0) : NULL;
}

/*
 * (transfer none) The keyed hash of a user's national id, "" when they have none. National
 * ids never change once an account has one, so the answer is kept (a few hundred bytes per
 * citizen seen; the map is emptied when it passes 100,000 users).
 */
static const char *
citizen_mac(struct cases *c, sqlite3 *db, const char *user_id)
{
	const char *mac = g_hash_table_lookup(c->citizen_macs, user_id);
	if (mac) {
		return mac;
	}
	char *nid = user_national_id(db, user_id);
	char *v = g_malloc0(SEAL_MAC_HEX);
	if (nid) {
		seal_mac(c->seal, nid, v);
		g_free(nid);
	} else {
		/* No national id yet: not kept, since one may be added. */
		g_free(v);
		return "";
	}
	if (g_hash_table_size(c->citizen_macs) >= 100000) {
		g_hash_table_remove_all(c->citizen_macs);
	}
	g_hash_table_insert(c->citizen_macs, g_strdup(user_id), v);
	return v;
}

/*
 * Who may see a case: its petitioners (by account or national-id hash) and
 * the agencies that hold or held it, with their ancestors for leaders and the
 * inspectorates above them. Loaded once, it answers for any number of
 * identities from their grants in memory (an event to every bound connection).
 */
struct audience {
	struct cases *c;
	const struct case_row *row;
	GHashTable *macs;          /* co-petitioners' keyed national-id hashes */
	GHashTable *direct;        /* officials, leaders and staff of these see it */
	GHashTable *leaders;       /* leaders of these (the above and their ancestors) see it */
	GHashTable *inspectorates; /* inspectors of these (under one of the above) see it */
};

static void
audience_load(struct audience *a, struct cases *c, sqlite3 *db, const struct case_row *r)
{
	a->c = c;
	a->row = r;
	a->macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	a->direct = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	a->leaders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	a->inspectorates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_hash_table_add(a->direct, g_strdup(r->agency_id));
	{
		g_autoptr(StoreStmt) st =
			store_stmt(db, "SELECT mac FROM case_persons WHERE case_id = ?1");
		if (st) {
			sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
			while (sqlite3_step(st) == SQLITE_ROW) {
				g_hash_table_add(a->macs, col(st, 0));
			}
		}
	}
	{
		g_autoptr(StoreStmt) st =
			store_stmt(db, "SELECT agency_id FROM case_holders WHERE case_id = ?1");
		if (st) {
			sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
			while (sqlite3_step(st) == SQLITE_ROW) {
				g_hash_table_add(a->direct, col(st, 0));
			}
		}
	}
	GHashTableIter it;
	gpointer agency;
	g_hash_table_iter_init(&it, a->direct);
	while (g_hash_table_iter_next(&it, &agency, NULL)) {
		GPtrArray *chain = g_ptr_array_new_with_free_func(g_free);
		if (access_agency_chain(db, agency, chain) == 0) {
			for (guint i = 0; i < chain->len; i++) {
				g_hash_table_add(a->leaders, g_strdup(chain->pdata[i]));
			}
		}
		g_ptr_array_free(chain, TRUE);
	}
	g_autoptr(StoreStmt) st = store_stmt(
		db, "SELECT id, parent_id FROM agencies WHERE level = 'inspectorate' AND "
		    "parent_id IS NOT NULL");
	if (st) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *parent = (const char *)sqlite3_column_text(st, 1);
			if (g_hash_table_contains(a->leaders, parent)) {
				g_hash_table_add(a->inspectorates, col(st, 0));
			}
		}
	}
}

static void
audience_clear(struct audience *a)
{
	g_hash_table_destroy(a->macs);
	g_hash_table_destroy(a->direct);
	g_hash_table_destroy(a->leaders);
	g_hash_table_destroy(a->inspectorates);
}

/* The case's own petitioner or a co-petitioner, by account or by national id. */
static bool
audience_owner(struct audience *a, sqlite3 *db, const struct rpc_identity *id)
{
	const struct case_row *r = a->row;
	if (!id || !(id->roles & RPC_CITIZEN)) {
		return false;
	}
	if (r->petitioner_user_id && strcmp(r->petitioner_user_id, id->user_id) == 0) {
		return true;
	}
	const char *mac = citizen_mac(a->c, db, id->user_id);
	return *mac && (strcmp(mac, r->petitioner_mac) == 0 || g_hash_table_contains(a->macs, mac));
}

/* Officials, leaders, staff and inspectors: the responsible agency, or one that held it. */
static bool
audience_agency_side(struct audience *a, const struct rpc_identity *id)
{
	for (size_t i = 0; id && i < id->n_grants; i++) {
		const struct rpc_grant *g = &id->grants[i];
		if (!g->agency_id) {
			continue;
		}
		if ((g->role & (RPC_OFFICIAL | RPC_LEADER | RPC_STAFF)) &&
		    g_hash_table_contains(a->direct, g->agency_id)) {
			return true;
		}
		if (g->role == RPC_LEADER && g_hash_table_contains(a->leaders, g->agency_id)) {
			return true;
		}
		if (g->role == RPC_INSPECTOR &&
		    g_hash_table_contains(a->inspectorates, g->agency_id)) {
			return true;
		}
	}
	return false;
}

static bool
audience_has(struct audience *a, sqlite3 *db, const struct rpc_identity *id)
{
	return audience_owner(a, db, id) || audience_agency_side(a, id);
}

/*
 * A citizen owns a case they filed, or whose petitioner or co-petitioner
 * carries their national id (a paper petition registered for them, a group
 * petition they co-signed). National ids are compared through the keyed hash.
 */
static bool
citizen_owns(struct cases *c, sqlite3 *db, const struct rpc_identity *id,
	     const struct case_row *r)
{
	struct audience a;
	audience_load(&a, c, db, r);
	bool owns = audience_owner(&a, db, id);
	audience_clear(&a);
	return owns;
}

static bool
agency_side_sees(struct cases *c, sqlite3 *db, const struct rpc_identity *id,
		 const struct case_row *r)
{
	struct audience a;
	audience_load(&a, c, db, r);
	bool seen = audience_agency_side(&a, id);
	audience_clear(&a);
	return seen;
}

static bool
case_visible(struct cases *c, sqlite3 *db, const struct rpc_identity *id,
	     const struct case_row *r)
{
	struct audience a;
	audience_load(&a, c, db, r);
	bool seen = audience_has(&a, db, id);
	audience_clear(&a);
	return seen;
}

/* The denouncer's identity: only the officials and leaders of the responsible agency. */
static bool
sees_identity(const struct rpc_identity *id, const struct case_row *r)
{
	return strcmp(r->kind, "denunciation") != 0 ||
	       access_holds(id, RPC_OFFICIAL | RPC_LEADER, r->agency_id);
}

static bool
may_act(const struct rpc_identity *id, const struct case_row *r, enum actor_rule rule)
{
	switch (rule) {
	case ACT_HANDLER:
		return access_holds(id, RPC_OFFICIAL | RPC_LEADER, r->agency_id);
	case ACT_LEADER:
		return access_holds(id, RPC_LEADER, r->agency_id);
	case ACT_OWNER:
		return false; /* decided by citizen_owns() */
	}
	return false;
}

/* ---- deadlines ---- */

struct limit {
	enum td_deadline_unit unit;
	int days;
	char *source;
};

static bool
limit_for(sqlite3 *db, const char *step, const char *kind, int instance, int complex,
	  struct limit *out)
{
	sqlite3_stmt *st = NULL;
	bool found = false;
	if (store_stmt_get(db, "SELECT unit, days, source FROM time_limits WHERE step = ?1 AND "
			       "kind = ?2 AND instance = ?3 AND complex <= ?4 "
			       "ORDER BY complex DESC LIMIT 1", &st) != SQLITE_OK) {
		return false;
	}
	sqlite3_bind_text(st, 1, step, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, instance);
	sqlite3_bind_int(st, 4, complex);
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->unit = strcmp((const char *)sqlite3_column_text(st, 0), "working_days") == 0
				    ? TD_UNIT_WORKING_DAYS
				    : TD_UNIT_CALENDAR_DAYS;
		out->days = sqlite3_column_int(st, 1);
		out->source = col(st, 2);
		found = true;
	}
	store_stmt_release(st);
	return found;
}

/*
 * The deadline of the current stage: process_by while received, settle_by
 * while accepted or suspended, counted from the day the stage began, with the
 * suspended periods taken out and a denunciation's extensions added. Overdue
 * when today is past it (never while suspended: the clock stands).
 */
static json_t *
case_deadlines(struct cases *c, sqlite3 *db, const struct case_row *r, bool *overdue,
	       GDate *due_out)
{
	json_t *out = json_pack("{s:n, s:n, s:n}", "process_by", "settle_by", "explanation");
	*overdue = false;
	if (due_out) {
		g_date_clear(due_out, 1);
	}
	bool processing = strcmp(r->status, "received") == 0;
	bool settling = strcmp(r->status, "accepted") == 0 || strcmp(r->status, "suspended") == 0;
	if (!processing && !settling) {
		return out;
	}
	/* A denunciation's complexity changes its initial-check limit, not a complaint's. */
	int complex = processing && strcmp(r->kind, "denunciation") != 0 ? 0 : r->complex;
	if (settling && strcmp(r->kind, "denunciation") == 0) {
		complex = 0; /* extensions add the 30-day steps, by a leader's written decision */
	}
	struct limit lim = {0};
	if (!limit_for(db, processing ? "process" : "settle", r->kind, r->instance, complex,
		       &lim)) {
		return out;
	}
	struct td_deadline_spec spec = {.unit = lim.unit, .days = lim.days};
	struct td_extension ext[2];
	GArray *ranges = g_array_new(FALSE, TRUE, sizeof(struct td_date_range));
	if (!date_of(r->stage_started_on, &spec.event_on)) {
		g_free(lim.source);
		g_array_free(ranges, TRUE);
		return out;
	}
	if (settling && strcmp(r->kind, "denunciation") == 0) {
		for (int i = 0; i < r->extensions && i < 2; i++) {
			ext[i] = (struct td_extension){.days = 30, .reason = "LTC 30"};
		}
		spec.extensions = ext;
		spec.n_extensions = (size_t)MIN(r->extensions, 2);
	}
	json_t *susp = r->suspended_days ? json_loads(r->suspended_days, 0, NULL) : NULL;
	size_t i;
	json_t *s;
	bool suspended_now = strcmp(r->status, "suspended") == 0;
	json_array_foreach(susp, i, s)
	{
		struct td_date_range range;
		const char *to = json_string_value(json_object_get(s, "to"));
		if (!date_of(json_string_value(json_object_get(s, "from")), &range.from)) {
			continue;
		}
		if (to) {
			if (!date_of(to, &range.to)) {
				continue;
			}
		} else {
			char *t = today_text();
			bool ok = date_of(t, &range.to);
			g_free(t);
			if (!ok) {
				continue;
			}
		}
		if (g_date_compare(&range.to, &range.from) >= 0) {
			g_array_append_val(ranges, range);
		}
	}
	json_decref(susp);
	spec.suspended = (const struct td_date_range *)(void *)ranges->data;
	spec.n_suspended = ranges->len;
	GDate due;
	json_t *expl = NULL;
	if (td_calendar_deadline(c->cal, &spec, &due, &expl) == 0) {
		char buf[16];
		td_calendar_date_format(&due, buf);
		json_object_set_new(out, processing ? "process_by" : "settle_by", json_string(buf));
		json_object_set_new(expl, "source", json_string(lim.source));
		json_object_set_new(out, "explanation",
				    json_pack("{s:o}", processing ? "process_by" : "settle_by",
					      expl));
		GDate today;
		g_date_clear(&today, 1);
		char *t = today_text();
		if (date_of(t, &today) && !suspended_now) {
			*overdue = g_date_compare(&today, &due) > 0;
		}
		g_free(t);
		if (due_out) {
			*due_out = due;
		}
	}
	g_array_free(ranges, TRUE);
	g_free(lim.source);
	return out;
}

/* ---- rendering ---- */

static json_t *
user_brief(sqlite3 *db, const char *user_id)
{
	sqlite3_stmt *st = NULL;
	json_t *u = json_null();
	if (!user_id) {
		return u;
	}
	if (store_stmt_get(db, "SELECT full_name FROM users WHERE id = ?1", &st) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			u = json_pack("{s:s, s:s}", "id", user_id, "full_name",
				      (const char *)sqlite3_column_text(st, 0));
		}
	}
	store_stmt_release(st);
	return u;
}

static json_t *
agency_brief(sqlite3 *db, const char *agency_id)
{
	json_t *a = routing_agency_json(db, agency_id);
	return a ? a : json_null();
}

static json_t *
redacted_person(void)
{
	return json_pack("{s:n, s:n, s:n, s:n, s:n}", "full_name", "national_id", "phone", "email",
			 "address");
}

/* Writes "identity_read" to the audit log: every time an official sees a denouncer. */
static int
identity_read_txn(sqlite3 *db, void *data)
{
	json_t *d = data;
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	store_time_now(now);
	char *detail = json_dumps(json_object_get(d, "detail"), JSON_COMPACT);
	int rc = store_stmt_get(db, "INSERT INTO audit_log (at, action, user_id, actor_id, detail) "
				    "VALUES (?1, 'identity_read', NULL, ?2, ?3)", &st);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, json_string_value(json_object_get(d, "actor")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, detail, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	store_stmt_release(st);
	free(detail);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void
identity_read_done(int status, void *data)
{
	json_decref(data);
}

static void
audit_identity_read(struct cases *c, const struct rpc_identity *id, const struct case_row *r)
{
	json_t *d = json_pack("{s:s, s:{s:s, s:s}}", "actor", id->user_id, "detail", "case_id",
			      r->id, "tracking_code", r->tracking_code);
	if (store_write(c->store, identity_read_txn, identity_read_done, d) < 0) {
		td_error(MOD, "identity read not audited", "case=%s", r->id);
		json_decref(d);
	}
}

/* The petitioner and co-petitioners as this viewer may see them. */
static void
render_people(struct cases *c, sqlite3 *db, const struct rpc_identity *viewer,
	      const struct case_row *r, bool with_identity, json_t *out)
{
	json_t *pet = NULL;
	if (!with_identity) {
		pet = redacted_person();
	} else if (r->sealed) {
		char *text = seal_unbox(c->seal, r->sealed, r->sealed_len);
		pet = text ? json_loads(text, 0, NULL) : NULL;
		if (text) {
			sodium_memzero(text, strlen(text));
			g_free(text);
		}
		if (!pet) {
			td_error(MOD, "a sealed identity does not open", "case=%s", r->id);
			pet = redacted_person();
		} else if (viewer) {
			audit_identity_read(c, viewer, r);
		}
	} else {
		pet = r->petitioner ? json_loads(r->petitioner, 0, NULL) : NULL;
		if (!pet) {
			pet = redacted_person();
		}
	}
	json_object_set_new(out, "petitioner", pet);

	json_t *co = json_array(), *reps = json_array();
	sqlite3_stmt *st = NULL;
	if (store_stmt_get(db, "SELECT person, person_sealed, representative FROM case_persons "
			       "WHERE case_id = ?1 ORDER BY seq", &st) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *p = NULL;
			if (with_identity && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
				p = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
			} else if (with_identity) {
				char *text = seal_unbox(c->seal, sqlite3_column_blob(st, 1),
							(size_t)sqlite3_column_bytes(st, 1));
				p = text ? json_loads(text, 0, NULL) : NULL;
				g_free(text);
			}
			if (!p) {
				p = json_pack("{s:n, s:n}", "full_name", "national_id");
			}
			if (sqlite3_column_int(st, 2)) {
				json_t *nid = json_object_get(p, "national_id");
				json_array_append(reps, nid ? nid : json_null());
			}
			json_array_append_new(co, p);
		}
	}
	store_stmt_release(st);
	/* A representative may be the petitioner: then the petitioner's national id. */
	json_object_set_new(out, "co_petitioners", co);
	json_object_set_new(out, "representatives", reps);
}

/* The case object of PROTOCOL.md §5.1 for this viewer (NULL: as the system sees it). */
static json_t *
case_json(struct cases *c, sqlite3 *db, const struct rpc_identity *viewer,
	  const struct case_row *r)
{
	bool overdue = false;
	json_t *deadlines = case_deadlines(c, db, r, &overdue, NULL);
	json_t *respondent = r->respondent ? json_loads(r->respondent, 0, NULL) : NULL;
	bool identity = viewer && sees_identity(viewer, r);
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:b, s:b, s:i, s:s, s:o, s:o, "
		"s:s, s:s, s:o, s:b, s:o, s:o, s:b, s:[], s:[], s:s, s:s}",
		"id", r->id, "tracking_code", r->tracking_code, "kind", r->kind, "field", r->field,
		"title", r->title, "content", r->content, "status", r->status, "instance",
		r->instance, "agency", agency_brief(db, r->agency_id), "assigned_official",
		user_brief(db, r->assigned_official_id), "mass", r->mass, "complex", r->complex > 0,
		"complexity", r->complex, "locality_code", r->locality_code, "respondent",
		respondent ? respondent : json_null(), "incident_date",
		r->incident_date ? json_string(r->incident_date) : json_null(), "via", r->via,
		"received_at", r->received_at, "deadlines", deadlines, "overdue", overdue,
		"effective_on", r->effective_on ? json_string(r->effective_on) : json_null(),
		"duplicate_of", r->duplicate_of ? json_string(r->duplicate_of) : json_null(),
		"repeat_after_termination", r->repeat, "files", "sessions", "received_on",
		r->received_on, "updated_at", r->updated_at);
	sqlite3_stmt *fst = NULL;
	if (store_stmt_get(db, "SELECT file_id FROM case_files WHERE case_id = ?1 ORDER BY added_at, "
			       "file_id", &fst) == SQLITE_OK) {
		sqlite3_bind_text(fst, 1, r->id, -1, SQLITE_STATIC);
		json_t *files = json_object_get(o, "files");
		while (sqlite3_step(fst) == SQLITE_ROW) {
			json_t *fj = files_json(db, (const char *)sqlite3_column_text(fst, 0));
			if (fj) {
				json_array_append_new(files, fj);
			}
		}
	}
	store_stmt_release(fst);
	g_autoptr(StoreStmt) hst =
		store_stmt(db, "SELECT EXISTS (SELECT 1 FROM hotspot_cases WHERE case_id = ?1)");
	if (hst) {
		sqlite3_bind_text(hst, 1, r->id, -1, SQLITE_STATIC);
		json_object_set_new(o, "hotspot",
				    json_boolean(sqlite3_step(hst) == SQLITE_ROW &&
						 sqlite3_column_int(hst, 0)));
	}
	if (r->outcome) {
		json_object_set_new(o, "outcome", json_string(r->outcome));
		json_object_set_new(o, "decided_on", json_string(r->decided_on));
	}
	render_people(c, db, viewer, r, identity, o);
	return o;
}

/* ---- events ---- */

struct event_ctx {
	struct audience audience;
	sqlite3 *db;
	json_t *params;
};

static void
event_to(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *id, void *data)
{
	struct event_ctx *e = data;
	if (audience_has(&e->audience, e->db, id)) {
		rpc_notify(rpc, client_id, "event.case.updated", json_incref(e->params));
	}
}

/* event.case.updated to every bound connection allowed to see the case. */
static void
announce_overdue(struct cases *c, struct case_row *r, const char *warning, bool overdue)
{
	sqlite3 *db = store_reader(c->store);
	struct event_ctx e = {.db = db};
	audience_load(&e.audience, c, db, r);
	e.params = json_pack("{s:s, s:s, s:b}", "case_id", r->id, "status", r->status, "overdue",
			     overdue);
	if (warning) {
		json_object_set_new(e.params, "warning", json_string(warning));
	}
	rpc_foreach_identity(c->rpc, event_to, &e);
	json_decref(e.params);
	audience_clear(&e.audience);
}

static void
announce(struct cases *c, struct case_row *r, const char *warning)
{
	bool overdue = false;
	json_decref(case_deadlines(c, store_reader(c->store), r, &overdue, NULL));
	announce_overdue(c, r, warning, overdue);
}

/* ---- intake ---- */

static int exec_update(sqlite3 *db, const char *sql, const char *id, const char *const *vals,
		       int n);

static const char *const kinds[] = {"complaint", "denunciation", "recommendation", "feedback",
				    NULL};
static const char *const vias[] = {"in_person", "post", "forwarded_in", NULL};

/* A tracking code citizens can quote: 12 random characters of Crockford's base32. */
static void
tracking_code(char out[16])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char rnd[12];
	randombytes_buf(rnd, sizeof(rnd));
	int j = 0;
	for (int i = 0; i < 12; i++) {
		if (i == 4 || i == 8) {
			out[j++] = '-';
		}
		out[j++] = alphabet[rnd[i] & 31];
	}
	out[j] = '\0';
}

static bool
valid_nid(const char *s)
{
	if (!s || strlen(s) != 12) {
		return false;
	}
	for (int i = 0; i < 12; i++) {
		if (!g_ascii_isdigit(s[i])) {
			return false;
		}
	}
	return true;
}

/*
 * True when text is valid UTF-8 that NFC leaves as it is because every
 * character is below U+0300 (no combining mark, nothing that composes) or a
 * precomposed letter of Latin Extended Additional (U+1E00–U+1EFF, where
 * Vietnamese letters with two marks live: starters that nothing follows to
 * compose with, and no singleton decompositions). Most petitions are; the
 * rest go through g_utf8_normalize.
 */
static bool
plainly_nfc(const char *text)
{
	const char *end;
	if (!g_utf8_validate(text, -1, &end)) {
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)text; *p;) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		gunichar c = g_utf8_get_char((const char *)p);
		if (!(c < 0x300 || (c >= 0x1E00 && c <= 0x1EFF))) {
			return false;
		}
		p = (const unsigned char *)g_utf8_next_char(p);
	}
	return true;
}

static char *
clean_text(const char *in, size_t max_chars)
{
	if (!in) {
		return NULL;
	}
	char *nfc = plainly_nfc(in) ? g_strdup(in) : g_utf8_normalize(in, -1, G_NORMALIZE_NFC);
	if (!nfc) {
		return NULL;
	}
	g_strstrip(nfc);
	if (!*nfc || (size_t)g_utf8_strlen(nfc, -1) > max_chars) {
		g_free(nfc);
		return NULL;
	}
	return nfc;
}

struct intake {
	struct cases *c;
	struct rpc_call *call;
	struct rpc_identity who;
	json_t *params;
	const char *method;
	/* decided before the transaction */
	char id[23];
	char code[16];
	char *petitioner_user_id;
	json_t *petitioner; /* {full_name, national_id, phone, email, address} */
	json_t *persons;    /* [{full_name, national_id, representative}] */
	char mac[SEAL_MAC_HEX];
	char *agency_id;
	json_t *explanation;
	char *rule_code;
	char *via;
	char *received_on;
	bool mass;
	char *title;   /* cleaned (NFC, trimmed) */
	char *content; /* cleaned */
	GHashTable *picks; /* the telling words compared with earlier cases (find_related) */
	sqlite3_int64 self_rowid; /* find_related leaves this case out (0: none) */
	bool want_candidates;     /* the caller is shown related cases (officials) */
	char *words;       /* every telling word, folded, distinct: cases.words */
	/* found in the transaction */
	bool repeat;
	json_t *candidates;
};

static void
intake_free(struct intake *in)
{
	rpc_identity_clear(&in->who);
	json_decref(in->params);
	g_free(in->petitioner_user_id);
	json_decref(in->petitioner);
	json_decref(in->persons);
	g_free(in->agency_id);
	json_decref(in->explanation);
	g_free(in->rule_code);
	g_free(in->via);
	g_free(in->received_on);
	json_decref(in->candidates);
	g_free(in->title);
	g_free(in->content);
	if (in->picks) {
		g_hash_table_destroy(in->picks);
	}
	g_free(in->words);
	g_free(in);
}

/*
 * Text as the search index holds it: NFC, and đ/Đ folded to d/D, which
 * FTS5's remove_diacritics leaves alone (đ is a letter of its own in
 * Unicode, not d with a mark). The other diacritics are folded by the
 * tokenizer. Queries go through the same function.
 */
static char *
fold_d(const char *nfc)
{
	GString *out = g_string_sized_new(strlen(nfc));
	for (const char *p = nfc; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == 0x0111) {
			g_string_append_c(out, 'd');
		} else if (c == 0x0110) {
			g_string_append_c(out, 'D');
		} else {
			g_string_append_unichar(out, c);
		}
	}
	return g_string_free(out, FALSE);
}

static char *
search_fold(const char *text)
{
	char *nfc = g_utf8_normalize(text ? text : "", -1, G_NORMALIZE_NFC);
	char *out = fold_d(nfc ? nfc : "");
	g_free(nfc);
	return out;
}

/*
 * Calls fn with every word of text folded the way the full-text index folds
 * it: NFC, đ → d, then base letters only (marks dropped), lower case.
 * Returns early when fn returns true.
 */
static bool
each_word(const char *text, bool (*fn)(const char *w, size_t len, void *data), void *data)
{
	/*
	 * Character by character, without normalizing the whole text (the cost of
	 * an intake was a quarter g_utf8_normalize): a precomposed letter is
	 * replaced by the first character of its canonical decomposition, the
	 * marks of a decomposed one are dropped; the result is the same for NFC
	 * and NFD input.
	 */
	GString *w = g_string_sized_new(32);
	bool stop = false;
	const char *p = text ? text : "";
	for (;;) {
		gunichar ch = *p ? g_utf8_get_char_validated(p, -1) : 0;
		if (ch == (gunichar)-1 || ch == (gunichar)-2) {
			ch = ' '; /* not UTF-8: a separator */
			p++;
		} else if (ch) {
			p = g_utf8_next_char(p);
		}
		if (ch >= 0x80) {
			if (g_unichar_ismark(ch)) {
				continue;
			}
			if (ch == 0x0111 || ch == 0x0110) {
				ch = 'd';
			} else {
				gunichar d[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
				if (g_unichar_fully_decompose(ch, FALSE, d, G_N_ELEMENTS(d)) > 0) {
					ch = d[0];
				}
			}
		}
		if (ch && (ch < 0x80 ? g_ascii_isalnum((char)ch) : g_unichar_isalnum(ch))) {
			if (ch < 0x80) {
				g_string_append_c(w, g_ascii_tolower((char)ch));
			} else {
				g_string_append_unichar(w, g_unichar_tolower(ch));
			}
			continue;
		}
		if (w->len) {
			stop = fn(w->str, w->len, data);
			g_string_truncate(w, 0);
		}
		if (!ch || stop) {
			break;
		}
	}
	g_string_free(w, TRUE);
	return stop;
}

/* Words too common in petitions to say two of them are about the same matter (folded). */
static bool
common_word(const char *key)
{
	static const char *const words[] = {
		"khieu", "nai", "cao", "phan", "anh", "kien", "nghi", "don", "cua", "cac",
		"nhung", "duoc", "khong", "cho", "voi", "trong", "theo", "nay", "nguoi", "viec",
		"quyet", "dinh", "toi", "chung", "den", "tai", "ngay", "nam", "thang", "phuong",
		"xa", "uy", "ban", "nhan", "dan", "ong", "ba", "co", "la", "da", "se", "va"};
	static GHashTable *set;
	if (g_once_init_enter(&set)) {
		GHashTable *t = g_hash_table_new(g_str_hash, g_str_equal);
		for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
			g_hash_table_add(t, (gpointer)words[i]);
		}
		g_once_init_leave(&set, t);
	}
	return g_hash_table_contains(set, key);
}

/*
 * The telling words of a petition (folded, at least 3 letters, not common):
 * the first `left` of them go into picks, the set compared with earlier
 * cases; every distinct one, up to WORDS_MAX, into words, what later
 * petitions are compared with.
 */
#define WORDS_MAX 400

struct word_pick {
	GHashTable *picks;
	unsigned left;
	GHashTable *seen;    /* keys in chunk */
	GStringChunk *chunk;
	GString *words;
};

static bool
pick_word(const char *w, size_t len, void *data)
{
	struct word_pick *pk = data;
	if (g_utf8_strlen(w, (gssize)len) < 3 || common_word(w)) {
		return false;
	}
	if (pk->left) {
		g_hash_table_add(pk->picks, g_strndup(w, len));
		pk->left--;
	}
	if (g_hash_table_size(pk->seen) < WORDS_MAX && !g_hash_table_contains(pk->seen, w)) {
		g_hash_table_add(pk->seen, g_string_chunk_insert_len(pk->chunk, w, (gssize)len));
		if (pk->words->len) {
			g_string_append_c(pk->words, ' ');
		}
		g_string_append_len(pk->words, w, (gssize)len);
	}
	return false;
}

/* The picks (8 words of the title, 16 of the content) and the words of a petition. */
static void
text_words(const char *title, const char *content, GHashTable **picks, char **words)
{
	struct word_pick pk = {
		.picks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
		.left = 8,
		.seen = g_hash_table_new(g_str_hash, g_str_equal),
		.chunk = g_string_chunk_new(1024),
		.words = g_string_new(NULL),
	};
	each_word(title, pick_word, &pk);
	pk.left = 16;
	each_word(content, pick_word, &pk);
	g_hash_table_destroy(pk.seen);
	g_string_chunk_free(pk.chunk);
	*picks = pk.picks;
	*words = g_string_free(pk.words, FALSE);
}

static bool
word_in_set(const char *w, size_t len, void *data)
{
	return g_hash_table_contains(data, w);
}

/*
 * The words of a text as an FTS5 query ("w1" OR "w2" …): folded like the
 * index, at least 2 characters.
 */
static char *
fts_query(const char *text, int max_words)
{
	char *folded = search_fold(text);
	GString *q = g_string_new(NULL);
	int n = 0;
	const char *p = folded;
	while (*p && n < max_words) {
		while (*p && !g_unichar_isalnum(g_utf8_get_char(p))) {
			p = g_utf8_next_char(p);
		}
		const char *start = p;
		while (*p && g_unichar_isalnum(g_utf8_get_char(p))) {
			p = g_utf8_next_char(p);
		}
		glong chars = p > start ? g_utf8_strlen(start, p - start) : 0;
		if (chars >= 2) {
			g_string_append_printf(q, "%s\"%.*s\"", n ? " OR " : "", (int)(p - start),
					       start);
			n++;
		}
	}
	g_free(folded);
	return n ? g_string_free(q, FALSE) : (g_string_free(q, TRUE), NULL);
}

struct related {
	sqlite3_int64 rowid;
	double score;
};

/* Higher score first; among equals the newer (higher rowid) first. */
static gint
cmp_related(gconstpointer a, gconstpointer b)
{
	const struct related *x = a, *y = b;
	if (x->score != y->score) {
		return (x->score < y->score) - (x->score > y->score);
	}
	return (x->rowid < y->rowid) - (x->rowid > y->rowid);
}

/* The respondent agency and the text of a case stored before migration 9. */
static void
old_row_words(sqlite3 *db, sqlite3_int64 rowid, char **agency, char **text)
{
	g_autoptr(StoreStmt) st = store_stmt(
		db, "SELECT json_extract(respondent, '$.agency_id'), title || ' ' || content"
		    " FROM cases WHERE rowid = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, rowid);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*agency = col(st, 0);
			*text = col(st, 1);
		}
	}
}

/* What find_related gathers over a petitioner's earlier cases. */
struct related_scan {
	struct intake *in;
	sqlite3 *db;
	const char *resp_agency;
	const char *field;
	GArray *found;     /* struct related */
	GHashTable *seen;  /* rowids */
};

/* One earlier case: rowid, status, field, respondent_agency, words. */
static void
related_row(struct related_scan *rs, sqlite3_stmt *st)
{
	sqlite3_int64 rowid = sqlite3_column_int64(st, 0);
	if (rowid == rs->in->self_rowid ||
	    !g_hash_table_add(rs->seen, GSIZE_TO_POINTER((gsize)rowid))) {
		return;
	}
	const char *agency = (const char *)sqlite3_column_text(st, 3);
	const char *text = (const char *)sqlite3_column_text(st, 4);
	char *old_agency = NULL, *old_text = NULL;
	if (!text) {
		/* A case stored before words were kept (migration 9). */
		old_row_words(rs->db, rowid, &old_agency, &old_text);
		agency = old_agency;
		text = old_text;
	}
	GHashTable *words = rs->in->picks;
	bool same_respondent = rs->resp_agency && g_strcmp0(agency, rs->resp_agency) == 0;
	bool shared = g_hash_table_size(words) > 0 && text && each_word(text, word_in_set, words);
	g_free(old_agency);
	g_free(old_text);
	if (!shared && !same_respondent) {
		return;
	}
	/* A repeat: the same field and the same respondent or matching words. */
	if (strcmp((const char *)sqlite3_column_text(st, 1), "terminated") == 0 && rs->field &&
	    g_strcmp0((const char *)sqlite3_column_text(st, 2), rs->field) == 0) {
		rs->in->repeat = true;
	}
	struct related rel = {
		.rowid = rowid,
		.score = (same_respondent ? 1.0 : 0.0) + (shared ? 0.5 : 0.0),
	};
	g_array_append_val(rs->found, rel);
}

/*
 * Earlier cases of any of the same petitioners, in any agency, that name the
 * same respondent agency or share a telling word (diacritics folded): sets
 * in->repeat and, when in->want_candidates, in->candidates (the best 20).
 * A petitioner's cases come newest first from the index
 * cases_petitioner_related, which holds what is compared (status, field,
 * respondent agency, words), so even a petitioner with hundreds of cases
 * costs a few index pages and no sort; a co-petitioner's come from
 * case_persons. Their words are compared here: neither a search of the whole
 * full-text index nor one FTS5 lookup per case, whose doclists grow with
 * every case stored. Score: 1 for the same respondent agency, 0.5 for shared
 * words; newest first among equals.
 */
static void
find_related(sqlite3 *db, struct intake *in)
{
	in->candidates = json_array();
	struct related_scan rs = {
		.in = in,
		.db = db,
		.resp_agency = json_string_value(
			json_object_get(json_object_get(in->params, "respondent"), "agency_id")),
		.field = json_string_value(json_object_get(in->params, "field")),
		.found = g_array_new(FALSE, FALSE, sizeof(struct related)),
		.seen = g_hash_table_new(NULL, NULL),
	};
	/* The keyed hashes of every petitioner of this petition. */
	json_t *macs = json_array();
	json_array_append_new(macs, json_string(in->mac));
	size_t i;
	json_t *p;
	json_array_foreach(in->persons, i, p)
	{
		char mac[SEAL_MAC_HEX];
		const char *nid = json_string_value(json_object_get(p, "national_id"));
		if (nid) {
			seal_mac(in->c->seal, nid, mac);
			json_array_append_new(macs, json_string(mac));
		}
	}
	json_array_foreach(macs, i, p)
	{
		g_autoptr(StoreStmt) st = store_stmt(
			db, "SELECT rowid, status, field, respondent_agency, words FROM cases"
			    " WHERE petitioner_mac = ?1 ORDER BY received_at DESC LIMIT 200");
		if (st) {
			sqlite3_bind_text(st, 1, json_string_value(p), -1, SQLITE_STATIC);
			while (sqlite3_step(st) == SQLITE_ROW) {
				related_row(&rs, st);
			}
		}
	}
	char *macs_text = json_dumps(macs, JSON_COMPACT);
	json_decref(macs);
	{
		g_autoptr(StoreStmt) st = store_stmt(
			db, "SELECT c.rowid, c.status, c.field, c.respondent_agency, c.words"
			    " FROM case_persons p JOIN cases c ON c.id = p.case_id"
			    " WHERE p.mac IN (SELECT value FROM json_each(?1))"
			    " ORDER BY c.rowid DESC LIMIT 200");
		if (st) {
			sqlite3_bind_text(st, 1, macs_text, -1, SQLITE_STATIC);
			while (sqlite3_step(st) == SQLITE_ROW) {
				related_row(&rs, st);
			}
		}
	}
	g_free(macs_text);
	/* The best 20, newest first among equals. */
	g_array_sort(rs.found, cmp_related);
	for (guint k = 0; in->want_candidates && k < rs.found->len && k < 20; k++) {
		struct related *rel = &g_array_index(rs.found, struct related, k);
		g_autoptr(StoreStmt) one = store_stmt(
			db, "SELECT id, status, tracking_code, agency_id FROM cases WHERE rowid = ?1");
		if (!one) {
			break;
		}
		sqlite3_bind_int64(one, 1, rel->rowid);
		if (sqlite3_step(one) == SQLITE_ROW) {
			json_array_append_new(
				in->candidates,
				json_pack("{s:s, s:s, s:s, s:s, s:f}", "case_id",
					  (const char *)sqlite3_column_text(one, 0), "status",
					  (const char *)sqlite3_column_text(one, 1), "tracking_code",
					  (const char *)sqlite3_column_text(one, 2), "agency_id",
					  (const char *)sqlite3_column_text(one, 3), "score", rel->score));
		}
	}
	g_array_free(rs.found, TRUE);
	g_hash_table_destroy(rs.seen);
}

static int
bind_identity(struct cases *c, sqlite3_stmt *st, int text_col, int blob_col, json_t *person,
	      bool seal)
{
	char *text = json_dumps(person, JSON_COMPACT | JSON_SORT_KEYS);
	if (seal) {
		size_t len;
		unsigned char *box = seal_box(c->seal, text, &len);
		sqlite3_bind_null(st, text_col);
		sqlite3_bind_blob(st, blob_col, box, (int)len, g_free);
	} else {
		sqlite3_bind_text(st, text_col, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_null(st, blob_col);
	}
	sodium_memzero(text, strlen(text));
	free(text);
	return 0;
}

static int
intake_txn(sqlite3 *db, void *data)
{
	struct intake *in = data;
	struct cases *c = in->c;
	json_t *p = in->params;
	const char *kind = json_string_value(json_object_get(p, "kind"));
	bool seal = strcmp(kind, "denunciation") == 0;
	char now[STORE_TIME_SIZE];
	char *today = today_text();
	sqlite3_stmt *st = NULL;
	int rc;

	store_time_now(now);
	find_related(db, in);
	json_t *resp = json_object_get(p, "respondent");
	char *resp_text = resp ? json_dumps(resp, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	rc = store_stmt_get(db, "INSERT INTO cases (id, tracking_code, kind, field, title, content, status, instance, "
		"agency_id, petitioner_user_id, petitioner_mac, petitioner, petitioner_sealed, mass, "
		"locality_code, respondent, incident_date, via, received_on, received_at, "
		"stage_started_on, repeat_after_termination, updated_at, words, respondent_agency) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'received', 1, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
		"?15, ?16, ?17, ?18, ?17, ?19, ?18, ?20, ?21)", &st);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, in->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, in->code, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, json_string_value(json_object_get(p, "field")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 5, in->title, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, in->content, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, in->agency_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, in->petitioner_user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, in->mac, -1, SQLITE_STATIC);
		bind_identity(c, st, 10, 11, in->petitioner, seal);
		sqlite3_bind_int(st, 12, in->mass);
		sqlite3_bind_text(st, 13, json_string_value(json_object_get(p, "locality_code")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 14, resp_text, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 15, json_string_value(json_object_get(p, "incident_date")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 16, in->via, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 17, in->received_on, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 18, now, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 19, in->repeat);
		sqlite3_bind_text(st, 20, in->words, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 21, json_string_value(json_object_get(resp, "agency_id")), -1,
				  SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	store_stmt_release(st);
	free(resp_text);
	if (rc == SQLITE_DONE) {
		/* Indexed once per group (index_pending): FTS5 would flush a segment per job. */
		rc = store_stmt_get(db, "INSERT INTO temp.fts_pending (case_rowid, title, content) "
					"SELECT rowid, ?2, ?3 FROM cases WHERE id = ?1", &st);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, in->id, -1, SQLITE_STATIC);
			/* Cleaned text is NFC already: only đ is left to fold. */
			sqlite3_bind_text(st, 2, fold_d(in->title), -1, g_free);
			sqlite3_bind_text(st, 3, fold_d(in->content), -1, g_free);
			rc = sqlite3_step(st);
			c->fts_pending = true;
		}
		store_stmt_release(st);
	}
	if (rc != SQLITE_DONE) {
		td_error(MOD, "case not inserted", "err=\"%s\"", sqlite3_errmsg(db));
		g_free(today);
		return store_errno(rc);
	}
	size_t i;
	json_t *person;
	json_array_foreach(in->persons, i, person)
	{
		char mac[SEAL_MAC_HEX];
		seal_mac(c->seal, json_string_value(json_object_get(person, "national_id")), mac);
		json_t *shown = json_pack("{s:O, s:O}", "full_name",
					  json_object_get(person, "full_name"), "national_id",
					  json_object_get(person, "national_id"));
		rc = store_stmt_get(db, "INSERT INTO case_persons (case_id, seq, mac, person, "
					"person_sealed, representative) VALUES (?1, ?2, ?3, ?4, ?5, "
					"?6)", &st);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, in->id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)i + 1);
			sqlite3_bind_text(st, 3, mac, -1, SQLITE_TRANSIENT);
			bind_identity(c, st, 4, 5, shown, seal);
			sqlite3_bind_int(st, 6,
					 json_is_true(json_object_get(person, "representative")));
			rc = sqlite3_step(st);
		}
		store_stmt_release(st);
		json_decref(shown);
		if (rc != SQLITE_DONE) {
			g_free(today);
			return store_errno(rc);
		}
	}
	rc = store_stmt_get(db, "INSERT INTO case_holders (case_id, agency_id, since) VALUES (?1, ?2, "
				"?3)", &st);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, in->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, in->agency_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	store_stmt_release(st);
	g_free(today);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	json_array_foreach(json_object_get(p, "file_ids"), i, person)
	{
		const char *v[] = {json_string_value(person), now};
		int fe = exec_update(db,
				     "INSERT OR IGNORE INTO case_files (case_id, file_id, added_at) "
				     "VALUES (?1, ?2, ?3)",
				     in->id, v, 2);
		if (fe < 0) {
			return fe;
		}
	}
	/* The timeline carries no identity: it is shown to everyone who sees the case. */
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:O}", "via", in->via,
			       "received_on", in->received_on, "agency_id", in->agency_id, "rule",
			       in->rule_code, "mass", in->mass, "repeat_after_termination",
			       in->repeat, "petitioners", (json_int_t)json_array_size(in->persons) + 1,
			       "routing", in->explanation);
	int r = timeline_append(db, in->id,
				strcmp(in->method, "petition.submit") == 0 ? NULL : in->who.user_id,
				"received", ev, NULL);
	json_decref(ev);
	return r;
}

/* Only the related cases this viewer may see: a list must not reveal that a case exists. */
static json_t *
visible_only(struct cases *c, sqlite3 *db, const struct rpc_identity *viewer, json_t *candidates)
{
	json_t *out = json_array();
	size_t i;
	json_t *cand;
	json_array_foreach(candidates, i, cand)
	{
		struct case_row r;
		if (row_load(db, json_string_value(json_object_get(cand, "case_id")), &r) == 0 &&
		    case_visible(c, db, viewer, &r)) {
			json_array_append(out, cand);
		}
		row_clear(&r);
	}
	return out;
}

static void
intake_done(int status, void *data)
{
	struct intake *in = data;
	struct cases *c = in->c;
	struct case_row r;
	if (status == 0 && row_load(store_reader(c->store), in->id, &r) == 0) {
		json_t *cj = case_json(c, store_reader(c->store), &in->who, &r);
		json_t *res = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O}", "case_id", in->id,
					"tracking_code", in->code, "status", "received", "agency",
					json_object_get(cj, "agency"), "explanation",
					in->explanation, "deadlines",
					json_object_get(cj, "deadlines"), "case", cj);
		if (in->want_candidates) {
			json_object_set_new(res, "related_cases",
					    visible_only(c, store_reader(c->store), &in->who,
							 in->candidates));
		}
		bool overdue = json_is_true(json_object_get(cj, "overdue"));
		json_decref(cj);
		td_info(MOD, "petition received", "case=%s kind=%s via=%s agency=%s", in->id,
			r.kind, in->via, in->agency_id);
		rpc_call_reply(in->call, res);
		announce_overdue(c, &r, NULL, overdue);
		if (c->opts.events && c->opts.events->received) {
			c->opts.events->received(c->opts.events_data, r.id);
		}
		row_clear(&r);
	} else {
		td_error(MOD, "petition not stored", "err=%d", status);
		rpc_call_error(in->call, TD_ERR_INTERNAL, NULL, NULL);
	}
	intake_free(in);
}

static char *
normalize_person_name(const char *in)
{
	char *n = clean_text(in, 100);
	if (!n) {
		return NULL;
	}
	for (const char *p = n; *p; p = g_utf8_next_char(p)) {
		gunichar ch = g_utf8_get_char(p);
		if (!g_unichar_isalpha(ch) && !g_unichar_ismark(ch) && ch != ' ' && ch != '.' &&
		    ch != '\'' && ch != '-') {
			g_free(n);
			return NULL;
		}
	}
	return n;
}

/*
 * Co-petitioners and representatives (DOMAIN.md §1): five or more people make
 * a mass petition, which names 1–2 representatives (5–10 people) or at most 5
 * (more than 10), all among the petitioners. Returns the pointer of the first
 * problem, or NULL.
 */
static const char *
check_group(struct intake *in, const char **reason)
{
	json_t *co = json_object_get(in->params, "co_petitioners");
	json_t *reps = json_object_get(in->params, "representatives");
	const char *own = json_string_value(json_object_get(in->petitioner, "national_id"));
	GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
	static char ptr[64];
	size_t i;
	json_t *p;

	in->persons = json_array();
	if (own) {
		g_hash_table_add(seen, (gpointer)own);
	}
	json_array_foreach(co, i, p)
	{
		const char *nid = json_string_value(json_object_get(p, "national_id"));
		char *name = normalize_person_name(json_string_value(json_object_get(p, "full_name")));
		const char *field = NULL;
		*reason = "format";
		if (!json_is_object(p) || json_object_size(p) != 2) {
			field = "";
			*reason = json_is_object(p) ? "unknown" : "type";
		} else if (!name) {
			field = "/full_name";
		} else if (!valid_nid(nid)) {
			field = "/national_id";
		} else if (g_hash_table_contains(seen, nid)) {
			field = "/national_id";
			*reason = "duplicate";
		}
		if (field) {
			g_free(name);
			g_hash_table_destroy(seen);
			g_snprintf(ptr, sizeof(ptr), "/co_petitioners/%zu%s", i, field);
			return ptr;
		}
		g_hash_table_add(seen, (gpointer)nid);
		json_array_append_new(in->persons, json_pack("{s:s, s:s, s:b}", "full_name", name,
							     "national_id", nid, "representative",
							     0));
		g_free(name);
	}
	size_t people = json_array_size(in->persons) + 1;
	size_t n_reps = json_array_size(reps);
	in->mass = people >= 5;
	json_array_foreach(reps, i, p)
	{
		const char *nid = json_string_value(p);
		bool found = false;
		if (nid && own && strcmp(nid, own) == 0) {
			found = true;
		}
		size_t j;
		json_t *q;
		json_array_foreach(in->persons, j, q)
		{
			if (nid && strcmp(json_string_value(json_object_get(q, "national_id")), nid) ==
					   0) {
				json_object_set_new(q, "representative", json_true());
				found = true;
			}
		}
		if (!found) {
			g_hash_table_destroy(seen);
			g_snprintf(ptr, sizeof(ptr), "/representatives/%zu", i);
			*reason = nid ? "not_a_petitioner" : "type";
			return ptr;
		}
	}
	g_hash_table_destroy(seen);
	if (in->mass && (n_reps < 1 || n_reps > (people <= 10 ? 2u : 5u))) {
		*reason = n_reps < 1 ? "required" : "too_many";
		return "/representatives";
	}
	return NULL;
}

/* The account's own identity for petition.submit: name, national id, phone, email, address. */
static json_t *
account_person(sqlite3 *db, const char *user_id)
{
	sqlite3_stmt *st = NULL;
	json_t *p = NULL;
	if (store_stmt_get(db, "SELECT full_name, national_id, phone, email, address FROM users "
			       "WHERE id = ?1", &st) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			p = json_object();
			const char *names[] = {"full_name", "national_id", "phone", "email",
					       "address"};
			for (int i = 0; i < 5; i++) {
				const unsigned char *t = sqlite3_column_text(st, i);
				json_object_set_new(p, names[i],
						    t ? json_string((const char *)t) : json_null());
			}
		}
	}
	store_stmt_release(st);
	return p;
}

/* Common to petition.submit and petition.register: route, group, required content, then write. */
static void
intake_start(struct intake *in)
{
	struct cases *c = in->c;
	sqlite3 *db = store_reader(c->store);
	struct routing_request req;
	const char *ptr = NULL, *reason = NULL;
	json_t *p = in->params;
	const char *kind = json_string_value(json_object_get(p, "kind"));

	size_t fi;
	json_t *fv;
	json_array_foreach(json_object_get(p, "file_ids"), fi, fv)
	{
		/* Only files the caller uploaded (POST /api/files) can be attached. */
		if (!json_is_string(fv) || !files_owned_by(db, json_string_value(fv), in->who.user_id)) {
			char fptr[32];
			g_snprintf(fptr, sizeof(fptr), "/file_ids/%zu", fi);
			rpc_call_invalid(in->call, fptr, json_is_string(fv) ? "unknown" : "type");
			goto fail;
		}
	}
	if (json_object_get(p, "instance")) {
		rpc_call_invalid(in->call, "/instance", "unknown");
		goto fail;
	}
	in->title = clean_text(json_string_value(json_object_get(p, "title")), 300);
	if (!in->title) {
		rpc_call_invalid(in->call, "/title", "empty");
		goto fail;
	}
	in->content = clean_text(json_string_value(json_object_get(p, "content")), 20000);
	if (!in->content) {
		rpc_call_invalid(in->call, "/content", "empty");
		goto fail;
	}
	/* What the law requires of each kind (DOMAIN.md §1). */
	bool needs_address = strcmp(kind, "complaint") == 0 || strcmp(kind, "denunciation") == 0;
	if (needs_address) {
		const char *addr = json_string_value(json_object_get(in->petitioner, "address"));
		if (!addr || !*addr) {
			rpc_call_invalid(in->call,
					 strcmp(in->method, "petition.submit") == 0
						 ? "/address"
						 : "/petitioner/address",
					 "required");
			goto fail;
		}
		if (!json_string_value(json_object_get(in->petitioner, "national_id"))) {
			rpc_call_invalid(in->call, "/petitioner/national_id", "required");
			goto fail;
		}
	}
	char *rptr = NULL;
	if (routing_request_from_json(db, p, &req, &rptr, &reason) < 0) {
		rpc_call_invalid(in->call, rptr ? rptr : "", reason ? reason : "format");
		g_free(rptr);
		goto fail;
	}
	if ((ptr = check_group(in, &reason))) {
		rpc_call_invalid(in->call, ptr, reason);
		goto fail;
	}
	struct routing_route route;
	int r = routing_route(db, &req, &route);
	if (r < 0) {
		rpc_call_error(in->call, TD_ERR_INTERNAL, NULL, NULL);
		goto fail;
	}
	if (!route.agency_id) {
		/* The competent body is outside the portal: tell where to go, register nothing. */
		rpc_call_error(in->call, TD_ERR_CONFLICT, "outside the portal's competence",
			       json_pack("{s:s, s:O}", "reason", "outside_portal", "explanation",
					 route.explanation));
		routing_route_finish(&route);
		goto fail;
	}
	in->agency_id = g_strdup(route.agency_id);
	in->explanation = json_incref(route.explanation);
	in->rule_code = g_strdup(route.rule_code);
	routing_route_finish(&route);

	const char *nid = json_string_value(json_object_get(in->petitioner, "national_id"));
	store_new_id(in->id);
	seal_mac(c->seal, nid ? nid : in->id, in->mac);
	tracking_code(in->code);
	text_words(in->title, in->content, &in->picks, &in->words);
	/* intake_txn touches only the writer, *in and the seal: it runs on the writer thread. */
	if (store_write_off_loop(c->store, intake_txn, intake_done, in) < 0) {
		rpc_call_error(in->call, TD_ERR_RATE_LIMITED, NULL,
			       json_pack("{s:i}", "retry_after_s", 1));
		intake_free(in);
	}
	return;
fail:
	intake_free(in);
}

static struct intake *
intake_new(struct cases *c, struct rpc_call *call, json_t *params)
{
	struct intake *in = g_new0(struct intake, 1);
	in->c = c;
	in->call = call;
	in->params = json_incref(params);
	in->method = rpc_call_method(call);
	rpc_identity_copy(&in->who, rpc_call_identity(call));
	in->want_candidates = in->who.roles & (RPC_OFFICIAL | RPC_STAFF | RPC_LEADER);
	return in;
}

static void
petition_submit(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	struct intake *in = intake_new(c, call, params);
	sqlite3 *db = store_reader(c->store);
	in->petitioner = account_person(db, in->who.user_id);
	if (!in->petitioner) {
		rpc_call_error(call, TD_ERR_UNAUTHENTICATED, NULL, NULL);
		intake_free(in);
		return;
	}
	const char *address = json_string_value(json_object_get(params, "address"));
	if (address) {
		char *a = clean_text(address, 500);
		if (!a) {
			rpc_call_invalid(call, "/address", "empty");
			intake_free(in);
			return;
		}
		json_object_set_new(in->petitioner, "address", json_string(a));
		g_free(a);
	}
	in->petitioner_user_id = g_strdup(in->who.user_id);
	in->via = g_strdup("online");
	in->received_on = today_text();
	intake_start(in);
}

/* The account of a paper petitioner, when one exists with the same national id. */
static char *
user_by_national_id(sqlite3 *db, const char *nid)
{
	return store_query_text(db, "SELECT id FROM users WHERE national_id = ?1",
				(const char *const[]){nid}, 1);
}

static void
petition_register(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	json_t *pet = json_object_get(params, "petitioner");
	const char *received_on = json_string_value(json_object_get(params, "received_on"));
	struct intake *in = intake_new(c, call, json_object());
	/* The petitioner and the channel are not routing facts: kept apart from params. */
	json_decref(in->params);
	in->params = json_deep_copy(params);
	json_object_del(in->params, "petitioner");
	json_object_del(in->params, "via");
	json_object_del(in->params, "received_on");

	char *today = today_text();
	if (strcmp(received_on, today) > 0) {
		rpc_call_invalid(call, "/received_on", "future");
		goto fail;
	}
	const char *keys[] = {"full_name", "national_id", "phone", "address", "email"};
	const char *key;
	json_t *v;
	json_object_foreach(pet, key, v)
	{
		bool known = false;
		for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
			known = known || strcmp(keys[i], key) == 0;
		}
		if (!known || !json_is_string(v)) {
			char ptr[64];
			g_snprintf(ptr, sizeof(ptr), "/petitioner/%s", key);
			rpc_call_invalid(call, ptr, known ? "type" : "unknown");
			goto fail;
		}
	}
	char *name = normalize_person_name(json_string_value(json_object_get(pet, "full_name")));
	if (!name) {
		rpc_call_invalid(call, "/petitioner/full_name", "format");
		goto fail;
	}
	const char *nid = json_string_value(json_object_get(pet, "national_id"));
	if (!valid_nid(nid)) {
		g_free(name);
		rpc_call_invalid(call, "/petitioner/national_id", "format");
		goto fail;
	}
	char *address = clean_text(json_string_value(json_object_get(pet, "address")), 500);
	in->petitioner = json_pack("{s:s, s:s, s:o, s:o, s:o}", "full_name", name, "national_id",
				   nid, "phone",
				   json_string_value(json_object_get(pet, "phone"))
					   ? json_incref(json_object_get(pet, "phone"))
					   : json_null(),
				   "email",
				   json_string_value(json_object_get(pet, "email"))
					   ? json_incref(json_object_get(pet, "email"))
					   : json_null(),
				   "address", address ? json_string(address) : json_null());
	g_free(name);
	g_free(address);
	in->petitioner_user_id = user_by_national_id(store_reader(c->store), nid);
	in->via = g_strdup(json_string_value(json_object_get(params, "via")));
	in->received_on = g_strdup(received_on);
	g_free(today);
	intake_start(in);
	return;
fail:
	g_free(today);
	intake_free(in);
}

/* ---- moves: every change of an existing case ---- */

struct move {
	struct cases *c;
	struct rpc_call *call;
	const struct transition *t;
	struct rpc_identity who;
	json_t *params;
	char *case_id;
	/* set by the transaction */
	int code;        /* 0, or the wire error to answer */
	const char *message;
	json_t *error_data;
	int64_t seq;     /* the timeline event written */
	bool note_only;
};

static void
move_free(struct move *m)
{
	rpc_identity_clear(&m->who);
	json_decref(m->params);
	json_decref(m->error_data);
	g_free(m->case_id);
	g_free(m);
}

static int
refuse(struct move *m, int code, const char *message, json_t *data)
{
	m->code = code;
	m->message = message;
	m->error_data = data;
	return 0; /* nothing was written: the savepoint keeps nothing anyway */
}

/* An UPDATE or INSERT whose ?1 is the case id and ?2… the values. */
static int
exec_update(sqlite3 *db, const char *sql, const char *id, const char *const *vals, int n)
{
	const char *params[8];
	g_return_val_if_fail(n < (int)G_N_ELEMENTS(params), -EINVAL);
	params[0] = id;
	memcpy(params + 1, vals, sizeof(*vals) * (size_t)n);
	return store_exec_text(db, sql, params, n + 1);
}

static int
set_status(sqlite3 *db, const char *id, const char *status, const char *now)
{
	const char *v[] = {status, now};
	return exec_update(db, "UPDATE cases SET status = ?2, updated_at = ?3 WHERE id = ?1", id, v,
			   2);
}

/* The routing facts of a stored case, for case.forward and case.appeal. */
static void
request_of(const struct case_row *r, json_t *resp, struct routing_request *req)
{
	memset(req, 0, sizeof(*req));
	req->kind = r->kind;
	req->field = r->field;
	req->locality_code = r->locality_code;
	req->instance = r->instance;
	req->respondent_type = json_string_value(json_object_get(resp, "type"));
	req->respondent_agency_id = json_string_value(json_object_get(resp, "agency_id"));
	req->respondent_position = json_string_value(json_object_get(resp, "position"));
	req->first_resolver_id = r->first_resolver_id;
}

static bool
holds_role_in(sqlite3 *db, const char *user_id, const char *agency_id)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;
	if (store_stmt_get(db, "SELECT 1 FROM user_roles r JOIN users u ON u.id = r.user_id WHERE "
			       "r.user_id = ?1 AND r.agency_id = ?2 AND r.role IN ('official', "
			       "'leader') AND u.disabled = 0", &st) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, agency_id, -1, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_ROW;
	}
	store_stmt_release(st);
	return ok;
}

/*
 * One move in one transaction: read the case on the writer, check the
 * caller's right to it and the state machine, apply, and append the timeline
 * event. Two officials acting at once are serialised by the store: the
 * second one reads the first one's status and gets -32009.
 */
static int
move_txn(sqlite3 *db, void *data)
{
	struct move *m = data;
	struct cases *c = m->c;
	json_t *p = m->params;
	const char *method = m->t ? m->t->method : rpc_call_method(m->call);
	struct case_row r;
	char now[STORE_TIME_SIZE];
	int e;

	int lr = row_load(db, m->case_id, &r);
	if (lr == -ENOENT || (lr == 0 && !case_visible(c, db, &m->who, &r))) {
		row_clear(&r);
		return refuse(m, TD_ERR_NOT_FOUND, NULL, NULL);
	}
	if (lr < 0) {
		return lr;
	}
	store_time_now(now);
	char *today = today_text();
	json_t *ev = json_object();
	static const char *const past[][2] = {
		{"case.accept", "accepted"},   {"case.guide", "guided"},
		{"case.reject", "rejected"},   {"case.file", "filed"},
		{"petition.withdraw", "withdrawn"}, {"case.suspend", "suspended"},
		{"case.resume", "resumed"},    {"case.extend", "extended"},
		{"case.decide", "decided"},    {"case.close", "closed"},
		{"case.terminate", "terminated"}, {"case.assign", "assigned"},
		{"case.classify", "classified"}, {"case.note", "note"},
	};
	const char *action = strchr(method, '.') + 1;
	for (size_t i = 0; i < G_N_ELEMENTS(past); i++) {
		if (strcmp(past[i][0], method) == 0) {
			action = past[i][1];
		}
	}

	if (strcmp(method, "case.note") == 0) {
		json_object_set(ev, "text", json_object_get(p, "text"));
		json_object_set_new(ev, "internal",
				    json_boolean(json_is_true(json_object_get(p, "internal"))));
		goto write;
	}
	bool actor_ok = m->t->actor == ACT_OWNER ? citizen_owns(c, db, &m->who, &r)
						 : may_act(&m->who, &r, m->t->actor);
	if (!actor_ok) {
		/* The caller sees the case but is not the one to act on it. */
		row_clear(&r);
		g_free(today);
		json_decref(ev);
		return refuse(m, TD_ERR_FORBIDDEN, "not responsible for this case",
			      json_pack("{s:s}", "reason", "not_responsible"));
	}
	if (!case_transition_allowed(m->t, r.status, r.kind)) {
		json_t *d = json_pack("{s:s, s:s, s:s}", "reason", "invalid_transition", "status",
				      r.status, "kind", r.kind);
		row_clear(&r);
		g_free(today);
		json_decref(ev);
		return refuse(m, TD_ERR_CONFLICT, "not allowed in this state", d);
	}

	if (strcmp(method, "case.accept") == 0) {
		const char *v[] = {"accepted", today, now};
		e = exec_update(db,
				"UPDATE cases SET status = ?2, stage_started_on = ?3, updated_at = ?4 "
				"WHERE id = ?1",
				r.id, v, 3);
	} else if (strcmp(method, "case.forward") == 0) {
		const char *to = json_string_value(json_object_get(p, "to_agency_id"));
		json_t *resp = r.respondent ? json_loads(r.respondent, 0, NULL) : NULL;
		struct routing_request req;
		json_t *expl = NULL;
		request_of(&r, resp, &req);
		if (r.forwards > 0) {
			json_decref(resp);
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			return refuse(m, TD_ERR_CONFLICT, "already forwarded once",
				      json_pack("{s:s}", "reason", "forwarded_once"));
		}
		bool competent = strcmp(to, r.agency_id) != 0 &&
				 routing_is_competent(db, &req, to, &expl);
		json_decref(resp);
		if (!competent) {
			/* Counted by the reports as a wrong forward refused (docs/reports.md). */
			const char *rv[] = {r.agency_id, to, today};
			e = exec_update(db,
					"INSERT INTO report_refusals (case_rowid, agency_id, to_agency_id, "
					"day) SELECT rowid, ?2, ?3, ?4 FROM cases WHERE id = ?1",
					r.id, rv, 3);
			if (e < 0) {
				json_decref(expl);
				json_decref(ev);
				row_clear(&r);
				g_free(today);
				return e;
			}
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			return refuse(m, TD_ERR_CONFLICT, "the target agency is not competent",
				      json_pack("{s:s, s:o}", "reason", "not_competent",
						"explanation", expl ? expl : json_null()));
		}
		json_object_set_new(ev, "from_agency_id", json_string(r.agency_id));
		json_object_set_new(ev, "to_agency_id", json_string(to));
		json_object_set(ev, "reason", json_object_get(p, "reason"));
		json_object_set_new(ev, "explanation", expl);
		const char *v[] = {to, today, now};
		e = exec_update(db,
				"UPDATE cases SET agency_id = ?2, status = 'received', "
				"stage_started_on = ?3, assigned_official_id = NULL, "
				"forwards = forwards + 1, updated_at = ?4 WHERE id = ?1",
				r.id, v, 3);
		if (e == 0) {
			const char *h[] = {to, now};
			e = exec_update(db,
					"INSERT OR IGNORE INTO case_holders (case_id, agency_id, "
					"since) VALUES (?1, ?2, ?3)",
					r.id, h, 2);
		}
		action = "forwarded";
	} else if (strcmp(method, "case.guide") == 0 || strcmp(method, "case.reject") == 0 ||
		   strcmp(method, "case.file") == 0 || strcmp(method, "case.close") == 0 ||
		   strcmp(method, "case.terminate") == 0 ||
		   strcmp(method, "petition.withdraw") == 0) {
		const char *keys[] = {"text", "to_agency_id", "reason_code", "reason", "notice_no"};
		for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
			json_t *v = json_object_get(p, keys[i]);
			if (v) {
				json_object_set(ev, keys[i], v);
			}
		}
		e = set_status(db, r.id, m->t->to, now);
	} else if (strcmp(method, "case.suspend") == 0 || strcmp(method, "case.resume") == 0) {
		json_t *ranges = json_loads(r.suspended_days ? r.suspended_days : "[]", 0, NULL);
		if (!ranges) {
			ranges = json_array();
		}
		if (strcmp(method, "case.suspend") == 0) {
			json_array_append_new(ranges, json_pack("{s:s, s:n}", "from", today, "to"));
		} else {
			/* The clock stood from the suspension to the day before the resumption. */
			json_t *last = json_array_get(ranges, json_array_size(ranges) - 1);
			GDate d;
			char buf[16] = "";
			if (date_of(today, &d)) {
				g_date_subtract_days(&d, 1);
				td_calendar_date_format(&d, buf);
			}
			json_object_set_new(last, "to", json_string(buf));
		}
		char *text = json_dumps(ranges, JSON_COMPACT);
		const char *v[] = {m->t->to, text, now};
		e = exec_update(db,
				"UPDATE cases SET status = ?2, suspended_days = ?3, updated_at = ?4 "
				"WHERE id = ?1",
				r.id, v, 3);
		free(text);
		json_decref(ranges);
		json_object_set(ev, "reason", json_object_get(p, "reason"));
	} else if (strcmp(method, "case.extend") == 0) {
		/* LTC 30: a complex denunciation once, an especially complex one twice. */
		if (strcmp(r.kind, "denunciation") != 0 || r.extensions >= r.complex) {
			json_t *d = json_pack("{s:s, s:i, s:i}", "reason", "no_extension_left",
					      "complexity", r.complex, "extensions", r.extensions);
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			return refuse(m, TD_ERR_CONFLICT, "no extension allowed", d);
		}
		const char *v[] = {now};
		e = exec_update(db,
				"UPDATE cases SET extensions = extensions + 1, updated_at = ?2 "
				"WHERE id = ?1",
				r.id, v, 1);
		json_object_set(ev, "reason", json_object_get(p, "reason"));
		json_object_set_new(ev, "days", json_integer(30));
	} else if (strcmp(method, "case.decide") == 0) {
		GDate d, eff;
		char effective[16] = "";
		if (date_of(today, &d)) {
			/* Legal effect 30 days after issue when no appeal comes (LKN 44). */
			struct td_deadline_spec spec = {.event_on = d,
							.unit = TD_UNIT_CALENDAR_DAYS,
							.days = 30};
			json_t *x = NULL;
			if (td_calendar_deadline(c->cal, &spec, &eff, &x) == 0) {
				td_calendar_date_format(&eff, effective);
			}
			json_decref(x);
		}
		const char *v[] = {json_string_value(json_object_get(p, "outcome")), today,
				   *effective ? effective : NULL, now};
		e = exec_update(db,
				"UPDATE cases SET status = 'decided', outcome = ?2, decided_on = ?3, "
				"effective_on = ?4, updated_at = ?5 WHERE id = ?1",
				r.id, v, 4);
		json_object_set(ev, "outcome", json_object_get(p, "outcome"));
		json_object_set(ev, "decision_no", json_object_get(p, "decision_no"));
		json_object_set(ev, "text", json_object_get(p, "text"));
	} else if (strcmp(method, "case.appeal") == 0) {
		/* Second instance at the direct superior of the first resolver (LKN 33). */
		GDate decided, today_d;
		if (r.instance != 1 || !date_of(r.decided_on, &decided) ||
		    !date_of(today, &today_d) || g_date_days_between(&decided, &today_d) > 30) {
			json_t *d = json_pack("{s:s}", "reason",
					      r.instance != 1 ? "second_instance" : "out_of_time");
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			return refuse(m, TD_ERR_CONFLICT, "no appeal possible", d);
		}
		json_t *resp = r.respondent ? json_loads(r.respondent, 0, NULL) : NULL;
		struct routing_request req;
		request_of(&r, resp, &req);
		req.instance = 2;
		req.first_resolver_id = r.agency_id;
		struct routing_route route;
		int rr = routing_route(db, &req, &route);
		json_decref(resp);
		if (rr < 0 || !route.agency_id) {
			json_t *d = json_pack("{s:s, s:o}", "reason", "outside_portal", "explanation",
					      rr == 0 ? json_incref(route.explanation) : json_null());
			if (rr == 0) {
				routing_route_finish(&route);
			}
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			return refuse(m, TD_ERR_CONFLICT, "the second instance is outside the portal",
				      d);
		}
		const char *v[] = {route.agency_id, r.agency_id, today, now};
		e = exec_update(db,
				"UPDATE cases SET status = 'received', instance = 2, agency_id = ?2, "
				"first_resolver_id = ?3, stage_started_on = ?4, outcome = NULL, "
				"decided_on = NULL, effective_on = NULL, assigned_official_id = NULL, "
				"updated_at = ?5 WHERE id = ?1",
				r.id, v, 4);
		if (e == 0) {
			const char *h[] = {route.agency_id, now};
			e = exec_update(db,
					"INSERT OR IGNORE INTO case_holders (case_id, agency_id, "
					"since) VALUES (?1, ?2, ?3)",
					r.id, h, 2);
		}
		json_object_set_new(ev, "to_agency_id", json_string(route.agency_id));
		json_object_set_new(ev, "explanation", json_incref(route.explanation));
		json_object_set(ev, "content", json_object_get(p, "content"));
		routing_route_finish(&route);
		action = "appealed";
	} else if (strcmp(method, "case.assign") == 0) {
		const char *official = json_string_value(json_object_get(p, "official_id"));
		if (!holds_role_in(db, official, r.agency_id)) {
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			m->code = TD_ERR_INVALID_PARAMS;
			m->error_data = json_pack("{s:s, s:s}", "field", "/official_id", "reason",
						  "not_in_agency");
			return 0;
		}
		const char *v[] = {official, now};
		e = exec_update(db,
				"UPDATE cases SET assigned_official_id = ?2, updated_at = ?3 WHERE "
				"id = ?1",
				r.id, v, 2);
		json_object_set_new(ev, "official_id", json_string(official));
	} else if (strcmp(method, "case.classify") == 0) {
		const char *kind = json_string_value(json_object_get(p, "kind"));
		if (kind && (strcmp(kind, "denunciation") == 0) != (strcmp(r.kind, "denunciation") == 0)) {
			/* The identity is sealed for denunciations only: re-file, do not reclassify. */
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			return refuse(m, TD_ERR_CONFLICT, "a denunciation stays a denunciation",
				      json_pack("{s:s}", "reason", "denunciation_kind"));
		}
		json_t *mass = json_object_get(p, "mass");
		json_t *cx = json_object_get(p, "complex");
		json_t *level = json_object_get(p, "complexity");
		int complexity = r.complex;
		if (level) {
			complexity = (int)json_integer_value(level);
		} else if (cx) {
			complexity = json_is_true(cx) ? MAX(r.complex, 1) : 0;
		}
		char cbuf[4], mbuf[4];
		g_snprintf(cbuf, sizeof(cbuf), "%d", complexity);
		g_snprintf(mbuf, sizeof(mbuf), "%d", mass ? json_is_true(mass) : r.mass);
		const char *v[] = {kind ? kind : r.kind,
				   json_string_value(json_object_get(p, "field"))
					   ? json_string_value(json_object_get(p, "field"))
					   : r.field,
				   mbuf, cbuf, now};
		e = exec_update(db,
				"UPDATE cases SET kind = ?2, field = ?3, mass = CAST(?4 AS INTEGER), "
				"complex = CAST(?5 AS INTEGER), updated_at = ?6 WHERE id = ?1",
				r.id, v, 5);
		json_object_update(ev, p);
		json_object_del(ev, "case_id");
	} else if (strcmp(method, "case.link_duplicate") == 0) {
		const char *of = json_string_value(json_object_get(p, "of_case_id"));
		struct case_row o;
		int lo = row_load(db, of, &o);
		bool ok = lo == 0 && strcmp(of, r.id) != 0 && case_visible(c, db, &m->who, &o);
		row_clear(&o);
		if (!ok) {
			json_decref(ev);
			row_clear(&r);
			g_free(today);
			return refuse(m, TD_ERR_NOT_FOUND, NULL,
				      json_pack("{s:s}", "field", "/of_case_id"));
		}
		const char *v[] = {of, now};
		e = exec_update(db, "UPDATE cases SET duplicate_of = ?2, updated_at = ?3 WHERE id = ?1",
				r.id, v, 2);
		json_object_set_new(ev, "of_case_id", json_string(of));
		action = "linked_duplicate";
	} else {
		e = -EINVAL;
	}
	if (e < 0) {
		json_decref(ev);
		row_clear(&r);
		g_free(today);
		return e;
	}
	if (m->t->to && strcmp(method, "case.forward") != 0 && strcmp(method, "case.appeal") != 0) {
		json_object_set_new(ev, "status", json_string(m->t->to));
	}
write:
	e = timeline_append(db, r.id, m->who.user_id, action, ev, &m->seq);
	json_decref(ev);
	row_clear(&r);
	g_free(today);
	return e;
}

static void
move_done(int status, void *data)
{
	struct move *m = data;
	struct cases *c = m->c;
	if (status < 0) {
		td_error(MOD, "case change not stored", "case=%s err=%d", m->case_id, status);
		rpc_call_error(m->call, TD_ERR_INTERNAL, NULL, NULL);
	} else if (m->code) {
		rpc_call_error(m->call, m->code, m->message, json_incref(m->error_data));
	} else {
		struct case_row r;
		sqlite3 *db = store_reader(c->store);
		if (row_load(db, m->case_id, &r) == 0) {
			if (m->note_only) {
				rpc_call_reply(m->call, json_pack("{s:I}", "seq", (json_int_t)m->seq));
			} else {
				rpc_call_reply(m->call,
					       json_pack("{s:o}", "case", case_json(c, db, &m->who, &r)));
			}
			announce(c, &r, NULL);
			row_clear(&r);
		} else {
			rpc_call_error(m->call, TD_ERR_INTERNAL, NULL, NULL);
		}
	}
	move_free(m);
}

static void
case_move(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	struct move *m = g_new0(struct move, 1);
	m->c = c;
	m->call = call;
	m->t = case_transition_for(rpc_call_method(call));
	m->note_only = strcmp(rpc_call_method(call), "case.note") == 0;
	m->params = json_incref(params);
	m->case_id = g_strdup(json_string_value(json_object_get(params, "case_id")));
	rpc_identity_copy(&m->who, rpc_call_identity(call));
	if (store_write(c->store, move_txn, move_done, m) < 0) {
		rpc_call_error(call, TD_ERR_RATE_LIMITED, NULL, json_pack("{s:i}", "retry_after_s", 1));
		move_free(m);
	}
}

/* ---- reads ---- */

bool
cases_visible(struct cases *c, const struct rpc_identity *id, const char *case_id)
{
	sqlite3 *db = store_reader(c->store);
	struct case_row r;
	bool seen = row_load(db, case_id, &r) == 0 && case_visible(c, db, id, &r);
	row_clear(&r);
	return seen;
}

static void
case_get(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	sqlite3 *db = store_reader(c->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	struct case_row r;
	int e = row_load(db, json_string_value(json_object_get(params, "case_id")), &r);
	if (e == -ENOENT || (e == 0 && !case_visible(c, db, id, &r))) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
	} else if (e < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
	} else {
		json_t *cj = case_json(c, db, id, &r);
		/* Officials of the responsible agency see the petitioner's earlier related cases. */
		if (access_holds(id, RPC_OFFICIAL | RPC_LEADER, r.agency_id)) {
			struct intake probe = {0};
			probe.c = c;
			memcpy(probe.id, r.id, sizeof(probe.id) - 1);
			probe.self_rowid = r.rowid;
			probe.want_candidates = true;
			g_strlcpy(probe.mac, r.petitioner_mac, sizeof(probe.mac));
			json_t *resp = r.respondent ? json_loads(r.respondent, 0, NULL) : NULL;
			probe.params = json_pack("{s:o, s:s}", "respondent", resp ? resp : json_null(),
						 "field", r.field);
			text_words(r.title, r.content, &probe.picks, &probe.words);
			find_related(db, &probe);
			json_object_set_new(cj, "related_cases", visible_only(c, db, id, probe.candidates));
			json_decref(probe.candidates);
			g_hash_table_destroy(probe.picks);
			g_free(probe.words);
			json_decref(probe.params);
		}
		rpc_call_reply(call, json_pack("{s:o}", "case", cj));
	}
	row_clear(&r);
}

static void
case_timeline(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	sqlite3 *db = store_reader(c->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	struct case_row r;
	int e = row_load(db, json_string_value(json_object_get(params, "case_id")), &r);
	if (e == -ENOENT || (e == 0 && !case_visible(c, db, id, &r))) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		row_clear(&r);
		return;
	}
	/* Internal notes are for the agency side; a denouncer's own acts show no actor. */
	bool agency_side = agency_side_sees(c, db, id, &r);
	bool identity = sees_identity(id, &r);
	sqlite3_stmt *st = NULL;
	json_t *items = json_array();
	if (store_stmt_get(db, "SELECT seq, at, actor_id, action, data, prev_hash, hash FROM timeline "
			       "WHERE case_id = ?1 ORDER BY seq", &st) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r.id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *d = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
			if (!agency_side && json_is_true(json_object_get(d, "internal"))) {
				json_decref(d);
				continue;
			}
			const char *actor = (const char *)sqlite3_column_text(st, 2);
			bool hide = actor && !identity && r.petitioner_user_id &&
				    strcmp(actor, r.petitioner_user_id) == 0;
			json_array_append_new(
				items,
				json_pack("{s:I, s:s, s:o, s:s, s:o, s:s, s:s}", "seq",
					  (json_int_t)sqlite3_column_int64(st, 0), "at",
					  (const char *)sqlite3_column_text(st, 1), "actor",
					  actor && !hide ? json_string(actor) : json_null(), "action",
					  (const char *)sqlite3_column_text(st, 3), "data",
					  d ? d : json_object(), "prev_hash",
					  (const char *)sqlite3_column_text(st, 5), "hash",
					  (const char *)sqlite3_column_text(st, 6)));
		}
	}
	store_stmt_release(st);
	row_clear(&r);
	rpc_call_reply(call, json_pack("{s:o}", "items", items));
}

static void
case_verify_chain(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	sqlite3 *db = store_reader(c->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	struct case_row r;
	int e = row_load(db, json_string_value(json_object_get(params, "case_id")), &r);
	if (e == -ENOENT || (e == 0 && !agency_side_sees(c, db, id, &r))) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		row_clear(&r);
		return;
	}
	struct timeline_check chk;
	if (timeline_verify(db, r.id, &chk) < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
	} else {
		json_t *res = json_pack("{s:b, s:I, s:s}", "ok", chk.ok, "length",
					(json_int_t)chk.length, "head_hash", chk.head_hash);
		if (!chk.ok) {
			json_object_set_new(res, "first_bad_seq", json_integer(chk.first_bad_seq));
			td_warn(MOD, "timeline chain broken", "case=%s seq=%" G_GINT64_FORMAT, r.id,
				chk.first_bad_seq);
		}
		rpc_call_reply(call, res);
	}
	row_clear(&r);
}

/*
 * case.list: the caller's visible cases, newest first, filtered, with a
 * cursor "received_at|id" of the last item. A citizen's visibility is
 * expressed in SQL (own account or keyed national id); the agency side's by
 * the set of agencies the caller sees (computed from the grants over the
 * tree). Overdue is computed per row, so that filter is applied while
 * scanning.
 */
/*
 * case.list: the statements, one per kind of caller, each shaped so that SQLite
 * walks the cases newest first (rowid order: received_at is the time of the
 * insert) and stops at the page, whatever the size of the table:
 * - a citizen: their own cases through the indexes (a handful), each checked
 *   against q by one FTS lookup by rowid;
 * - the agency side with q: FTS5 drives (its doclists are in rowid order), each
 *   match checked for visibility through the primary keys;
 * - the agency side without q: the table newest first, visibility likewise.
 * Filters: ?4 status, ?5 kind, ?6 field, ?7 agency_id, ?8 mass; ?9 the FTS
 * query; ?10 the cursor (the last rowid shown; the largest rowid when none).
 */
#define LIST_FILTERS                                                                              \
	" AND (?4 IS NULL OR c.status = ?4) AND (?5 IS NULL OR c.kind = ?5)"                      \
	" AND (?6 IS NULL OR c.field = ?6) AND (?7 IS NULL OR c.agency_id = ?7)"                  \
	" AND (?8 IS NULL OR c.mass = ?8)"
#define SEES_AS_CITIZEN                                                                           \
	"(c.petitioner_user_id = ?1 OR c.petitioner_mac = ?2 OR EXISTS (SELECT 1 FROM "           \
	"case_persons p WHERE p.case_id = c.id AND p.mac = ?2))"
#define SEES_AS_AGENCY                                                                            \
	"(c.agency_id IN (SELECT value FROM json_each(?3)) OR EXISTS (SELECT 1 FROM "             \
	"case_holders h WHERE h.case_id = c.id AND h.agency_id IN (SELECT value FROM "            \
	"json_each(?3))))"
#define MATCHES_Q                                                                                 \
	"(?9 IS NULL OR EXISTS (SELECT 1 FROM cases_fts WHERE cases_fts MATCH ?9 AND rowid = "    \
	"c.rowid))"

static const char list_citizen_sql[] =
	"SELECT " CASE_COLUMNS_C " FROM cases c WHERE c.rowid IN ("
	" SELECT rowid FROM cases WHERE petitioner_user_id = ?1"
	" UNION SELECT rowid FROM cases WHERE petitioner_mac = ?2"
	" UNION SELECT c2.rowid FROM case_persons p JOIN cases c2 ON c2.id = p.case_id"
	"  WHERE p.mac = ?2)" LIST_FILTERS " AND c.rowid < ?10 AND " MATCHES_Q
	" ORDER BY c.rowid DESC";
static const char list_agency_q_sql[] =
	"SELECT " CASE_COLUMNS_C " FROM cases_fts f JOIN cases c ON c.rowid = f.rowid"
	" WHERE f.cases_fts MATCH ?9 AND f.rowid < ?10 AND " SEES_AS_AGENCY LIST_FILTERS
	" ORDER BY f.rowid DESC";
static const char list_agency_sql[] =
	"SELECT " CASE_COLUMNS_C " FROM cases c WHERE c.rowid < ?10 AND " SEES_AS_AGENCY
	LIST_FILTERS " ORDER BY c.rowid DESC";
/* Someone who is both a citizen and holds a role in an agency. */
static const char list_both_sql[] =
	"SELECT " CASE_COLUMNS_C " FROM cases c WHERE c.rowid < ?10 AND (" SEES_AS_CITIZEN
	" OR " SEES_AS_AGENCY ")" LIST_FILTERS " AND " MATCHES_Q " ORDER BY c.rowid DESC";

static void
case_list(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	sqlite3 *db = store_reader(c->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	json_int_t limit = json_object_get(params, "limit")
				   ? json_integer_value(json_object_get(params, "limit"))
				   : 20;
	/* The cursor is the rowid of the last case shown, in base64 ("r<rowid>"). */
	sqlite3_int64 before = INT64_MAX;
	const char *cursor = json_string_value(json_object_get(params, "cursor"));
	if (cursor) {
		gsize n = 0;
		guchar *raw = g_base64_decode(cursor, &n);
		char *text = raw ? g_strndup((const char *)raw, n) : NULL;
		char *end = NULL;
		gint64 v = text && text[0] == 'r' ? g_ascii_strtoll(text + 1, &end, 10) : 0;
		bool valid = end && end != text + 1 && *end == '\0' && v > 0;
		g_free(raw);
		g_free(text);
		if (!valid) {
			rpc_call_invalid(call, "/cursor", "format");
			return;
		}
		before = v;
	}
	/* The agencies the caller sees on the agency side. */
	json_t *agencies = json_array();
	for (size_t i = 0; i < id->n_grants; i++) {
		const struct rpc_grant *g = &id->grants[i];
		if (!g->agency_id) {
			continue;
		}
		const char *root = g->agency_id;
		char *parent = NULL;
		bool subtree = false;
		if (g->role == RPC_LEADER) {
			subtree = true;
		} else if (g->role == RPC_INSPECTOR) {
			sqlite3_stmt *st = NULL;
			if (store_stmt_get(db, "SELECT parent_id FROM agencies WHERE id = ?1 AND "
					       "level = 'inspectorate'", &st) == SQLITE_OK) {
				sqlite3_bind_text(st, 1, g->agency_id, -1, SQLITE_STATIC);
				if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
					parent = col(st, 0);
				}
			}
			store_stmt_release(st);
			if (!parent) {
				continue;
			}
			root = parent;
			subtree = true;
		}
		if (!subtree) {
			json_array_append_new(agencies, json_string(root));
		} else {
			sqlite3_stmt *st = NULL;
			if (store_stmt_get(db, "WITH RECURSIVE t(id) AS (SELECT ?1 UNION SELECT "
					       "a.id FROM agencies a JOIN t ON a.parent_id = t.id) "
					       "SELECT id FROM t", &st) == SQLITE_OK) {
				sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
				while (sqlite3_step(st) == SQLITE_ROW) {
					json_array_append_new(
						agencies,
						json_string((const char *)sqlite3_column_text(st, 0)));
				}
			}
			store_stmt_release(st);
		}
		g_free(parent);
	}
	bool agency_side = json_array_size(agencies) > 0;
	char *agencies_text = json_dumps(agencies, JSON_COMPACT);
	json_decref(agencies);
	bool citizen = (id->roles & RPC_CITIZEN) != 0;
	const char *mac = citizen ? citizen_mac(c, db, id->user_id) : "";
	char *q = NULL;
	const char *qtext = json_string_value(json_object_get(params, "q"));
	if (qtext) {
		/* Every word must appear (diacritics folded by the tokenizer). */
		char *any = fts_query(qtext, 12);
		if (any) {
			char **words = g_strsplit(any, " OR ", -1);
			q = g_strjoinv(" AND ", words);
			g_strfreev(words);
		}
		g_free(any);
		if (!q) {
			rpc_call_invalid(call, "/q", "empty");
			g_free(agencies_text);
			return;
		}
	}
	json_t *items = json_array();
	char *next = NULL;
	bool more = false;
	sqlite3_stmt *st = NULL;
	if (!citizen && !agency_side) {
		goto reply; /* sees no case */
	}
	const char *sql = citizen && agency_side ? list_both_sql
			  : citizen		 ? list_citizen_sql
			  : q			 ? list_agency_q_sql
						 : list_agency_sql;
	st = store_stmt(db, sql);
	if (!st) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	sqlite3_bind_text(st, 1, citizen ? id->user_id : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mac, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, agencies_text, -1, SQLITE_STATIC);
	const char *filters[] = {"status", "kind", "field", "agency_id"};
	for (int i = 0; i < 4; i++) {
		sqlite3_bind_text(st, 4 + i, json_string_value(json_object_get(params, filters[i])),
				  -1, SQLITE_STATIC);
	}
	if (json_object_get(params, "mass")) {
		sqlite3_bind_int(st, 8, json_is_true(json_object_get(params, "mass")));
	}
	sqlite3_bind_text(st, 9, q, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, before);
	json_t *want_overdue = json_object_get(params, "overdue");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct case_row r;
		row_read(st, &r);
		bool overdue = false;
		json_t *deadlines = case_deadlines(c, db, &r, &overdue, NULL);
		if (want_overdue && json_is_true(want_overdue) != overdue) {
			json_decref(deadlines);
			row_clear(&r);
			continue;
		}
		if ((json_int_t)json_array_size(items) == limit) {
			json_decref(deadlines);
			row_clear(&r);
			more = true;
			break;
		}
		json_array_append_new(
			items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:b, s:b, s:b, "
					 "s:b, s:s, s:s}",
					 "id", r.id, "tracking_code", r.tracking_code, "kind", r.kind,
					 "field", r.field, "title", r.title, "status", r.status,
					 "agency", agency_brief(db, r.agency_id), "received_at",
					 r.received_at, "deadlines", deadlines, "overdue", overdue,
					 "mass", r.mass, "complex", r.complex > 0,
					 "repeat_after_termination", r.repeat, "locality_code",
					 r.locality_code, "updated_at", r.updated_at));
		g_free(next);
		char *key = g_strdup_printf("r%" G_GINT64_FORMAT, (gint64)r.rowid);
		next = g_base64_encode((const guchar *)key, strlen(key));
		g_free(key);
		row_clear(&r);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		td_error(MOD, "case.list query", "err=\"%s\"", sqlite3_errmsg(db));
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
reply:
	rpc_call_reply(call, json_pack("{s:o, s:o}", "items", items, "next_cursor",
				       more && next ? json_string(next) : json_null()));
	items = NULL;
out:
	store_stmt_release(st);
	json_decref(items);
	g_free(next);
	g_free(q);
	g_free(agencies_text);
}

/* ---- attachments ---- */

/* file.ticket: for a user who may see some case holding the file. */
static void
file_ticket(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	sqlite3 *db = store_reader(c->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	const char *file_id = json_string_value(json_object_get(params, "file_id"));
	sqlite3_stmt *st = NULL;
	bool allowed = false;
	if (c->opts.files &&
	    store_stmt_get(db, "SELECT case_id FROM case_files WHERE file_id = ?1", &st) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
		while (!allowed && sqlite3_step(st) == SQLITE_ROW) {
			struct case_row r;
			if (row_load(db, (const char *)sqlite3_column_text(st, 0), &r) == 0) {
				allowed = case_visible(c, db, id, &r);
			}
			row_clear(&r);
		}
	}
	store_stmt_release(st);
	if (!allowed) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		return;
	}
	char *ticket = files_ticket(c->opts.files, file_id, id->user_id);
	char *url = g_strdup_printf("/api/files/%s?ticket=%s", file_id, ticket);
	rpc_call_reply(call, json_pack("{s:s, s:i}", "url", url, "expires_in", 300));
	g_free(url);
	g_free(ticket);
}

/* ---- the reception register ---- */

struct reception {
	struct cases *c;
	struct rpc_call *call;
	struct rpc_identity who;
	json_t *params;
	char id[23];
	char *agency_id;
	int code;
};

static int
reception_txn(sqlite3 *db, void *data)
{
	struct reception *rc = data;
	json_t *p = rc->params;
	char now[STORE_TIME_SIZE];
	const char *case_id = json_string_value(json_object_get(p, "case_id"));
	bool seal = g_strcmp0(json_string_value(json_object_get(p, "kind")), "denunciation") == 0;
	store_time_now(now);
	if (case_id) {
		struct case_row r;
		int e = row_load(db, case_id, &r);
		bool ok = e == 0 && access_holds(&rc->who, RPC_OFFICIAL | RPC_LEADER, r.agency_id);
		if (ok) {
			g_free(rc->agency_id);
			rc->agency_id = g_strdup(r.agency_id);
			seal = seal || strcmp(r.kind, "denunciation") == 0;
		}
		row_clear(&r);
		if (!ok) {
			rc->code = TD_ERR_NOT_FOUND;
			return 0;
		}
	}
	sqlite3_stmt *st = NULL;
	int r = store_stmt_get(db, "INSERT INTO receptions (id, agency_id, official_id, received_at, mode, leader_day, "
		"kind, people_count, citizens, citizens_sealed, summary, guidance, case_id, "
		"refused_reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
		"?12, ?13, ?14, ?15)", &st);
	if (r == SQLITE_OK) {
		sqlite3_bind_text(st, 1, rc->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rc->agency_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, rc->who.user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, json_string_value(json_object_get(p, "received_at")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 5, json_string_value(json_object_get(p, "mode")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_int(st, 6, json_is_true(json_object_get(p, "leader_day")));
		sqlite3_bind_text(st, 7, json_string_value(json_object_get(p, "kind")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, json_integer_value(json_object_get(p, "people_count")));
		bind_identity(rc->c, st, 9, 10, json_object_get(p, "citizens"), seal);
		sqlite3_bind_text(st, 11, json_string_value(json_object_get(p, "summary")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 12, json_string_value(json_object_get(p, "guidance")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 13, case_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 14, json_string_value(json_object_get(p, "refused_reason")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 15, now, -1, SQLITE_STATIC);
		r = sqlite3_step(st);
	}
	store_stmt_release(st);
	if (r != SQLITE_DONE) {
		return store_errno(r);
	}
	if (case_id) {
		json_t *ev = json_pack("{s:s, s:O, s:O, s:O, s:b}", "reception_id", rc->id, "mode",
				       json_object_get(p, "mode"), "people_count",
				       json_object_get(p, "people_count"), "received_at",
				       json_object_get(p, "received_at"), "refused",
				       json_object_get(p, "refused_reason") != NULL);
		int e = timeline_append(db, case_id, rc->who.user_id, "reception", ev, NULL);
		json_decref(ev);
		return e;
	}
	return 0;
}

static void
reception_done(int status, void *data)
{
	struct reception *rc = data;
	if (status < 0) {
		rpc_call_error(rc->call, TD_ERR_INTERNAL, NULL, NULL);
	} else if (rc->code) {
		rpc_call_error(rc->call, rc->code, NULL, NULL);
	} else {
		rpc_call_reply(rc->call, json_pack("{s:s}", "reception_id", rc->id));
	}
	rpc_identity_clear(&rc->who);
	json_decref(rc->params);
	g_free(rc->agency_id);
	g_free(rc);
}

static void
reception_record(struct rpc_call *call, json_t *params, void *data)
{
	struct cases *c = data;
	const struct rpc_identity *id = rpc_call_identity(call);
	json_t *citizens = json_object_get(params, "citizens");
	size_t i;
	json_t *p;
	if (json_array_size(citizens) == 0) {
		rpc_call_invalid(call, "/citizens", "empty");
		return;
	}
	json_array_foreach(citizens, i, p)
	{
		char ptr[48];
		const char *nid = json_string_value(json_object_get(p, "national_id"));
		char *name = normalize_person_name(json_string_value(json_object_get(p, "full_name")));
		const char *key;
		json_t *kv;
		bool unknown = false;
		json_object_foreach(json_is_object(p) ? p : NULL, key, kv)
		{
			unknown = unknown || (strcmp(key, "full_name") != 0 &&
					      strcmp(key, "national_id") != 0);
		}
		const char *why = !json_is_object(p) ? "type"
				  : unknown             ? "unknown"
				  : !name               ? "format"
				  : (json_object_get(p, "national_id") && !valid_nid(nid)) ? "format"
											    : NULL;
		g_free(name);
		if (why) {
			g_snprintf(ptr, sizeof(ptr), "/citizens/%zu", i);
			rpc_call_invalid(call, ptr, why);
			return;
		}
	}
	struct reception *rc = g_new0(struct reception, 1);
	rc->c = c;
	rc->call = call;
	rc->params = json_incref(params);
	rpc_identity_copy(&rc->who, id);
	store_new_id(rc->id);
	for (size_t g = 0; g < id->n_grants && !rc->agency_id; g++) {
		if (id->grants[g].role & (RPC_OFFICIAL | RPC_LEADER)) {
			rc->agency_id = g_strdup(id->grants[g].agency_id);
		}
	}
	if (!rc->agency_id || store_write(c->store, reception_txn, reception_done, rc) < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		rpc_identity_clear(&rc->who);
		json_decref(rc->params);
		g_free(rc->agency_id);
		g_free(rc);
	}
}

/* ---- the overdue sweep ---- */

struct sweep_ctx {
	struct cases *c;
	struct case_row *row;
	json_t *params;
};

static void
warn_handler(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *id, void *data)
{
	struct sweep_ctx *s = data;
	if (access_holds(id, RPC_OFFICIAL | RPC_LEADER, s->row->agency_id)) {
		rpc_notify(rpc, client_id, "event.case.updated", json_incref(s->params));
	}
}

/*
 * Every open case: overdue, or due within two working days. A change of that
 * state since the last sweep is announced to the responsible agency's
 * officials and leaders.
 */
void
cases_sweep(struct cases *c)
{
	sqlite3 *db = store_reader(c->store);
	sqlite3_stmt *st = NULL;
	char *t = today_text();
	GDate today;
	bool have_today = date_of(t, &today);
	g_free(t);
	if (!have_today || store_stmt_get(db, "SELECT " CASE_COLUMNS " FROM cases WHERE status IN "
					      "('received', 'accepted')", &st) != SQLITE_OK) {
		return;
	}
	unsigned announced = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct case_row r;
		row_read(st, &r);
		bool overdue = false;
		GDate due;
		json_decref(case_deadlines(c, db, &r, &overdue, &due));
		const char *state = NULL;
		int left = 0;
		if (overdue) {
			state = "overdue";
		} else if (g_date_valid(&due) &&
			   td_calendar_working_days_between(c->cal, &today, &due, &left) == 0 &&
			   left <= 2) {
			state = "due_soon";
		}
		const char *before = g_hash_table_lookup(c->warned, r.id);
		if (g_strcmp0(before, state) != 0) {
			if (state) {
				g_hash_table_insert(c->warned, g_strdup(r.id), (gpointer)state);
				struct sweep_ctx s = {.c = c, .row = &r};
				s.params = json_pack("{s:s, s:s, s:b, s:s}", "case_id", r.id, "status",
						     r.status, "overdue", overdue, "warning", state);
				rpc_foreach_identity(c->rpc, warn_handler, &s);
				json_decref(s.params);
				announced++;
			} else {
				g_hash_table_remove(c->warned, r.id);
			}
		}
		row_clear(&r);
	}
	store_stmt_release(st);
	if (announced) {
		td_info(MOD, "deadline sweep", "announced=%u", announced);
	}
}

static gboolean
sweep_tick(gpointer data)
{
	cases_sweep(data);
	return G_SOURCE_CONTINUE;
}

/* ---- the table ---- */

static const char *const outcomes[] = {"upheld", "partly_upheld", "rejected", NULL};
static const char *const reject_reasons[] = {"out_of_time",   "no_interest",      "already_final",
					     "withdrawn_before", "incomplete_group", "other",
					     NULL};
static const char *const file_reasons[] = {"anonymous", "false_name", "missing_content",
					   "not_vietnamese", "several_kinds", "other", NULL};
static const char *const statuses[] = {"received", "accepted", "suspended", "forwarded",
				       "guided",   "rejected", "filed",     "withdrawn",
				       "decided",  "closed",   "terminated", NULL};
static const char *const modes[] = {"in_person", "online", NULL};

#define CASE_ID {.name = "case_id", .type = RPC_T_ID, .required = true}
#define TEXT(n, req) {.name = n, .type = RPC_T_STRING, .required = req, .min = 1, .max = 20000}
#define RESPONDENT_SCHEMA                                                                         \
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"type\"],"            \
	"\"properties\":{\"type\":{\"enum\":[\"agency\",\"official\",\"decision\"]},"              \
	"\"agency_id\":{\"type\":\"string\"},\"position\":{\"enum\":[\"staff\",\"leader\"]},"      \
	"\"name\":{\"type\":\"string\"},\"decision_no\":{\"type\":\"string\"},"                    \
	"\"decision_date\":{\"type\":\"string\",\"format\":\"date\"}}}"
#define PERSONS_SCHEMA                                                                            \
	"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":false,"      \
	"\"required\":[\"full_name\",\"national_id\"],\"properties\":{\"full_name\":{\"type\":"   \
	"\"string\"},\"national_id\":{\"type\":\"string\",\"pattern\":\"^[0-9]{12}$\"}}}}"

#define PETITION_PARAMS                                                                           \
	{.name = "kind", .type = RPC_T_ENUM, .required = true, .enum_values = kinds},             \
	{.name = "field", .type = RPC_T_STRING, .required = true, .min = 1, .max = 64},       \
	TEXT("title", true), TEXT("content", true),                                           \
	{.name = "locality_code", .type = RPC_T_STRING, .required = true, .min = 1, .max = 64}, \
	{.name = "respondent", .type = RPC_T_OBJECT, .schema = RESPONDENT_SCHEMA},            \
	{.name = "incident_date", .type = RPC_T_DATE},                                        \
	{.name = "co_petitioners", .type = RPC_T_ARRAY, .max = 500, .schema = PERSONS_SCHEMA}, \
	{.name = "representatives", .type = RPC_T_ARRAY, .max = 5,                            \
	 .description = "national ids of representatives, among the petitioners"},            \
	{.name = "file_ids", .type = RPC_T_ARRAY, .max = 20}

static const struct rpc_param submit_params[] = {
	PETITION_PARAMS,
	{.name = "address", .type = RPC_T_STRING, .min = 1, .max = 500,
	 .description = "required for a complaint or denunciation when the account has none"},
	{0},
};

static const struct rpc_param register_params[] = {
	PETITION_PARAMS,
	{.name = "petitioner", .type = RPC_T_OBJECT, .required = true,
	 .schema = "{\"type\":\"object\",\"required\":[\"full_name\",\"national_id\"],"
		   "\"properties\":{\"full_name\":{\"type\":\"string\"},\"national_id\":"
		   "{\"type\":\"string\"},\"phone\":{\"type\":\"string\"},\"email\":{\"type\":"
		   "\"string\"},\"address\":{\"type\":\"string\"}}}"},
	{.name = "via", .type = RPC_T_ENUM, .required = true, .enum_values = vias},
	{.name = "received_on", .type = RPC_T_DATE, .required = true},
	{0},
};

static const struct rpc_param case_only[] = {CASE_ID, {0}};
static const struct rpc_param reason_params[] = {CASE_ID, TEXT("reason", true), {0}};
static const struct rpc_param withdraw_params[] = {CASE_ID, TEXT("reason", true), {0}};
static const struct rpc_param assign_params[] = {
	CASE_ID, {.name = "official_id", .type = RPC_T_ID, .required = true}, {0}};
static const struct rpc_param classify_params[] = {
	CASE_ID,
	{.name = "kind", .type = RPC_T_ENUM, .enum_values = kinds},
	{.name = "field", .type = RPC_T_STRING, .min = 1, .max = 64},
	{.name = "mass", .type = RPC_T_BOOLEAN},
	{.name = "complex", .type = RPC_T_BOOLEAN},
	{.name = "complexity", .type = RPC_T_INTEGER, .min = 0, .max = 2,
	 .description = "0 simple, 1 complex, 2 especially complex (Decree 31 art. 3)"},
	TEXT("reason", false),
	{0},
};
static const struct rpc_param forward_params[] = {
	CASE_ID, {.name = "to_agency_id", .type = RPC_T_ID, .required = true},
	TEXT("reason", true), {0}};
static const struct rpc_param guide_params[] = {
	CASE_ID, TEXT("text", true), {.name = "to_agency_id", .type = RPC_T_ID}, {0}};
static const struct rpc_param reject_params[] = {
	CASE_ID,
	{.name = "reason_code", .type = RPC_T_ENUM, .required = true, .enum_values = reject_reasons},
	TEXT("text", true),
	{0},
};
static const struct rpc_param file_params[] = {
	CASE_ID,
	{.name = "reason_code", .type = RPC_T_ENUM, .required = true, .enum_values = file_reasons},
	TEXT("text", true),
	{0},
};
static const struct rpc_param note_params[] = {
	CASE_ID, TEXT("text", true), {.name = "internal", .type = RPC_T_BOOLEAN}, {0}};
static const struct rpc_param decide_params[] = {
	CASE_ID,
	{.name = "outcome", .type = RPC_T_ENUM, .required = true, .enum_values = outcomes},
	{.name = "decision_no", .type = RPC_T_STRING, .required = true, .min = 1, .max = 64},
	TEXT("text", true),
	{0},
};
static const struct rpc_param appeal_params[] = {CASE_ID, TEXT("content", true), {0}};
static const struct rpc_param close_params[] = {CASE_ID, TEXT("text", true), {0}};
static const struct rpc_param terminate_params[] = {
	CASE_ID, {.name = "notice_no", .type = RPC_T_STRING, .required = true, .min = 1, .max = 64},
	TEXT("reason", true), {0}};
static const struct rpc_param duplicate_params[] = {
	CASE_ID, {.name = "of_case_id", .type = RPC_T_ID, .required = true}, {0}};
static const struct rpc_param list_params[] = {
	{.name = "status", .type = RPC_T_ENUM, .enum_values = statuses},
	{.name = "kind", .type = RPC_T_ENUM, .enum_values = kinds},
	{.name = "field", .type = RPC_T_STRING, .min = 1, .max = 64},
	{.name = "agency_id", .type = RPC_T_ID},
	{.name = "overdue", .type = RPC_T_BOOLEAN},
	{.name = "mass", .type = RPC_T_BOOLEAN},
	{.name = "q", .type = RPC_T_STRING, .min = 1, .max = 200,
	 .description = "words of the title or content (diacritics ignored); all must appear"},
	{.name = "limit", .type = RPC_T_INTEGER, .min = 1, .max = 100},
	{.name = "cursor", .type = RPC_T_STRING, .min = 1, .max = 512},
	{0},
};
static const struct rpc_param file_ticket_params[] = {
	{.name = "file_id", .type = RPC_T_ID, .required = true}, {0}};
static const struct rpc_param reception_params[] = {
	{.name = "received_at", .type = RPC_T_DATETIME, .required = true},
	{.name = "citizens", .type = RPC_T_ARRAY, .required = true, .max = 500,
	 .schema = "{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\","
		   "\"required\":[\"full_name\"]}}"},
	{.name = "kind", .type = RPC_T_ENUM, .enum_values = kinds},
	TEXT("summary", true),
	{.name = "people_count", .type = RPC_T_INTEGER, .required = true, .min = 1,
	 .max = 100000},
	TEXT("guidance", false),
	{.name = "case_id", .type = RPC_T_ID},
	{.name = "mode", .type = RPC_T_ENUM, .required = true, .enum_values = modes},
	{.name = "leader_day", .type = RPC_T_BOOLEAN},
	TEXT("refused_reason", false),
	{0},
};

#define CASE_RESULT "{\"type\":\"object\",\"required\":[\"case\"]}"
#define HANDLERS (RPC_OFFICIAL | RPC_LEADER)
#define MOVE(n, w, p, s)                                                                          \
	{.name = n, .handler = case_move, .who = w, .summary = s, .params = p,                    \
	 .result_schema = CASE_RESULT}

static const struct rpc_method case_methods[] = {
	{.name = "petition.submit", .handler = petition_submit, .who = RPC_CITIZEN,
	 .summary = "Files a petition; it is routed to the competent agency.",
	 .params = submit_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"case_id\",\"tracking_code\","
			  "\"status\",\"agency\",\"explanation\",\"deadlines\"]}"},
	{.name = "petition.register", .handler = petition_register, .who = RPC_OFFICIAL | RPC_STAFF,
	 .summary = "Registers a paper, in-person or forwarded-in petition for a petitioner.",
	 .params = register_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"case_id\",\"tracking_code\","
			  "\"status\",\"agency\",\"explanation\",\"deadlines\"]}"},
	MOVE("petition.withdraw", RPC_CITIZEN, withdraw_params,
	     "The petitioner withdraws the petition."),
	{.name = "case.get", .handler = case_get, .who = RPC_BOUND, .summary = "One case.",
	 .params = case_only, .result_schema = CASE_RESULT},
	{.name = "case.list", .handler = case_list, .who = RPC_BOUND,
	 .summary = "The cases the caller may see, newest first.", .params = list_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"items\",\"next_cursor\"]}"},
	{.name = "case.timeline", .handler = case_timeline, .who = RPC_BOUND,
	 .summary = "The hash-chained events of a case.", .params = case_only,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"items\"]}"},
	{.name = "case.verify_chain", .handler = case_verify_chain,
	 .who = RPC_INSPECTOR | RPC_LEADER, .summary = "Recomputes a case's hash chain.",
	 .params = case_only,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"ok\",\"length\",\"head_hash\"]}"},
	MOVE("case.assign", HANDLERS, assign_params, "Assigns the case to an official."),
	MOVE("case.classify", HANDLERS, classify_params, "Corrects kind, field, mass, complexity."),
	MOVE("case.accept", HANDLERS, case_only, "Accepts the case for settlement (thụ lý)."),
	MOVE("case.forward", HANDLERS, forward_params,
	     "Forwards to the competent agency (not a complaint; once)."),
	MOVE("case.guide", HANDLERS, guide_params, "Guides the petitioner; closes the case here."),
	MOVE("case.reject", HANDLERS, reject_params, "Does not accept, with a legal reason."),
	{.name = "case.note", .handler = case_move, .who = HANDLERS | RPC_INSPECTOR,
	 .summary = "Adds a note to the timeline.", .params = note_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"seq\"]}"},
	MOVE("case.decide", RPC_LEADER, decide_params, "Issues the decision or conclusion."),
	MOVE("case.extend", RPC_LEADER, reason_params,
	     "Extends the settlement of a complex denunciation by 30 days."),
	MOVE("case.suspend", RPC_LEADER, reason_params, "Suspends settlement; the clock stops."),
	MOVE("case.resume", RPC_LEADER, reason_params, "Resumes settlement."),
	MOVE("case.file", HANDLERS, file_params, "Files a petition that cannot be processed."),
	MOVE("case.appeal", RPC_CITIZEN, appeal_params,
	     "Second-instance complaint, routed to the direct superior."),
	MOVE("case.close", RPC_LEADER, close_params, "Closes a decided case."),
	MOVE("case.terminate", RPC_LEADER, terminate_params,
	     "Notice ending the handling; later petitions on the matter are flagged."),
	MOVE("case.link_duplicate", HANDLERS, duplicate_params,
	     "Marks the case as a duplicate of another."),
	{.name = "file.ticket", .handler = file_ticket, .who = RPC_BOUND,
	 .summary = "A download URL for an attachment of a case the caller may see (5 minutes).",
	 .params = file_ticket_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"url\"]}"},
	{.name = "reception.record", .handler = reception_record, .who = HANDLERS,
	 .summary = "One entry of the reception register.", .params = reception_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"reception_id\"]}"},
};

static int index_pending(sqlite3 *db, void *data);
static int create_pending_txn(sqlite3 *db, void *data);

struct cases *
cases_create(struct rpc *rpc, struct store *store, struct seal *seal, struct td_calendar *cal,
	     const struct cases_options *opts, GError **error)
{
	struct cases *c = g_new0(struct cases, 1);
	c->rpc = rpc;
	c->store = store;
	c->seal = seal;
	c->cal = cal;
	c->opts = *opts;
	if (!c->opts.sweep_interval_s) {
		c->opts.sweep_interval_s = 3600;
	}
	c->warned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	c->citizen_macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (rpc_register(rpc, case_methods, G_N_ELEMENTS(case_methods), c) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "case methods registered twice");
		cases_destroy(c);
		return NULL;
	}
	/* A connection's temp table: created once, before the loop runs. */
	if (store_write_sync(store, create_pending_txn, NULL) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot create temp.fts_pending");
		cases_destroy(c);
		return NULL;
	}
	store_add_group_end(store, index_pending, c);
	c->sweep = g_timeout_add_seconds(c->opts.sweep_interval_s, sweep_tick, c);
	return c;
}

/*
 * The full-text rows of a group's new cases, written at the end of the group in
 * one statement: FTS5 flushes its pending terms into a new segment at every
 * savepoint, and each job has one, so an insert per intake cost a segment (and
 * later merges) per case. Same transaction: a case is searchable as soon as
 * its submit is answered, and a failed group leaves neither.
 */
static int
index_pending(sqlite3 *db, void *data)
{
	struct cases *c = data;
	if (!c->fts_pending) {
		return 0;
	}
	int rc = SQLITE_ERROR;
	{
		g_autoptr(StoreStmt) st = store_stmt(
			db, "INSERT INTO cases_fts (rowid, title, content) SELECT case_rowid, title, "
			    "content FROM temp.fts_pending ORDER BY case_rowid");
		rc = st ? sqlite3_step(st) : SQLITE_ERROR;
	}
	if (rc == SQLITE_DONE) {
		g_autoptr(StoreStmt) st = store_stmt(db, "DELETE FROM temp.fts_pending");
		rc = st ? sqlite3_step(st) : SQLITE_ERROR;
	}
	if (rc != SQLITE_DONE) {
		td_error(MOD, "full-text rows not written", "err=\"%s\"", sqlite3_errmsg(db));
		return -EIO;
	}
	c->fts_pending = false;
	return 0;
}

static int
create_pending_txn(sqlite3 *db, void *data)
{
	return store_exec_text(db,
			       "CREATE TEMP TABLE IF NOT EXISTS fts_pending (case_rowid INTEGER "
			       "PRIMARY KEY, title TEXT NOT NULL, content TEXT NOT NULL)",
			       NULL, 0);
}

void
cases_destroy(struct cases *c)
{
	if (!c) {
		return;
	}
	if (c->sweep) {
		g_source_remove(c->sweep);
	}
	g_hash_table_destroy(c->warned);
	g_hash_table_destroy(c->citizen_macs);
	g_free(c);
}
