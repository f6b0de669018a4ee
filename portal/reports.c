/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/reports.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "tiepdan/access.h"
#include "tiepdan/log.h"

#define MOD "reports"
#define TICKET_TTL_US (5 * 60 * G_USEC_PER_SEC)
#define MAX_RANGE_DAYS 3660

/*
 * The indicators of a case stint (PROTOCOL.md §7 and the additions of
 * docs/reports.md), in the order of the answer and of the CSV rows.
 */
enum ind {
	I_RECEIVED,
	I_CARRIED_OVER,
	I_ACCEPTED,
	I_FORWARDED,
	I_GUIDED,
	I_REJECTED,
	I_FILED,
	I_WITHDRAWN,
	I_DECIDED,
	I_UPHELD,
	I_PARTLY_UPHELD,
	I_DECIDED_REJECTED,
	I_ON_TIME,
	I_OVERDUE,
	I_MASS,
	I_COMPLEX,
	I_REPEAT,
	I_DUPLICATES,
	I_WRONG_FORWARD,
	I_FIRST_INSTANCE,
	I_SECOND_INSTANCE,
	I_PENDING,
	I_PROLONGED,
	I_SETTLED, /* the cases behind avg_days_to_settle */
	I_COUNT,
};

static const char *const ind_names[I_COUNT] = {
	[I_RECEIVED] = "received",
	[I_CARRIED_OVER] = "carried_over",
	[I_ACCEPTED] = "accepted",
	[I_FORWARDED] = "forwarded",
	[I_GUIDED] = "guided",
	[I_REJECTED] = "rejected",
	[I_FILED] = "filed",
	[I_WITHDRAWN] = "withdrawn",
	[I_DECIDED] = "decided",
	[I_UPHELD] = "upheld",
	[I_PARTLY_UPHELD] = "partly_upheld",
	[I_DECIDED_REJECTED] = "decided_rejected",
	[I_ON_TIME] = "on_time",
	[I_OVERDUE] = "overdue",
	[I_MASS] = "mass",
	[I_COMPLEX] = "complex",
	[I_REPEAT] = "repeat_after_termination",
	[I_DUPLICATES] = "duplicates_linked",
	[I_WRONG_FORWARD] = "wrong_forward_refused",
	[I_FIRST_INSTANCE] = "first_instance",
	[I_SECOND_INSTANCE] = "second_instance",
	[I_PENDING] = "pending",
	[I_PROLONGED] = "prolonged",
	[I_SETTLED] = "avg_days_to_settle",
};

enum rec {
	R_SESSIONS,
	R_LEADER_SESSIONS,
	R_ONLINE,
	R_PEOPLE,
	R_MASS_DELEGATIONS,
	R_LEADER_DAYS_HELD,
	R_LEADER_DAYS_REQUIRED,
	R_DIALOGUES,
	R_COUNT,
};

static const char *const rec_names[R_COUNT] = {
	[R_SESSIONS] = "sessions",
	[R_LEADER_SESSIONS] = "leader_day_sessions",
	[R_ONLINE] = "online_sessions",
	[R_PEOPLE] = "people",
	[R_MASS_DELEGATIONS] = "mass_delegations",
	[R_LEADER_DAYS_HELD] = "leader_days_held",
	[R_LEADER_DAYS_REQUIRED] = "leader_days_required",
	[R_DIALOGUES] = "dialogues",
};

static const char *const kinds[] = {"complaint", "denunciation", "recommendation", "feedback",
				    NULL};

struct counts {
	int64_t n[I_COUNT];
	int64_t settle_days; /* working days, received to decided, of the I_SETTLED cases */
};

struct reports {
	struct rpc *rpc;
	struct store *store;
	struct td_calendar *cal;
	struct cases *cases;
	struct reports_options opts;
	GTimeZone *tz;
	GHashTable *tickets; /* ticket → struct ticket* */
};

struct ticket {
	struct rpc_identity who;
	json_t *params;
	char *format;
	int64_t expires_us;
};

/* ---- dates ---- */

/* Days since 1970-01-01 of a strict YYYY-MM-DD (no checks beyond the digits); -1 if not. */
static int32_t
day_number(const char *s)
{
	if (!s || strlen(s) < 10 || s[4] != '-' || s[7] != '-') {
		return -1;
	}
	for (int i = 0; i < 10; i++) {
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
			return -1;
		}
	}
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
	unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
	/* days_from_civil (H. Hinnant) */
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + (int)doe - 719468);
}

static void
day_date(int32_t n, GDate *out)
{
	g_date_clear(out, 1);
	g_date_set_dmy(out, 1, G_DATE_JANUARY, 1970);
	g_date_add_days(out, (guint)n);
}

static void
day_text(int32_t n, char out[11])
{
	GDate d;
	day_date(n, &d);
	td_calendar_date_format(&d, out);
}

/*
 * A standard period of DOMAIN.md §7 (Circular 01/2024 cut-offs: the 15th to
 * the 14th): "YYYY" 15 Dec of the year before to 14 Dec; "YYYY-H1" 15 Dec to
 * 14 Jun; "YYYY-H2" 15 Jun to 14 Dec; "YYYY-Q1" to "YYYY-Q4" 15 Dec–14 Mar,
 * 15 Mar–14 Jun, 15 Jun–14 Sep, 15 Sep–14 Dec; "YYYY-MM" the 15th of the month
 * before to the 14th of MM. 0 or -EINVAL.
 */
static int
period_range(const char *p, char from[11], char to[11])
{
	int y = 0, n = 0, start_month, end_month;
	char tail[8] = "";
	if (!p || strlen(p) > 7 || sscanf(p, "%4d%7s", &y, tail) < 1 || y < 1901 || y > 2198 ||
	    !g_ascii_isdigit(p[0]) || !g_ascii_isdigit(p[3])) {
		return -EINVAL;
	}
	if (!*tail) {
		start_month = 12, end_month = 12;
	} else if (strcmp(tail, "-H1") == 0) {
		start_month = 12, end_month = 6;
	} else if (strcmp(tail, "-H2") == 0) {
		start_month = 6, end_month = 12;
	} else if (tail[0] == '-' && tail[1] == 'Q' && tail[2] >= '1' && tail[2] <= '4' && !tail[3]) {
		n = tail[2] - '0';
		start_month = n == 1 ? 12 : 3 * (n - 1);
		end_month = 3 * n;
	} else if (tail[0] == '-' && g_ascii_isdigit(tail[1]) && g_ascii_isdigit(tail[2]) && !tail[3] &&
		   (n = (tail[1] - '0') * 10 + (tail[2] - '0')) >= 1 && n <= 12) {
		start_month = n == 1 ? 12 : n - 1;
		end_month = n;
	} else {
		return -EINVAL;
	}
	g_snprintf(from, 11, "%04d-%02d-15", start_month >= end_month ? y - 1 : y, start_month);
	g_snprintf(to, 11, "%04d-%02d-14", y, end_month);
	return 0;
}

/* ---- scope and rights ---- */

/* The grants that make reports: leader and inspector only (an official grant does not). */
static void
report_identity(const struct rpc_identity *id, struct rpc_identity *out)
{
	rpc_identity_copy(out, id);
	size_t k = 0;
	for (size_t i = 0; i < out->n_grants; i++) {
		if (out->grants[i].role & (RPC_LEADER | RPC_INSPECTOR)) {
			out->grants[k++] = out->grants[i];
		} else {
			g_free(out->grants[i].agency_id);
		}
	}
	out->n_grants = k;
}

static bool
may_report_on(sqlite3 *db, const struct rpc_identity *id, const char *agency_id)
{
	struct rpc_identity r;
	report_identity(id, &r);
	bool ok = access_sees_agency(db, &r, agency_id);
	rpc_identity_clear(&r);
	return ok;
}

/* The agency and, with children, its whole subtree: agency id → its index. */
static GHashTable *
scope_load(sqlite3 *db, const char *agency_id, bool children, GPtrArray *order)
{
	GHashTable *scope = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(StoreStmt) st =
		store_stmt(db, children ? "WITH RECURSIVE t(id) AS (SELECT ?1 UNION SELECT a.id "
					  "FROM agencies a JOIN t ON a.parent_id = t.id) "
					  "SELECT id FROM t ORDER BY id"
					: "SELECT id FROM agencies WHERE id = ?1");
	if (!st) {
		g_hash_table_destroy(scope);
		return NULL;
	}
	sqlite3_bind_text(st, 1, agency_id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char *id = g_strdup((const char *)sqlite3_column_text(st, 0));
		g_hash_table_insert(scope, id, GUINT_TO_POINTER(order->len + 1));
		g_ptr_array_add(order, id);
	}
	return scope;
}

/* ---- one report ---- */

struct limit {
	char step[8], kind[16];
	int instance, complex, days;
	enum td_deadline_unit unit;
};

/* What one report.summary computes; filled by report_run(). */
struct report {
	struct reports *r;
	sqlite3 *db;
	const struct rpc_identity *who;
	char from[11], to[11], today[11];
	int32_t d_from, d_to, d_today;
	char *agency_id;
	bool children;
	char *explain;           /* (nullable) the indicator path */
	GPtrArray *agencies;     /* of the scope, in order (borrowed from scope keys) */
	GHashTable *scope;       /* agency id → 1 + index into by_agency */
	char *ids;               /* the scope as a JSON array, for json_each() */
	char *zone;              /* the SQLite modifier from UTC to the portal's zone */
	GPtrArray *fields;       /* field codes, in the directory's order */
	bool *priority;          /* per field: a priority field of DOMAIN.md §7 */
	struct counts totals;
	struct counts by_kind[4];
	struct counts *by_field; /* fields->len */
	struct counts *by_agency; /* agencies->len */
	int64_t reception[R_COUNT];
	/* explain: which section ('t' totals, 'k', 'f', 'a', 'r' reception), which key, which
	 * indicator; the matching case rowids */
	char ex_section;
	int ex_key;
	int ex_ind;
	GArray *ex_rowids;
	/* deadlines */
	struct limit *limits;
	size_t n_limits;
	GHashTable *due_cache; /* packed inputs (due_day) → due day number + 1 */
	int32_t wd_base;       /* working days: wd[i] = working days in (wd_base, wd_base + i] */
	GArray *wd;
};

static void
report_clear(struct report *q)
{
	g_free(q->agency_id);
	g_free(q->explain);
	free(q->ids);
	g_free(q->zone);
	if (q->agencies) {
		g_ptr_array_free(q->agencies, TRUE);
	}
	if (q->scope) {
		g_hash_table_destroy(q->scope);
	}
	if (q->fields) {
		g_ptr_array_free(q->fields, TRUE);
	}
	g_free(q->by_field);
	g_free(q->priority);
	g_free(q->by_agency);
	if (q->ex_rowids) {
		g_array_free(q->ex_rowids, TRUE);
	}
	g_free(q->limits);
	if (q->due_cache) {
		g_hash_table_destroy(q->due_cache);
	}
	if (q->wd) {
		g_array_free(q->wd, TRUE);
	}
	memset(q, 0, sizeof(*q));
}

static int
kind_index(const char *kind)
{
	/* the first letters differ: one strcmp per row */
	int i = !kind ? -1 : kind[0] == 'c' ? 0 : kind[0] == 'd' ? 1 : kind[0] == 'r' ? 2 : 3;
	return i >= 0 && strcmp(kinds[i], kind) == 0 ? i : -1;
}

static int
field_index(struct report *q, const char *field)
{
	for (guint i = 0; field && i < q->fields->len; i++) {
		const char *f = q->fields->pdata[i];
		if (f[0] == field[0] && strcmp(f, field) == 0) {
			return (int)i;
		}
	}
	return -1;
}

static int
ind_index(const char *name)
{
	for (int i = 0; i < I_COUNT; i++) {
		if (strcmp(ind_names[i], name) == 0) {
			return i;
		}
	}
	return -1;
}

/*
 * Parses an explain path: "totals.<indicator>", "by_kind.<kind>.<indicator>",
 * "by_field.<field>.<indicator>", "by_agency.<agency_id>.<indicator>" or
 * "reception.<indicator>". false when it names nothing this report has.
 */
static bool
explain_parse(struct report *q, const char *path)
{
	char **parts = g_strsplit(path, ".", 4);
	guint n = g_strv_length(parts);
	bool ok = false;
	if (n == 2 && strcmp(parts[0], "totals") == 0) {
		q->ex_section = 't';
		q->ex_ind = ind_index(parts[1]);
		ok = q->ex_ind >= 0;
	} else if (n == 2 && strcmp(parts[0], "reception") == 0) {
		q->ex_section = 'r';
		for (int i = 0; i < R_COUNT; i++) {
			if (strcmp(rec_names[i], parts[1]) == 0) {
				q->ex_ind = i;
				ok = true;
			}
		}
	} else if (n == 3) {
		q->ex_ind = ind_index(parts[2]);
		if (strcmp(parts[0], "by_kind") == 0) {
			q->ex_section = 'k';
			q->ex_key = kind_index(parts[1]);
		} else if (strcmp(parts[0], "by_field") == 0) {
			q->ex_section = 'f';
			q->ex_key = field_index(q, parts[1]);
		} else if (strcmp(parts[0], "by_agency") == 0) {
			q->ex_section = 'a';
			q->ex_key = GPOINTER_TO_INT(g_hash_table_lookup(q->scope, parts[1])) - 1;
		} else {
			q->ex_key = -1;
		}
		ok = q->ex_ind >= 0 && q->ex_key >= 0;
	}
	g_strfreev(parts);
	return ok;
}

static int
limits_load(struct report *q)
{
	g_autoptr(StoreStmt) st =
		store_stmt(q->db, "SELECT step, kind, instance, complex, unit, days FROM time_limits "
				  "ORDER BY complex DESC");
	if (!st) {
		return -EIO;
	}
	GArray *a = g_array_new(FALSE, TRUE, sizeof(struct limit));
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct limit l = {0};
		g_strlcpy(l.step, (const char *)sqlite3_column_text(st, 0), sizeof(l.step));
		g_strlcpy(l.kind, (const char *)sqlite3_column_text(st, 1), sizeof(l.kind));
		l.instance = sqlite3_column_int(st, 2);
		l.complex = sqlite3_column_int(st, 3);
		l.unit = strcmp((const char *)sqlite3_column_text(st, 4), "working_days") == 0
				 ? TD_UNIT_WORKING_DAYS
				 : TD_UNIT_CALENDAR_DAYS;
		l.days = sqlite3_column_int(st, 5);
		g_array_append_val(a, l);
	}
	q->n_limits = a->len;
	q->limits = (struct limit *)(void *)g_array_free(a, FALSE);
	return 0;
}

/* The limit of time_limits with the highest complexity not above complex (as cases.c). */
static const struct limit *
limit_for(struct report *q, const char *step, const char *kind, int instance, int complex)
{
	for (size_t i = 0; i < q->n_limits; i++) {
		const struct limit *l = &q->limits[i];
		if (l->instance == instance && l->complex <= complex && strcmp(l->step, step) == 0 &&
		    strcmp(l->kind, kind) == 0) {
			return l;
		}
	}
	return NULL;
}

/*
 * The day number of the deadline of a stage, counted as portal/cases.c counts
 * case.deadlines (DOMAIN.md §3): the process limit while received (a
 * denunciation's complexity raises it), the settle limit once accepted (a
 * denunciation's extensions add 30 days each), from the day the stage began,
 * suspensions taken out (one still running counts to today). -1 when there
 * is none. Stints without suspensions share a cache: a million cases have a
 * few thousand distinct deadlines.
 */
static int32_t
due_day(struct report *q, bool processing, const char *kind, int instance, int complex,
	int extensions, int32_t start_day, const char *suspended)
{
	bool denunciation = strcmp(kind, "denunciation") == 0;
	int cx = processing ? (denunciation ? complex : 0) : (denunciation ? 0 : complex);
	int ext = !processing && denunciation ? MIN(extensions, 2) : 0;
	bool plain = !suspended || strcmp(suspended, "[]") == 0;
	/* the inputs of the deadline packed in one integer: day × 144 combinations */
	gpointer key = GINT_TO_POINTER(
		((((start_day * 2 + processing) * 4 + MAX(kind_index(kind), 0)) * 2 + (instance == 2)) *
			 3 + MIN(MAX(cx, 0), 2)) * 3 + ext);
	if (plain && start_day >= 0) {
		gpointer v = g_hash_table_lookup(q->due_cache, key);
		if (v) {
			return GPOINTER_TO_INT(v) - 1;
		}
	}
	const struct limit *l = limit_for(q, processing ? "process" : "settle", kind, instance, cx);
	int32_t due = -1;
	struct td_deadline_spec spec = {0};
	struct td_extension exts[2] = {{30, "LTC 30"}, {30, "LTC 30"}};
	GArray *ranges = g_array_new(FALSE, TRUE, sizeof(struct td_date_range));
	if (l && start_day >= 0) {
		day_date(start_day, &spec.event_on);
		spec.unit = l->unit;
		spec.days = l->days;
		spec.extensions = ext ? exts : NULL;
		spec.n_extensions = (size_t)ext;
		json_t *susp = plain ? NULL : json_loads(suspended, 0, NULL);
		size_t i;
		json_t *s;
		json_array_foreach(susp, i, s)
		{
			struct td_date_range range;
			const char *to = json_string_value(json_object_get(s, "to"));
			if (td_calendar_date_parse(json_string_value(json_object_get(s, "from")) ?: "",
						   &range.from) != 0 ||
			    td_calendar_date_parse(to ? to : q->today, &range.to) != 0 ||
			    g_date_compare(&range.to, &range.from) < 0) {
				continue;
			}
			g_array_append_val(ranges, range);
		}
		json_decref(susp);
		spec.suspended = (const struct td_date_range *)(void *)ranges->data;
		spec.n_suspended = ranges->len;
		GDate out;
		char buf[11];
		if (td_calendar_deadline(q->r->cal, &spec, &out, NULL) == 0) {
			due = day_number(td_calendar_date_format(&out, buf));
		}
	}
	g_array_free(ranges, TRUE);
	if (plain && start_day >= 0) {
		g_hash_table_insert(q->due_cache, key, GINT_TO_POINTER(due + 1));
	}
	return due;
}

/* Working days d with a < d <= b, from a table built once per report. */
static int
working_days(struct report *q, int32_t a, int32_t b)
{
	if (a < q->wd_base || b < q->wd_base || b < a) {
		return 0;
	}
	while ((int32_t)q->wd->len <= b - q->wd_base) {
		int32_t day = q->wd_base + (int32_t)q->wd->len;
		int prev = q->wd->len ? g_array_index(q->wd, int, q->wd->len - 1) : 0;
		GDate d;
		day_date(day, &d);
		int v = prev + (q->wd->len && td_calendar_is_working_day(q->r->cal, &d) ? 1 : 0);
		g_array_append_val(q->wd, v);
	}
	return g_array_index(q->wd, int, b - q->wd_base) - g_array_index(q->wd, int, a - q->wd_base);
}

static bool
in_period(struct report *q, int32_t d)
{
	return d >= q->d_from && d <= q->d_to;
}

/* Adds indicator i of a stint at (agency a, kind k, field f) everywhere, and to explain. */
static void
count(struct report *q, int64_t rowid, int a, int k, int f, enum ind i, int64_t days)
{
	struct counts *all[] = {&q->totals, k >= 0 ? &q->by_kind[k] : NULL,
				f >= 0 ? &q->by_field[f] : NULL, &q->by_agency[a]};
	for (size_t j = 0; j < G_N_ELEMENTS(all); j++) {
		if (all[j]) {
			all[j]->n[i]++;
			if (i == I_SETTLED) {
				all[j]->settle_days += days;
			}
		}
	}
	if (q->ex_rowids && q->ex_ind == (int)i &&
	    (q->ex_section == 't' || (q->ex_section == 'k' && q->ex_key == k) ||
	     (q->ex_section == 'f' && q->ex_key == f) || (q->ex_section == 'a' && q->ex_key == a))) {
		g_array_append_val(q->ex_rowids, rowid);
	}
}

static const char *
text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : NULL;
}

/*
 * One pass over the stints of the scope that touch the period (received on
 * or before its end, and not settled before its start). Each stint adds to
 * the totals, its kind, its field and its agency at once, so the breakdowns
 * always sum to the totals.
 */
static int
stints_pass(struct report *q)
{
	/* A scope of many agencies reads the table through (the scope's hash table filters
	 * in C); a small one goes through the agency index. */
	bool scan = q->agencies->len > 8;
	sqlite3_stmt *st = store_stmt(
		q->db,
		scan ? "SELECT case_rowid, agency_id, kind, field, status, instance, mass, complex, "
		       "repeat, duplicate, received_day, ifnull(accepted_day, -1), "
		       "ifnull(settled_day, -1), ifnull(decided_day, -1), outcome, stage_day, "
		       "extensions, suspended_days FROM report_stints WHERE "
		       "received_day <= ?2 AND (settled_day IS NULL OR settled_day >= ?3) AND "
		       "?1 IS NOT NULL"
		     : "SELECT case_rowid, agency_id, kind, field, status, instance, mass, complex, "
		       "repeat, duplicate, received_day, ifnull(accepted_day, -1), "
		       "ifnull(settled_day, -1), ifnull(decided_day, -1), outcome, stage_day, "
		       "extensions, suspended_days FROM report_stints WHERE "
		       "agency_id IN (SELECT value FROM json_each(?1)) AND received_day <= ?2 AND "
		       "(settled_day IS NULL OR settled_day >= ?3)");
	if (!st) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, q->ids, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, q->d_to);
	sqlite3_bind_int(st, 3, q->d_from);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t rowid = sqlite3_column_int64(st, 0);
		int a = GPOINTER_TO_INT(g_hash_table_lookup(q->scope, text(st, 1))) - 1;
		const char *kind = text(st, 2);
		int k = kind_index(kind);
		int f = field_index(q, text(st, 3));
		const char *status = text(st, 4);
		int instance = sqlite3_column_int(st, 5);
		int32_t received = sqlite3_column_int(st, 10);
		int32_t accepted = sqlite3_column_int(st, 11);
		int32_t settled = sqlite3_column_int(st, 12);
		int32_t decided = sqlite3_column_int(st, 13);
		const char *outcome = text(st, 14);
		int complex = sqlite3_column_int(st, 7);
		int32_t stage = sqlite3_column_int(st, 15);
		int extensions = sqlite3_column_int(st, 16);
		const char *suspended = text(st, 17);
		if (a < 0 || k < 0 || !status) {
			continue;
		}
		if (in_period(q, received)) {
			count(q, rowid, a, k, f, I_RECEIVED, 0);
			enum ind inst = instance == 2 ? I_SECOND_INSTANCE : I_FIRST_INSTANCE;
			count(q, rowid, a, k, f, inst, 0);
			if (sqlite3_column_int(st, 6)) {
				count(q, rowid, a, k, f, I_MASS, 0);
			}
			if (complex) {
				count(q, rowid, a, k, f, I_COMPLEX, 0);
			}
			if (sqlite3_column_int(st, 8)) {
				count(q, rowid, a, k, f, I_REPEAT, 0);
			}
			if (sqlite3_column_int(st, 9)) {
				count(q, rowid, a, k, f, I_DUPLICATES, 0);
			}
		} else if (received < q->d_from) {
			count(q, rowid, a, k, f, I_CARRIED_OVER, 0);
		}
		if (in_period(q, accepted)) {
			count(q, rowid, a, k, f, I_ACCEPTED, 0);
		}
		if (settled < 0 || settled > q->d_to) {
			count(q, rowid, a, k, f, I_PENDING, 0);
			if (f >= 0 && q->priority[f] &&
			    q->d_to - received > (int32_t)q->r->opts.prolonged_days) {
				count(q, rowid, a, k, f, I_PROLONGED, 0);
			}
		}
		if (in_period(q, settled)) {
			static const struct {
				const char *status;
				enum ind ind;
			} exits[] = {{"forwarded", I_FORWARDED}, {"guided", I_GUIDED},
				     {"rejected", I_REJECTED},   {"filed", I_FILED},
				     {"withdrawn", I_WITHDRAWN}};
			for (size_t i = 0; i < G_N_ELEMENTS(exits); i++) {
				if (strcmp(status, exits[i].status) == 0) {
					count(q, rowid, a, k, f, exits[i].ind, 0);
				}
			}
		}
		if (in_period(q, decided)) {
			count(q, rowid, a, k, f, I_DECIDED, 0);
			if (outcome && strcmp(outcome, "upheld") == 0) {
				count(q, rowid, a, k, f, I_UPHELD, 0);
			} else if (outcome && strcmp(outcome, "partly_upheld") == 0) {
				count(q, rowid, a, k, f, I_PARTLY_UPHELD, 0);
			} else if (outcome && strcmp(outcome, "rejected") == 0) {
				count(q, rowid, a, k, f, I_DECIDED_REJECTED, 0);
			}
			int32_t due = due_day(q, false, kind, instance, complex, extensions, stage,
					      suspended);
			if (due >= 0) {
				count(q, rowid, a, k, f, decided <= due ? I_ON_TIME : I_OVERDUE, 0);
			}
			count(q, rowid, a, k, f, I_SETTLED, working_days(q, received, decided));
		} else if (settled < 0 && strcmp(status, "suspended") != 0) {
			/* Still pending today: overdue as case.overdue says it today. */
			bool processing = strcmp(status, "received") == 0;
			int32_t due = due_day(q, processing, kind, instance, complex, extensions,
					      stage, suspended);
			if (due >= 0 && q->d_today > due) {
				count(q, rowid, a, k, f, I_OVERDUE, 0);
			}
		}
	}
	store_stmt_release(st);
	if (rc != SQLITE_DONE) {
		td_error(MOD, "stints query", "err=\"%s\"", sqlite3_errmsg(q->db));
		return -EIO;
	}
	/* Forwards refused because the target was not competent, by the day of the refusal. */
	g_autoptr(StoreStmt) rf = store_stmt(
		q->db, "SELECT f.case_rowid, f.agency_id, s.kind, s.field FROM report_refusals f "
		       "JOIN report_stints s ON s.case_rowid = f.case_rowid AND s.stint = 1 "
		       "WHERE f.day BETWEEN ?1 AND ?2");
	if (!rf) {
		return -EIO;
	}
	sqlite3_bind_text(rf, 1, q->from, -1, SQLITE_STATIC);
	sqlite3_bind_text(rf, 2, q->to, -1, SQLITE_STATIC);
	while (sqlite3_step(rf) == SQLITE_ROW) {
		int a = GPOINTER_TO_INT(g_hash_table_lookup(q->scope, text(rf, 1))) - 1;
		int k = kind_index(text(rf, 2));
		if (a >= 0 && k >= 0) {
			count(q, sqlite3_column_int64(rf, 0), a, k, field_index(q, text(rf, 3)),
			      I_WRONG_FORWARD, 0);
		}
	}
	return 0;
}

/* The portal zone's offset now, as an SQLite modifier turning a UTC time into a local one. */
static char *
zone_modifier(struct reports *r)
{
	GDateTime *now = g_date_time_new_now(r->tz);
	int offset_s = (int)(g_date_time_get_utc_offset(now) / G_USEC_PER_SEC);
	char *m = g_strdup_printf("%+d seconds", offset_s);
	g_date_time_unref(now);
	return m;
}

/*
 * Leaders' reception days required by DOMAIN.md §5 in the period: for a ward
 * or commune one a week (the weeks, Monday to Sunday, with a working day in
 * the period), for the city and a department one a month (the months whose
 * 15th is in the period: a standard period of DOMAIN.md §7 holds exactly its
 * months).
 */
static int64_t
leader_days_required(struct report *q, const char *level)
{
	bool weekly = strcmp(level, "ward") == 0 || strcmp(level, "commune") == 0;
	bool monthly = strcmp(level, "city") == 0 || strcmp(level, "department") == 0;
	int64_t n = 0;
	int32_t last_week = INT32_MIN;
	for (int32_t day = q->d_from; day <= q->d_to && (weekly || monthly); day++) {
		GDate d;
		day_date(day, &d);
		if (monthly && g_date_get_day(&d) == 15) {
			n++;
		}
		/* 1970-01-05 was a Monday: weeks numbered from there. */
		int32_t week = (day - 4) >= 0 ? (day - 4) / 7 : -1;
		if (weekly && week != last_week && td_calendar_is_working_day(q->r->cal, &d)) {
			n++;
			last_week = week;
		}
	}
	return n;
}

/*
 * (transfer full: store_stmt_release, or g_autoptr) A statement over the
 * scope and the period: ?1 the scope's ids (JSON), ?2 and ?3 the first and
 * last day, ?4 the modifier turning a stored time into the portal's day.
 */
static sqlite3_stmt *
period_stmt(struct report *q, const char *sql)
{
	sqlite3_stmt *st = store_stmt(q->db, sql);
	if (st) {
		sqlite3_bind_text(st, 1, q->ids, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, q->from, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, q->to, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, q->zone, -1, SQLITE_STATIC);
	}
	return st;
}

#define DIALOGUES_HELD                                                                            \
	"FROM dialogues WHERE agency_id IN (SELECT value FROM json_each(?1)) AND minutes_seq IS "  \
	"NOT NULL AND date(start_at, ?4) BETWEEN ?2 AND ?3"

static int
reception_pass(struct report *q)
{
	g_autoptr(StoreStmt) reg = period_stmt(
		q, "SELECT count(*), total(mode = 'online'), total(people_count), "
		   "total(people_count >= 5), total(leader_day) FROM receptions WHERE agency_id IN "
		   "(SELECT value FROM json_each(?1)) AND date(received_at, ?4) BETWEEN ?2 AND ?3");
	/* A leader day held: a day with a leader-day reception recorded, or a past leader-day
	 * slot hosted by a leader of the agency. */
	g_autoptr(StoreStmt) days = period_stmt(
		q, "SELECT count(*) FROM (SELECT agency_id, date(received_at, ?4) AS day FROM "
		   "receptions WHERE leader_day = 1 AND agency_id IN (SELECT value FROM json_each(?1)) "
		   "UNION SELECT s.agency_id, substr(s.start_at, 1, 10) FROM slots s WHERE "
		   "s.leader_day = 1 AND s.end_s <= unixepoch() AND s.agency_id IN (SELECT value FROM "
		   "json_each(?1)) AND EXISTS (SELECT 1 FROM user_roles u WHERE u.user_id = s.host_id "
		   "AND u.agency_id = s.agency_id AND u.role = 'leader')) WHERE day BETWEEN ?2 AND ?3");
	/* Dialogues held: those of the period whose minutes are written. */
	g_autoptr(StoreStmt) dialogues = period_stmt(q, "SELECT count(*) " DIALOGUES_HELD);
	g_autoptr(StoreStmt) levels = store_stmt(
		q->db, "SELECT level FROM agencies WHERE id IN (SELECT value FROM json_each(?1))");
	if (!reg || !days || !dialogues || !levels) {
		return -EIO;
	}
	if (sqlite3_step(reg) == SQLITE_ROW) {
		q->reception[R_SESSIONS] = sqlite3_column_int64(reg, 0);
		q->reception[R_ONLINE] = sqlite3_column_int64(reg, 1);
		q->reception[R_PEOPLE] = sqlite3_column_int64(reg, 2);
		q->reception[R_MASS_DELEGATIONS] = sqlite3_column_int64(reg, 3);
		q->reception[R_LEADER_SESSIONS] = sqlite3_column_int64(reg, 4);
	}
	if (sqlite3_step(days) == SQLITE_ROW) {
		q->reception[R_LEADER_DAYS_HELD] = sqlite3_column_int64(days, 0);
	}
	if (sqlite3_step(dialogues) == SQLITE_ROW) {
		q->reception[R_DIALOGUES] = sqlite3_column_int64(dialogues, 0);
	}
	sqlite3_bind_text(levels, 1, q->ids, -1, SQLITE_STATIC);
	while (sqlite3_step(levels) == SQLITE_ROW) {
		q->reception[R_LEADER_DAYS_REQUIRED] += leader_days_required(q, text(levels, 0));
	}
	return 0;
}

/*
 * The case ids of the receptions (or dialogues) behind a reception figure: the
 * register entries linked to a case. leader_days_required has none.
 */
static int
reception_explain(struct report *q, json_t *out)
{
#define RECEPTIONS                                                                                \
	"SELECT DISTINCT case_id FROM receptions WHERE case_id IS NOT NULL AND agency_id IN "     \
	"(SELECT value FROM json_each(?1)) AND date(received_at, ?4) BETWEEN ?2 AND ?3"
	static const char *const sql[R_COUNT] = {
		[R_SESSIONS] = RECEPTIONS " ORDER BY 1",
		[R_LEADER_SESSIONS] = RECEPTIONS " AND leader_day = 1 ORDER BY 1",
		[R_ONLINE] = RECEPTIONS " AND mode = 'online' ORDER BY 1",
		[R_PEOPLE] = RECEPTIONS " ORDER BY 1",
		[R_MASS_DELEGATIONS] = RECEPTIONS " AND people_count >= 5 ORDER BY 1",
		[R_LEADER_DAYS_HELD] = RECEPTIONS " AND leader_day = 1 ORDER BY 1",
		[R_DIALOGUES] = "SELECT DISTINCT case_id " DIALOGUES_HELD " ORDER BY 1",
	};
#undef RECEPTIONS
	if (!sql[q->ex_ind]) {
		return 0;
	}
	g_autoptr(StoreStmt) st = period_stmt(q, sql[q->ex_ind]);
	if (!st) {
		return -EIO;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *id = text(st, 0);
		if (cases_visible(q->r->cases, q->who, id)) {
			json_array_append_new(out, json_string(id));
		}
	}
	return 0;
}

static json_t *
counts_json(const struct counts *c)
{
	json_t *o = json_object();
	for (int i = 0; i < I_COUNT; i++) {
		if (i == I_SETTLED) {
			/* One decimal; null when nothing was settled. */
			/* tenths, rounded */
			int64_t tenths = c->n[i] ? (c->settle_days * 10 + c->n[i] / 2) / c->n[i] : 0;
			json_object_set_new(o, ind_names[i],
					    c->n[i] ? json_real((double)tenths / 10.0) : json_null());
		} else {
			json_object_set_new(o, ind_names[i], json_integer(c->n[i]));
		}
	}
	json_object_set_new(o, "settled", json_integer(c->n[I_SETTLED]));
	return o;
}

/* The case ids behind the explained figure that the caller may see, in rowid order. */
static json_t *
explain_ids(struct report *q)
{
	json_t *out = json_array();
	g_autoptr(StoreStmt) st = store_stmt(q->db, "SELECT id FROM cases WHERE rowid = ?1");
	int64_t last = -1;
	for (guint i = 0; st && i < q->ex_rowids->len; i++) {
		int64_t rowid = g_array_index(q->ex_rowids, int64_t, i);
		if (rowid == last) {
			continue; /* a case with two stints in the scope */
		}
		last = rowid;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, rowid);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *id = text(st, 0);
			if (cases_visible(q->r->cases, q->who, id)) {
				json_array_append_new(out, json_string(id));
			}
		}
	}
	return out;
}

/*
 * Checks params (validated by the dispatcher for types) and the caller's right,
 * and, when compute is true, computes the report. 0, or an RPC error code with
 * *field and *reason set for -32602 (field a JSON pointer).
 */
static int
report_run(struct reports *r, const struct rpc_identity *who, json_t *params, bool compute,
	   struct report *q, const char **field, const char **reason)
{
	memset(q, 0, sizeof(*q));
	q->r = r;
	q->db = store_reader(r->store);
	q->who = who;
	const char *period = json_string_value(json_object_get(params, "period"));
	const char *from = json_string_value(json_object_get(params, "from"));
	const char *to = json_string_value(json_object_get(params, "to"));
	*field = NULL;
	*reason = NULL;
	if (period) {
		if (from || to) {
			*field = from ? "/from" : "/to";
			*reason = "conflicts_with_period";
			return TD_ERR_INVALID_PARAMS;
		}
		if (period_range(period, q->from, q->to) < 0) {
			*field = "/period";
			*reason = "format";
			return TD_ERR_INVALID_PARAMS;
		}
	} else {
		if (!from || !to) {
			*field = from ? "/to" : "/from";
			*reason = "required";
			return TD_ERR_INVALID_PARAMS;
		}
		g_strlcpy(q->from, from, sizeof(q->from));
		g_strlcpy(q->to, to, sizeof(q->to));
	}
	q->d_from = day_number(q->from);
	q->d_to = day_number(q->to);
	if (q->d_to < q->d_from) {
		*field = "/to";
		*reason = "before_from";
		return TD_ERR_INVALID_PARAMS;
	}
	if (q->d_to - q->d_from >= MAX_RANGE_DAYS) {
		*field = "/to";
		*reason = "range_too_long";
		return TD_ERR_INVALID_PARAMS;
	}
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	g_strlcpy(q->today, now, sizeof(q->today));
	q->d_today = day_number(q->today);
	q->agency_id = g_strdup(json_string_value(json_object_get(params, "agency_id")));
	q->children = json_is_true(json_object_get(params, "include_children"));
	if (!may_report_on(q->db, who, q->agency_id)) {
		*field = "/agency_id";
		return TD_ERR_NOT_FOUND;
	}
	q->agencies = g_ptr_array_new();
	q->scope = scope_load(q->db, q->agency_id, q->children, q->agencies);
	q->fields = g_ptr_array_new_with_free_func(g_free);
	{
		g_autoptr(StoreStmt) st = store_stmt(q->db, "SELECT code FROM fields ORDER BY rowid");
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			g_ptr_array_add(q->fields, g_strdup(text(st, 0)));
		}
	}
	if (!q->scope || q->agencies->len == 0) {
		return TD_ERR_NOT_FOUND;
	}
	json_t *a = json_array();
	for (guint i = 0; i < q->agencies->len; i++) {
		json_array_append_new(a, json_string(q->agencies->pdata[i]));
	}
	q->ids = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	q->zone = zone_modifier(r);
	const char *explain = json_string_value(json_object_get(params, "explain"));
	if (explain) {
		q->explain = g_strdup(explain);
		if (!explain_parse(q, explain)) {
			*field = "/explain";
			*reason = "unknown_indicator";
			return TD_ERR_INVALID_PARAMS;
		}
		q->ex_rowids = g_array_new(FALSE, FALSE, sizeof(int64_t));
	}
	if (!compute) {
		return 0;
	}
	q->by_field = g_new0(struct counts, q->fields->len);
	/* DOMAIN.md §7: prolonged cases are counted in these fields. */
	static const char *const priority[] = {"land", "environment", "ethnicity", "religion",
					       "labour_policy"};
	q->priority = g_new0(bool, q->fields->len);
	for (size_t i = 0; i < G_N_ELEMENTS(priority); i++) {
		int f = field_index(q, priority[i]);
		if (f >= 0) {
			q->priority[f] = true;
		}
	}
	q->by_agency = g_new0(struct counts, q->agencies->len);
	q->due_cache = g_hash_table_new(g_direct_hash, g_direct_equal);
	q->wd = g_array_new(FALSE, TRUE, sizeof(int));
	q->wd_base = q->d_from - MAX_RANGE_DAYS;
	if (limits_load(q) < 0 || stints_pass(q) < 0) {
		return TD_ERR_INTERNAL;
	}
	return reception_pass(q) < 0 ? TD_ERR_INTERNAL : 0;
}

static int
cmp_int64(gconstpointer a, gconstpointer b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* (transfer full) The answer of report.summary. */
static json_t *
report_json(struct report *q)
{
	json_t *by_kind = json_object(), *by_field = json_object(), *by_agency = json_object();
	for (int i = 0; kinds[i]; i++) {
		json_object_set_new(by_kind, kinds[i], counts_json(&q->by_kind[i]));
	}
	for (guint i = 0; i < q->fields->len; i++) {
		json_object_set_new(by_field, q->fields->pdata[i], counts_json(&q->by_field[i]));
	}
	for (guint i = 0; i < q->agencies->len; i++) {
		json_object_set_new(by_agency, q->agencies->pdata[i], counts_json(&q->by_agency[i]));
	}
	json_t *rec = json_object();
	for (int i = 0; i < R_COUNT; i++) {
		json_object_set_new(rec, rec_names[i], json_integer(q->reception[i]));
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:s}", "agency_id",
			      q->agency_id, "from", q->from, "to", q->to, "include_children",
			      q->children, "totals", counts_json(&q->totals), "by_kind", by_kind,
			      "by_field", by_field, "by_agency", by_agency, "reception", rec,
			      "as_of", q->today);
	if (q->explain) {
		json_t *ids;
		if (q->ex_section == 'r') {
			ids = json_array();
			if (reception_explain(q, ids) < 0) {
				td_error(MOD, "reception explain failed", "agency=%s", q->agency_id);
			}
		} else {
			g_array_sort(q->ex_rowids, cmp_int64);
			ids = explain_ids(q);
		}
		json_object_set_new(o, "explain", json_string(q->explain));
		json_object_set_new(o, "cases", ids);
	}
	return o;
}

static void
reply_error(struct rpc_call *call, int code, const char *field, const char *reason)
{
	if (code == TD_ERR_INVALID_PARAMS) {
		rpc_call_invalid(call, field, reason);
	} else if (code == TD_ERR_NOT_FOUND) {
		rpc_call_error(call, code, NULL,
			       json_pack("{s:s}", "field", field ? field : "/agency_id"));
	} else {
		rpc_call_error(call, code, NULL, NULL);
	}
}

static void
report_summary(struct rpc_call *call, json_t *params, void *data)
{
	struct reports *r = data;
	struct report q;
	const char *field, *reason;
	int code = report_run(r, rpc_call_identity(call), params, true, &q, &field, &reason);
	if (code) {
		reply_error(call, code, field, reason);
	} else {
		if (json_object_get(params, "period")) {
			json_t *res = report_json(&q);
			json_object_set(res, "period", json_object_get(params, "period"));
			rpc_call_reply(call, res);
		} else {
			rpc_call_reply(call, report_json(&q));
		}
	}
	report_clear(&q);
}

/* ---- exports ---- */

static void
csv_field(GString *out, const char *v)
{
	if (!v) {
		return;
	}
	if (strpbrk(v, ",\"\r\n")) {
		g_string_append_c(out, '"');
		for (const char *p = v; *p; p++) {
			if (*p == '"') {
				g_string_append_c(out, '"');
			}
			g_string_append_c(out, *p);
		}
		g_string_append_c(out, '"');
	} else {
		g_string_append(out, v);
	}
}

static void
csv_row(GString *out, const char *const cols[7])
{
	for (int i = 0; i < 7; i++) {
		if (i) {
			g_string_append_c(out, ',');
		}
		csv_field(out, cols[i]);
	}
	g_string_append(out, "\r\n");
}

static void
csv_object(GString *out, struct report *q, const char *section, const char *key, const char *name,
	   json_t *obj)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		char *value = json_is_null(v)	   ? g_strdup("")
			      : json_is_real(v)	   ? g_strdup_printf("%.1f", json_real_value(v))
						   : g_strdup_printf("%" JSON_INTEGER_FORMAT,
								     json_integer_value(v));
		const char *cols[7] = {q->from, q->to, section, key, name, k, value};
		csv_row(out, cols);
		g_free(value);
	}
}

static char *
name_of(sqlite3 *db, const char *sql, const char *key)
{
	return store_query_text(db, sql, (const char *const[]){key}, 1);
}

/*
 * The CSV export (docs/reports.md): UTF-8 with a byte order mark, CRLF, one
 * header row `from,to,section,key,name,indicator,value`, then one row per
 * figure: section totals, by_kind, by_field, by_agency (key the kind, field
 * code or agency id, name its Vietnamese name), reception; with explain, one
 * row per case id (section cases, key the path, indicator case_id). No
 * person appears in it.
 */
static GString *
report_csv(struct report *q, json_t *res)
{
	GString *out = g_string_new("\xEF\xBB\xBF");
	const char *head[7] = {"from", "to", "section", "key", "name", "indicator", "value"};
	csv_row(out, head);
	csv_object(out, q, "totals", "", "", json_object_get(res, "totals"));
	static const char *const kind_vi[] = {"Khiếu nại", "Tố cáo", "Kiến nghị",
					      "Phản ánh"};
	for (int i = 0; kinds[i]; i++) {
		csv_object(out, q, "by_kind", kinds[i], kind_vi[i],
			   json_object_get(json_object_get(res, "by_kind"), kinds[i]));
	}
	for (guint i = 0; i < q->fields->len; i++) {
		const char *f = q->fields->pdata[i];
		char *name = name_of(q->db, "SELECT name FROM fields WHERE code = ?1", f);
		csv_object(out, q, "by_field", f, name,
			   json_object_get(json_object_get(res, "by_field"), f));
		g_free(name);
	}
	for (guint i = 0; i < q->agencies->len; i++) {
		const char *a = q->agencies->pdata[i];
		char *name = name_of(q->db, "SELECT name FROM agencies WHERE id = ?1", a);
		csv_object(out, q, "by_agency", a, name,
			   json_object_get(json_object_get(res, "by_agency"), a));
		g_free(name);
	}
	csv_object(out, q, "reception", "", "", json_object_get(res, "reception"));
	size_t i;
	json_t *id;
	json_array_foreach(json_object_get(res, "cases"), i, id)
	{
		const char *cols[7] = {q->from, q->to, "cases", q->explain, "", "case_id",
				       json_string_value(id)};
		csv_row(out, cols);
	}
	return out;
}

static void
ticket_free(gpointer p)
{
	struct ticket *t = p;
	rpc_identity_clear(&t->who);
	json_decref(t->params);
	g_free(t->format);
	g_free(t);
}

static void
report_ticket(struct rpc_call *call, json_t *params, void *data)
{
	struct reports *r = data;
	struct report q;
	const char *field, *reason;
	json_t *p = json_deep_copy(params);
	char *format = g_strdup(json_string_value(json_object_get(p, "format")));
	json_object_del(p, "format");
	/* The same checks as report.summary, now: a ticket is never given for a bad report. */
	int code = report_run(r, rpc_call_identity(call), p, false, &q, &field, &reason);
	report_clear(&q);
	if (code) {
		reply_error(call, code, field, reason);
		json_decref(p);
		g_free(format);
		return;
	}
	int64_t now = g_get_monotonic_time();
	GHashTableIter it;
	gpointer k, v;
	g_hash_table_iter_init(&it, r->tickets);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		if (((struct ticket *)v)->expires_us <= now) {
			g_hash_table_iter_remove(&it);
		}
	}
	unsigned char rnd[24];
	char name[64];
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2base64(name, sizeof(name), rnd, sizeof(rnd),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	struct ticket *t = g_new0(struct ticket, 1);
	rpc_identity_copy(&t->who, rpc_call_identity(call));
	t->params = p;
	t->format = format;
	t->expires_us = now + TICKET_TTL_US;
	g_hash_table_insert(r->tickets, g_strdup(name), t);
	char *url = g_strdup_printf("/api/reports/%s.%s", name, format);
	rpc_call_reply(call, json_pack("{s:s, s:i}", "url", url, "expires_in", 300));
	g_free(url);
}

GString *
reports_download(struct reports *r, const char *name, const char **content_type)
{
	const char *dot = name ? strrchr(name, '.') : NULL;
	if (!dot || dot == name || dot - name > 60) {
		return NULL;
	}
	char *key = g_strndup(name, (gsize)(dot - name));
	struct ticket *t = g_hash_table_lookup(r->tickets, key);
	GString *out = NULL;
	if (!t || t->expires_us <= g_get_monotonic_time() || strcmp(dot + 1, t->format) != 0) {
		g_free(key);
		return NULL;
	}
	gpointer stored_key = NULL;
	g_hash_table_steal_extended(r->tickets, key, &stored_key, NULL); /* single use */
	g_free(stored_key);
	struct report q;
	const char *field, *reason;
	if (report_run(r, &t->who, t->params, true, &q, &field, &reason) == 0) {
		json_t *res = report_json(&q);
		if (strcmp(t->format, "csv") == 0) {
			out = report_csv(&q, res);
			*content_type = "text/csv; charset=utf-8";
		} else {
			char *text = json_dumps(res, JSON_INDENT(1));
			out = g_string_new(text);
			g_string_append_c(out, '\n');
			free(text);
			*content_type = "application/json";
		}
		json_decref(res);
	}
	report_clear(&q);
	ticket_free(t);
	g_free(key);
	return out;
}

/* ---- hot spots ---- */

struct spot_job {
	struct reports *r;
	char *case_id;
	GPtrArray *created; /* ids of the hot spots this case opened */
};

static void
spot_job_free(struct spot_job *j)
{
	g_free(j->case_id);
	g_ptr_array_free(j->created, TRUE);
	g_free(j);
}

/*
 * One statement of the hot spot check through the connection's statement
 * cache (intake runs it for every petition): ?1..?n bound as text, NULL
 * elements as NULL. With out, the first column of the first row (transfer
 * full, nullable). 0 or a negative errno.
 */
static int
spot_stmt(sqlite3 *db, const char *sql, const char *const *vals, int n, char **out)
{
	g_autoptr(StoreStmt) st = store_stmt(db, sql);
	if (!st) {
		return -EIO;
	}
	for (int i = 0; i < n; i++) {
		sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(st);
	if (out) {
		*out = rc == SQLITE_ROW && text(st, 0) ? g_strdup(text(st, 0)) : NULL;
	}
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_errno(rc);
}

/*
 * One rule: a hot spot of the same key still open (its last case within the
 * window) takes the new case. Else, when the cases matching `match` (SQL
 * over hotspot_intake c with ?1, ?2 its values, ?3 the window's first day)
 * reach the threshold, a new hot spot takes every case of the window and is
 * announced. Counting stops at the threshold: the cost of a petition does not
 * grow with the size of the window.
 */
static int
spot_rule(struct spot_job *j, sqlite3 *db, unsigned threshold, const char *kind, const char *key,
	  const char *match, const char *v1, const char *v2, const char *since, const char *today,
	  const char *locality, const char *field, const char *respondent)
{
	struct reports *r = j->r;
	char *open = NULL;
	int e = spot_stmt(db, "SELECT id FROM hotspots WHERE key = ?1 AND last_on >= ?2 ORDER BY "
			      "last_on DESC LIMIT 1",
			  (const char *const[]){key, since}, 2, &open);
	if (e == 0 && open) {
		e = spot_stmt(db, "INSERT OR IGNORE INTO hotspot_cases (hotspot_id, case_id, "
				  "agency_id) SELECT ?1, case_id, agency_id FROM hotspot_intake WHERE "
				  "case_id = ?2",
			      (const char *const[]){open, j->case_id}, 2, NULL);
		if (e == 0) {
			e = spot_stmt(db, "UPDATE hotspots SET last_on = max(last_on, ?2) WHERE id = ?1",
				      (const char *const[]){open, today}, 2, NULL);
		}
		g_free(open);
		return e;
	}
	char thr[16], win[16];
	g_snprintf(thr, sizeof(thr), "%u", threshold);
	g_snprintf(win, sizeof(win), "%u", r->opts.hotspot_window_days);
	char *count_sql = g_strdup_printf("SELECT count(*) FROM (SELECT 1 FROM hotspot_intake c "
					  "WHERE %s LIMIT CAST(?4 AS INTEGER))",
					  match);
	char *n_text = NULL;
	if (e == 0) {
		e = spot_stmt(db, count_sql, (const char *const[]){v1, v2, since, thr}, 4, &n_text);
	}
	g_free(count_sql);
	long n = n_text ? strtol(n_text, NULL, 10) : 0;
	g_free(n_text);
	if (e < 0 || n < (long)threshold) {
		return e;
	}
	char id[23], now[STORE_TIME_SIZE];
	store_new_id(id);
	store_time_now(now);
	e = spot_stmt(db, "INSERT INTO hotspots (id, kind, key, locality_code, field, "
			  "respondent_agency_id, threshold, window_days, first_on, last_on, "
			  "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, CAST(?7 AS INTEGER), CAST(?8 AS "
			  "INTEGER), ?9, ?10, ?11)",
		      (const char *const[]){id, kind, key, locality, field, respondent, thr, win,
					    since, today, now},
		      11, NULL);
	if (e == 0) {
		char *sql = g_strdup_printf("INSERT OR IGNORE INTO hotspot_cases (hotspot_id, "
					    "case_id, agency_id) SELECT ?4, c.case_id, c.agency_id "
					    "FROM hotspot_intake c WHERE %s",
					    match);
		e = spot_stmt(db, sql, (const char *const[]){v1, v2, since, id}, 4, NULL);
		g_free(sql);
	}
	/* first_on: the first day of receipt among its cases */
	if (e == 0) {
		e = spot_stmt(db, "UPDATE hotspots SET first_on = (SELECT min(c.day) FROM hotspot_cases "
				  "h JOIN hotspot_intake c ON c.case_id = h.case_id WHERE h.hotspot_id "
				  "= ?1) WHERE id = ?1",
			      (const char *const[]){id}, 1, NULL);
	}
	if (e == 0) {
		g_ptr_array_add(j->created, g_strdup(id));
	}
	return e;
}

static int
spot_txn(sqlite3 *db, void *data)
{
	struct spot_job *j = data;
	struct reports *r = j->r;
	int e = spot_stmt(db, "INSERT OR IGNORE INTO hotspot_intake (case_id, agency_id, "
			      "locality_code, field, respondent_agency_id, day) SELECT id, agency_id, "
			      "locality_code, field, json_extract(respondent, '$.agency_id'), "
			      "received_on FROM cases WHERE id = ?1",
			  (const char *const[]){j->case_id}, 1, NULL);
	if (e < 0) {
		return e;
	}
	g_autoptr(StoreStmt) st = store_stmt(
		db, "SELECT i.locality_code, i.field, i.day, c.mass, i.respondent_agency_id FROM "
		    "hotspot_intake i JOIN cases c ON c.id = i.case_id WHERE i.case_id = ?1");
	if (!st) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, j->case_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		return 0;
	}
	char *locality = g_strdup(text(st, 0)), *field = g_strdup(text(st, 1));
	char *received = g_strdup(text(st, 2));
	bool mass = sqlite3_column_int(st, 3);
	char *respondent = g_strdup(text(st, 4));
	char since[11];
	day_text(day_number(received) - (int32_t)r->opts.hotspot_window_days + 1, since);
	if (mass && r->opts.hotspot_mass) {
		char *key = g_strdup_printf("mass:%s", j->case_id);
		e = spot_rule(j, db, 1, "mass", key, "c.case_id = ?1 AND ?2 IS NULL AND ?3 IS NOT NULL",
			      j->case_id, NULL, since, received, locality, field, respondent);
		g_free(key);
	}
	if (e == 0) {
		char *key = g_strdup_printf("locality_field:%s:%s", locality, field);
		e = spot_rule(j, db, r->opts.hotspot_count, "locality_field", key,
			      "c.locality_code = ?1 AND c.field = ?2 AND c.day >= ?3", locality,
			      field, since, received, locality, field, NULL);
		g_free(key);
	}
	if (e == 0 && respondent) {
		char *key = g_strdup_printf("respondent:%s", respondent);
		e = spot_rule(j, db, r->opts.hotspot_count, "respondent", key,
			      "c.respondent_agency_id = ?1 AND ?2 IS NULL AND c.day >= ?3",
			      respondent, NULL, since, received, NULL, NULL, respondent);
		g_free(key);
	}
	g_free(locality);
	g_free(field);
	g_free(received);
	g_free(respondent);
	return e;
}

/* (transfer full) A hot spot as the viewer may see it (its cases filtered), or NULL. */
static json_t *
hotspot_json(struct reports *r, sqlite3 *db, const char *id, const struct rpc_identity *viewer)
{
	g_autoptr(StoreStmt) st = store_stmt(
		db, "SELECT kind, locality_code, field, respondent_agency_id, threshold, window_days, "
		    "first_on, last_on, created_at FROM hotspots WHERE id = ?1");
	if (!st) {
		return NULL;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		return NULL;
	}
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:i, s:i, s:s, s:s, s:s}", "id", id,
			      "kind", text(st, 0), "locality_code", text(st, 1), "field",
			      text(st, 2), "respondent_agency_id", text(st, 3), "threshold",
			      sqlite3_column_int(st, 4), "window_days", sqlite3_column_int(st, 5),
			      "first_on", text(st, 6), "last_on", text(st, 7), "created_at",
			      text(st, 8));
	json_t *cases = json_array(), *agencies = json_array();
	int n = 0;
	bool reach = false;
	g_autoptr(StoreStmt) cs = store_stmt(
		db, "SELECT case_id, agency_id FROM hotspot_cases WHERE hotspot_id = ?1 "
		    "ORDER BY rowid");
	if (cs) {
		sqlite3_bind_text(cs, 1, id, -1, SQLITE_STATIC);
		while (sqlite3_step(cs) == SQLITE_ROW) {
			n++;
			const char *agency = text(cs, 1);
			bool known = false;
			size_t i;
			json_t *a;
			json_array_foreach(agencies, i, a)
			{
				known = known || strcmp(json_string_value(a), agency) == 0;
			}
			if (!known) {
				json_array_append_new(agencies, json_string(agency));
				reach = reach || may_report_on(db, viewer, agency);
			}
			if (cases_visible(r->cases, viewer, text(cs, 0))) {
				json_array_append_new(cases, json_string(text(cs, 0)));
			}
		}
	}
	json_object_set_new(o, "count", json_integer(n));
	json_object_set_new(o, "agencies", agencies);
	json_object_set_new(o, "case_ids", cases);
	if (!reach) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct spot_event {
	struct reports *r;
	const char *id;
};

static void
spot_event_to(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *id, void *data)
{
	struct spot_event *e = data;
	if (!(id->roles & (RPC_LEADER | RPC_INSPECTOR))) {
		return;
	}
	json_t *h = hotspot_json(e->r, store_reader(e->r->store), e->id, id);
	if (h) {
		rpc_notify(rpc, client_id, "event.report.hotspot", json_pack("{s:o}", "hotspot", h));
	}
}

static void
spot_done(int status, void *data)
{
	struct spot_job *j = data;
	if (status < 0) {
		td_error(MOD, "hot spot check not stored", "case=%s err=%d", j->case_id, status);
	}
	for (guint i = 0; status == 0 && i < j->created->len; i++) {
		struct spot_event e = {.r = j->r, .id = j->created->pdata[i]};
		td_info(MOD, "hot spot", "hotspot=%s case=%s", e.id, j->case_id);
		rpc_foreach_identity(j->r->rpc, spot_event_to, &e);
	}
	spot_job_free(j);
}

void
reports_case_received(struct reports *r, const char *case_id)
{
	struct spot_job *j = g_new0(struct spot_job, 1);
	j->r = r;
	j->case_id = g_strdup(case_id);
	j->created = g_ptr_array_new_with_free_func(g_free);
	/* spot_txn touches only the writer, *j and r's settings: it runs on the writer thread,
	 * in the same groups as the intakes (a loop job between them would split the groups). */
	if (store_write_off_loop(r->store, spot_txn, spot_done, j) < 0) {
		td_error(MOD, "hot spot check not queued", "case=%s", case_id);
		spot_job_free(j);
	}
}

/*
 * report.hotspots: newest first, those with a case at an agency the caller
 * reports on (and, with agency_id, inside that agency's tree). The cursor is
 * the number of hot spots already passed.
 */
static void
report_hotspots(struct rpc_call *call, json_t *params, void *data)
{
	struct reports *r = data;
	sqlite3 *db = store_reader(r->store);
	const struct rpc_identity *who = rpc_call_identity(call);
	const char *agency = json_string_value(json_object_get(params, "agency_id"));
	const char *since = json_string_value(json_object_get(params, "since"));
	json_int_t limit = json_object_get(params, "limit")
				   ? json_integer_value(json_object_get(params, "limit"))
				   : 50;
	long skip = 0;
	const char *cursor = json_string_value(json_object_get(params, "cursor"));
	if (cursor) {
		char *end = NULL;
		skip = strtol(cursor, &end, 10);
		if (!end || *end || skip < 0) {
			rpc_call_invalid(call, "/cursor", "format");
			return;
		}
	}
	GHashTable *scope = NULL;
	GPtrArray *order = g_ptr_array_new();
	if (agency) {
		if (!may_report_on(db, who, agency)) {
			g_ptr_array_free(order, TRUE);
			rpc_call_error(call, TD_ERR_NOT_FOUND, NULL,
				       json_pack("{s:s}", "field", "/agency_id"));
			return;
		}
		scope = scope_load(db, agency, true, order);
	}
	g_autoptr(StoreStmt) st = store_stmt(
		db, "SELECT id FROM hotspots WHERE last_on >= ifnull(?1, '') ORDER BY rowid DESC");
	json_t *items = json_array();
	long seen = 0;
	bool more = false;
	if (st) {
		sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *h = hotspot_json(r, db, text(st, 0), who);
			bool in_scope = h && !scope;
			size_t i;
			json_t *a;
			json_array_foreach(h ? json_object_get(h, "agencies") : NULL, i, a)
			{
				in_scope = in_scope ||
					   g_hash_table_contains(scope, json_string_value(a));
			}
			if (!in_scope) {
				json_decref(h);
				continue;
			}
			if (seen++ < skip) {
				json_decref(h);
				continue;
			}
			if ((json_int_t)json_array_size(items) == limit) {
				json_decref(h);
				more = true;
				break;
			}
			json_array_append_new(items, h);
		}
	}
	char next[24];
	g_snprintf(next, sizeof(next), "%ld", skip + (long)json_array_size(items));
	rpc_call_reply(call, json_pack("{s:o, s:o}", "items", items, "next_cursor",
				       more ? json_string(next) : json_null()));
	if (scope) {
		g_hash_table_destroy(scope);
	}
	g_ptr_array_free(order, TRUE);
}

/* ---- the module ---- */

static const char *const formats[] = {"csv", "json", NULL};

#define REPORT_PARAMS                                                                             \
	{.name = "agency_id", .type = RPC_T_ID, .required = true},                                \
	{.name = "from", .type = RPC_T_DATE, .description = "first day, inclusive"},              \
	{.name = "to", .type = RPC_T_DATE, .description = "last day, inclusive"},                 \
	{.name = "period", .type = RPC_T_STRING, .min = 4, .max = 7,                              \
	 .description = "instead of from/to, a standard period of DOMAIN.md §7: YYYY, "          \
			"YYYY-H1, YYYY-H2, YYYY-Q1..Q4, YYYY-MM"},                               \
	{.name = "include_children", .type = RPC_T_BOOLEAN},                                      \
	{.name = "explain", .type = RPC_T_STRING, .min = 1, .max = 200,                           \
	 .description = "an indicator path, e.g. totals.overdue, by_kind.complaint.received"}

static const struct rpc_param summary_params[] = {REPORT_PARAMS, {0}};
static const struct rpc_param ticket_params[] = {
	REPORT_PARAMS,
	{.name = "format", .type = RPC_T_ENUM, .required = true, .enum_values = formats},
	{0},
};
static const struct rpc_param hotspot_params[] = {
	{.name = "agency_id", .type = RPC_T_ID, .description = "only hot spots in this tree"},
	{.name = "since", .type = RPC_T_DATE, .description = "only those with a case since"},
	{.name = "limit", .type = RPC_T_INTEGER, .min = 1, .max = 200},
	{.name = "cursor", .type = RPC_T_STRING, .min = 1, .max = 32},
	{0},
};

static const struct rpc_method report_methods[] = {
	{.name = "report.summary", .handler = report_summary, .who = RPC_INSPECTOR | RPC_LEADER,
	 .summary = "Indicators of an agency (or its tree) for a date range or standard period "
		    "(docs/reports.md).",
	 .params = summary_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"agency_id\",\"from\",\"to\","
			  "\"include_children\",\"totals\",\"by_kind\",\"by_field\",\"by_agency\","
			  "\"reception\"]}"},
	{.name = "report.ticket", .handler = report_ticket, .who = RPC_INSPECTOR | RPC_LEADER,
	 .summary = "A single-use URL (5 minutes) of the report as CSV or JSON.",
	 .params = ticket_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"url\"]}"},
	{.name = "report.hotspots", .handler = report_hotspots, .who = RPC_INSPECTOR | RPC_LEADER,
	 .summary = "Hot spots (early warnings) with a case in the caller's reach, newest first.",
	 .params = hotspot_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"items\",\"next_cursor\"]}"},
};

struct reports *
reports_create(struct rpc *rpc, struct store *store, struct td_calendar *cal,
	       struct cases *cases, const struct reports_options *opts, GError **error)
{
	struct reports *r = g_new0(struct reports, 1);
	r->rpc = rpc;
	r->store = store;
	r->cal = cal;
	r->cases = cases;
	r->opts = *opts;
	if (!r->opts.hotspot_count) {
		r->opts.hotspot_count = 5;
	}
	if (!r->opts.hotspot_window_days) {
		r->opts.hotspot_window_days = 30;
	}
	if (!r->opts.prolonged_days) {
		r->opts.prolonged_days = 90;
	}
	r->tz = g_time_zone_new_identifier(r->opts.timezone ? r->opts.timezone
							    : "Asia/Ho_Chi_Minh");
	if (!r->tz) {
		r->tz = g_time_zone_new_offset(7 * 3600);
	}
	r->opts.timezone = NULL;
	r->tickets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, ticket_free);
	if (rpc_register(rpc, report_methods, G_N_ELEMENTS(report_methods), r) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "report methods registered twice");
		reports_destroy(r);
		return NULL;
	}
	return r;
}

void
reports_destroy(struct reports *r)
{
	if (!r) {
		return;
	}
	g_hash_table_destroy(r->tickets);
	if (r->tz) {
		g_time_zone_unref(r->tz);
	}
	g_free(r);
}
