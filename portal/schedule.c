/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/schedule.h"

#include <errno.h>
#include <string.h>

#include "tiepdan/access.h"
#include "tiepdan/log.h"
#include "tiepdan/timeline.h"

/*
 * Schedules, slots and appointments (PROTOCOL.md §6, DOMAIN.md §5).
 *
 * Every change is one store_write: the job's transaction reads what it needs
 * on the writer connection, decides, writes, and records a refusal in the job
 * (nothing written) which done answers after COMMIT. The writer serialises
 * concurrent bookings; the schema (migration 6) holds the one-seat invariant
 * even if this code were wrong: a partial unique index on (slot_id, seat) of
 * active appointments and a trigger refusing a seat above the capacity.
 *
 * Times: the wire carries RFC 3339; slots store their start and end both as
 * text in the portal's zone and as Unix seconds, which every comparison uses.
 */

#define MOD "schedule"

/* Most slots one schedule.create may publish, and most days it may span. */
#define MAX_SLOTS 5000
#define MAX_DAYS 400
/* Schedules are published at least this many working days ahead (LTCD 24). */
#define NOTICE_WORKING_DAYS 5

struct schedule {
	struct rpc *rpc;
	struct store *store;
	struct td_calendar *cal;
	struct schedule_options opts;
	GTimeZone *tz;
	guint tick;
	bool sweeping; /* a reminder write is in flight */
	/* "agency|YYYY-MM" → the Julian day (portal zone) on which that month's leader days were
	 * last checked: found enough, announced, or found already announced (see leader_tick) */
	GHashTable *leader_checked;
	guint32 leader_day; /* the day of the last tick: older entries go when it changes */
};

static int64_t
now_s(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* "YYYY-MM-DDTHH:MM:SS+07:00" of a Unix time in the portal's zone. */
static char *
local_text(struct schedule *s, int64_t t)
{
	GDateTime *utc = g_date_time_new_from_unix_utc(t);
	GDateTime *loc = g_date_time_to_timezone(utc, s->tz);
	char *out = g_date_time_format(loc, "%Y-%m-%dT%H:%M:%S%:z");
	g_date_time_unref(loc);
	g_date_time_unref(utc);
	return out;
}

/* The date in the portal's zone of a Unix time. */
static void
local_date(struct schedule *s, int64_t t, GDate *out)
{
	GDateTime *utc = g_date_time_new_from_unix_utc(t);
	GDateTime *loc = g_date_time_to_timezone(utc, s->tz);
	g_date_clear(out, 1);
	g_date_set_dmy(out, (GDateDay)g_date_time_get_day_of_month(loc),
		       (GDateMonth)g_date_time_get_month(loc), (GDateYear)g_date_time_get_year(loc));
	g_date_time_unref(loc);
	g_date_time_unref(utc);
}

static char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? g_strdup((const char *)t) : NULL;
}

static json_t *
col_json(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? json_string((const char *)t) : json_null();
}

/* ---- statements ---- */

/*
 * Statements come from the store's cache (store_stmt(): prepared once per
 * connection; compiling SQL was a third of the SQLite time of a booking).
 * release() resets one and clears its bindings, so it holds no read snapshot
 * and no pointer into the caller's memory between uses, and a job leaves no
 * statement running (store_write's rule).
 */
static int
prepare(struct schedule *s, sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	(void)s;
	*st = store_stmt(db, sql);
	return *st ? 0 : -EIO;
}

static void
release(struct schedule *s, sqlite3_stmt *st)
{
	(void)s;
	store_stmt_release(st);
}

/* ---- rendering ---- */

#define APPT_SELECT                                                                               \
	"SELECT a.id, a.slot_id, s.start_at, s.end_at, s.agency_id, s.host_id, u.full_name, "    \
	"s.mode, s.location, a.topic, a.case_id, a.status, a.seat, a.created_at, "               \
	"a.cancelled_at, a.cancel_reason, a.citizen_id, s.start_s "                              \
	"FROM appointments a JOIN slots s ON s.id = a.slot_id JOIN users u ON u.id = s.host_id "

/* The appointment object of PROTOCOL.md §6 from a row of APPT_SELECT. */
static json_t *
appt_row_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:o, s:s, s:o, s:s, s:I, "
			 "s:s, s:o, s:o, s:s}",
			 "id", (const char *)sqlite3_column_text(st, 0), "slot_id",
			 (const char *)sqlite3_column_text(st, 1), "start",
			 (const char *)sqlite3_column_text(st, 2), "end",
			 (const char *)sqlite3_column_text(st, 3), "agency_id",
			 (const char *)sqlite3_column_text(st, 4), "host", "id",
			 (const char *)sqlite3_column_text(st, 5), "full_name",
			 (const char *)sqlite3_column_text(st, 6), "mode",
			 (const char *)sqlite3_column_text(st, 7), "location", col_json(st, 8),
			 "topic", (const char *)sqlite3_column_text(st, 9), "case_id",
			 col_json(st, 10), "status", (const char *)sqlite3_column_text(st, 11),
			 "seat", (json_int_t)sqlite3_column_int64(st, 12), "created_at",
			 (const char *)sqlite3_column_text(st, 13), "cancelled_at",
			 col_json(st, 14), "cancel_reason", col_json(st, 15), "citizen_id",
			 (const char *)sqlite3_column_text(st, 16));
}

/* (transfer full, nullable) One appointment as the wire shows it; *citizen_id (nullable)
 * receives its owner. */
static json_t *
appt_json(struct schedule *s, sqlite3 *db, const char *id, char **citizen_id)
{
	sqlite3_stmt *st = NULL;
	json_t *o = NULL;
	if (sqlite3_prepare_v3(db, APPT_SELECT "WHERE a.id = ?1", -1, SQLITE_PREPARE_PERSISTENT,
			       &st, NULL) != SQLITE_OK) {
		td_error(MOD, "appointment query", "err=\"%s\"", sqlite3_errmsg(db));
		return NULL;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		o = appt_row_json(st);
		if (citizen_id) {
			*citizen_id = col(st, 16);
		}
	}
	release(s, st);
	return o;
}

#define SLOT_SELECT                                                                               \
	"SELECT s.id, s.start_at, s.end_at, s.host_id, u.full_name, s.mode, s.location, "         \
	"s.agency_id, s.capacity, s.leader_day, s.capacity - (SELECT count(*) FROM appointments " \
	"a WHERE a.slot_id = s.id AND a.status = 'active') AS remaining, s.start_s, "              \
	"(SELECT count(*) FROM waitlist w WHERE w.slot_id = s.id) AS waiting "                    \
	"FROM slots s JOIN users u ON u.id = s.host_id "

static json_t *
slot_row_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:o, s:s, s:I, s:b, s:I, s:I}",
			 "slot_id", (const char *)sqlite3_column_text(st, 0), "start",
			 (const char *)sqlite3_column_text(st, 1), "end",
			 (const char *)sqlite3_column_text(st, 2), "host", "id",
			 (const char *)sqlite3_column_text(st, 3), "full_name",
			 (const char *)sqlite3_column_text(st, 4), "mode",
			 (const char *)sqlite3_column_text(st, 5), "location", col_json(st, 6),
			 "agency_id", (const char *)sqlite3_column_text(st, 7), "capacity",
			 (json_int_t)sqlite3_column_int64(st, 8), "leader_day",
			 sqlite3_column_int(st, 9) != 0, "remaining",
			 (json_int_t)sqlite3_column_int64(st, 10), "waiting",
			 (json_int_t)sqlite3_column_int64(st, 12));
}

/* ---- events ---- */

struct notify_ctx {
	const char *method;
	json_t *params;
	const char *staff_of; /* (nullable) only the staff of this agency */
	unsigned sent;
};

static void
notify_one(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *id, void *data)
{
	struct notify_ctx *n = data;
	if (n->staff_of && !(id && access_holds(id, RPC_STAFF, n->staff_of))) {
		return;
	}
	if (rpc_notify(rpc, client_id, n->method, json_incref(n->params)) == 0) {
		n->sent++;
	}
}

/* method {appointment, …extra} to every connection bound to user_id; extra is (transfer full,
 * nullable). Returns the number of connections reached. */
static unsigned
notify_user(struct schedule *s, const char *user_id, const char *method, json_t *appt,
	    json_t *extra)
{
	struct notify_ctx n = {.method = method};
	n.params = json_pack("{s:O}", "appointment", appt);
	if (extra) {
		json_object_update(n.params, extra);
		json_decref(extra);
	}
	rpc_foreach_bound(s->rpc, user_id, notify_one, &n);
	json_decref(n.params);
	return n.sent;
}

/* event.appointment.updated with the stored appointment to its citizen. */
static void
announce(struct schedule *s, const char *appt_id)
{
	char *citizen = NULL;
	json_t *a = appt_json(s, store_reader(s->store), appt_id, &citizen);
	if (a && citizen) {
		notify_user(s, citizen, "event.appointment.updated", a, NULL);
	}
	json_decref(a);
	g_free(citizen);
}

/* ---- jobs ---- */

/*
 * One write job of any method. The transaction fills code/reason for a
 * refusal (then it wrote nothing) or the ids for done to render.
 */
struct job {
	struct schedule *s;
	struct rpc_call *call;
	struct rpc_identity who;
	json_t *params;
	/* schedule.create, decided before the transaction */
	char schedule_id[23];
	GArray *slot_starts; /* int64_t */
	int64_t slot_len;
	/* set by the transaction */
	int code;
	const char *reason;
	json_t *error_data;
	char appt_id[23];
	char *promoted;     /* (nullable) an appointment given to the first in line */
	bool tell_owner;    /* event.appointment.updated to the owner (not after a booking) */
	int64_t position;   /* appointment.wait */
	/* schedule.create: the short months of the slots, marked in the transaction */
	GPtrArray *warnings; /* (nullable) struct leader_warning */
	char today[11];
	guint32 julian;
};

static void
job_free(struct job *j)
{
	rpc_identity_clear(&j->who);
	json_decref(j->params);
	json_decref(j->error_data);
	if (j->slot_starts) {
		g_array_free(j->slot_starts, TRUE);
	}
	g_free(j->promoted);
	if (j->warnings) {
		g_ptr_array_free(j->warnings, TRUE);
	}
	g_free(j);
}

static struct job *
job_new(struct schedule *s, struct rpc_call *call, json_t *params)
{
	struct job *j = g_new0(struct job, 1);
	j->s = s;
	j->call = call;
	j->params = json_incref(params);
	rpc_identity_copy(&j->who, rpc_call_identity(call));
	return j;
}

static int
refuse(struct job *j, int code, const char *reason)
{
	j->code = code;
	j->reason = reason;
	return 0;
}

static const char *
param(struct job *j, const char *name)
{
	return json_string_value(json_object_get(j->params, name));
}

static void
job_start(struct job *j, store_txn_fn fn, store_done_fn done)
{
	if (store_write(j->s->store, fn, done, j) < 0) {
		rpc_call_error(j->call, TD_ERR_RATE_LIMITED, NULL,
			       json_pack("{s:i}", "retry_after_s", 1));
		job_free(j);
	}
}

/* Answers a refusal recorded by the transaction, or an internal error; true when it did. */
static bool
answer_failure(struct job *j, int status)
{
	if (status < 0) {
		td_error(MOD, "write not stored", "method=%s err=%d", rpc_call_method(j->call),
			 status);
		rpc_call_error(j->call, TD_ERR_INTERNAL, NULL, NULL);
		return true;
	}
	if (j->code) {
		json_t *data = j->error_data ? json_incref(j->error_data) : NULL;
		if (j->reason) {
			if (!data) {
				data = json_object();
			}
			json_object_set_new(data, "reason", json_string(j->reason));
		}
		rpc_call_error(j->call, j->code, NULL, data);
		return true;
	}
	return false;
}

static int
step_done(struct schedule *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	release(s, st);
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

/* ---- seats ---- */

struct slot_row {
	int64_t capacity, start_s, end_s;
	char *agency_id;
};

/* 0, -ENOENT, -EIO. */
static int
slot_load(struct schedule *s, sqlite3 *db, const char *slot_id, struct slot_row *out)
{
	sqlite3_stmt *st = NULL;
	memset(out, 0, sizeof(*out));
	if (prepare(s, db, "SELECT capacity, start_s, end_s, agency_id FROM slots WHERE id = ?1",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, slot_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->capacity = sqlite3_column_int64(st, 0);
		out->start_s = sqlite3_column_int64(st, 1);
		out->end_s = sqlite3_column_int64(st, 2);
		out->agency_id = col(st, 3);
	}
	release(s, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/*
 * Whether citizen_id may take a seat in slot now, and which: the refusal
 * reason ("overlap": another appointment or a dialogue of theirs at that time;
 * "limit", "full") or NULL with *seat the lowest free seat.
 * exclude_id (nullable) is an appointment of the citizen that is being moved:
 * it neither overlaps nor counts toward the limit. Order of the checks: an
 * overlap (also holding this very slot) and the limit are about the citizen
 * and are told before "full", which is about the slot.
 */
static int
seat_for(struct schedule *s, sqlite3 *db, const char *citizen_id, const char *slot_id,
	 const struct slot_row *slot, const char *exclude_id, int64_t *seat, const char **reason)
{
	sqlite3_stmt *st = NULL;
	int rc;
	*reason = NULL;
	*seat = 0;
	/* Another active appointment, or a dialogue they take part in, at that time. */
	if (prepare(s, db,
		    "SELECT 1 FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE "
		    "a.citizen_id = ?1 AND a.status = 'active' AND a.id IS NOT ?2 AND "
		    "s.start_s < ?4 AND s.end_s > ?3 "
		    "UNION ALL SELECT 1 FROM dialogue_participants p JOIN dialogues d ON "
		    "d.id = p.dialogue_id WHERE p.user_id = ?1 AND d.start_s < ?4 AND "
		    "d.end_s > ?3 LIMIT 1",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, citizen_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, exclude_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, slot->start_s);
	sqlite3_bind_int64(st, 4, slot->end_s);
	rc = sqlite3_step(st);
	release(s, st);
	if (rc == SQLITE_ROW) {
		*reason = "overlap";
		return 0;
	} else if (rc != SQLITE_DONE) {
		return -EIO;
	}
	if (prepare(s, db,
		    "SELECT count(*) FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE "
		    "a.citizen_id = ?1 AND a.status = 'active' AND a.id IS NOT ?2 AND s.end_s > ?3",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, citizen_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, exclude_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_s());
	rc = sqlite3_step(st);
	int64_t held = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	release(s, st);
	if (held < 0) {
		return -EIO;
	}
	if (held >= (int64_t)s->opts.max_active_bookings) {
		*reason = "limit";
		return 0;
	}
	if (prepare(s, db,
		    "SELECT seat FROM appointments WHERE slot_id = ?1 AND status = 'active' "
		    "ORDER BY seat",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, slot_id, -1, SQLITE_STATIC);
	int64_t want = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t taken = sqlite3_column_int64(st, 0);
		if (taken > want) {
			break;
		}
		want = taken + 1;
	}
	release(s, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		return -EIO;
	}
	if (want > slot->capacity) {
		*reason = "full";
		return 0;
	}
	*seat = want;
	return 0;
}

/* One reminder row per offset and recipient (the citizen, the host) still in the future. */
static int
reminders_plan(struct schedule *s, sqlite3 *db, const char *appt_id, const char *citizen_id,
	       const char *slot_id)
{
	sqlite3_stmt *st = NULL;
	int e = 0;
	if (prepare(s, db, "DELETE FROM reminders WHERE appointment_id = ?1", &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, appt_id, -1, SQLITE_STATIC);
	if ((e = step_done(s, st)) < 0) {
		return e;
	}
	for (size_t i = 0; i < s->opts.n_offsets && e == 0; i++) {
		if (prepare(s, db,
			    "INSERT OR IGNORE INTO reminders (appointment_id, offset_min, user_id, "
			    "due_s) SELECT ?1, ?2, who.value, s.start_s - ?2 * 60 FROM slots s, "
			    "json_each(json_array(?3, s.host_id)) who WHERE s.id = ?4 AND "
			    "s.start_s - ?2 * 60 > ?5",
			    &st) < 0) {
			return -EIO;
		}
		sqlite3_bind_text(st, 1, appt_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, s->opts.reminder_offsets[i]);
		sqlite3_bind_text(st, 3, citizen_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, slot_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now_s());
		e = step_done(s, st);
	}
	return e;
}

static int
appt_insert(struct schedule *s, sqlite3 *db, const char *id, const char *slot_id,
	    const char *citizen_id, int64_t seat, const char *topic, const char *case_id)
{
	sqlite3_stmt *st = NULL;
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	if (prepare(s, db,
		    "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, topic, "
		    "case_id, created_at) VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7)",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, slot_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, citizen_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, seat);
	sqlite3_bind_text(st, 5, topic ? topic : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	int e = step_done(s, st);
	return e < 0 ? e : reminders_plan(s, db, id, citizen_id, slot_id);
}

/*
 * A seat of slot_id was freed in this transaction: it goes, in the same
 * transaction, to the first in line who may take it. A waiter who now
 * overlaps another booking or is at the limit keeps their place and the next
 * one is tried; nobody gets it when the slot has begun. *promoted receives the
 * new appointment's id.
 */
static int
promote(struct schedule *s, sqlite3 *db, const char *slot_id, char **promoted)
{
	struct slot_row slot;
	sqlite3_stmt *st = NULL;
	int e = slot_load(s, db, slot_id, &slot);
	if (e < 0) {
		return e;
	}
	if (slot.start_s <= now_s()) {
		g_free(slot.agency_id);
		return 0;
	}
	if (prepare(s, db,
		    "SELECT seq, citizen_id, topic, case_id FROM waitlist WHERE slot_id = ?1 "
		    "ORDER BY seq",
		    &st) < 0) {
		g_free(slot.agency_id);
		return -EIO;
	}
	sqlite3_bind_text(st, 1, slot_id, -1, SQLITE_STATIC);
	GPtrArray *line = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	while (sqlite3_step(st) == SQLITE_ROW) {
		g_ptr_array_add(line, json_pack("{s:I, s:s, s:s, s:o}", "seq",
						(json_int_t)sqlite3_column_int64(st, 0), "citizen",
						(const char *)sqlite3_column_text(st, 1), "topic",
						(const char *)sqlite3_column_text(st, 2), "case_id",
						col_json(st, 3)));
	}
	release(s, st);
	for (guint i = 0; i < line->len && e == 0; i++) {
		json_t *w = line->pdata[i];
		const char *citizen = json_string_value(json_object_get(w, "citizen"));
		const char *reason = NULL;
		int64_t seat = 0;
		e = seat_for(s, db, citizen, slot_id, &slot, NULL, &seat, &reason);
		if (e < 0 || (reason && strcmp(reason, "full") == 0)) {
			break;
		}
		if (reason) {
			continue;
		}
		char id[23];
		store_new_id(id);
		e = appt_insert(s, db, id, slot_id, citizen, seat,
				json_string_value(json_object_get(w, "topic")),
				json_string_value(json_object_get(w, "case_id")));
		if (e == 0 && prepare(s, db, "DELETE FROM waitlist WHERE seq = ?1", &st) == 0) {
			sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(w, "seq")));
			e = step_done(s, st);
		}
		if (e == 0) {
			*promoted = g_strdup(id);
		}
		break;
	}
	g_ptr_array_free(line, TRUE);
	g_free(slot.agency_id);
	return e;
}

/* ---- leader days (DOMAIN.md §5) ---- */

/* What one month of one agency holds against DOMAIN.md §5 (leader_days_check). */
struct leader_days {
	bool short_;
	const char *rule;      /* "monthly", "weekly", or NULL: no minimum for the level */
	char *level;           /* (nullable) the agency's level */
	json_t *days;          /* the month's leader days, "YYYY-MM-DD" */
	json_t *weeks_without; /* weekly: the Monday of each week of the month without one */
};

static void
leader_days_clear(struct leader_days *ld)
{
	g_free(ld->level);
	json_decref(ld->days);
	json_decref(ld->weeks_without);
	memset(ld, 0, sizeof(*ld));
}

/* Unix time of local midnight at the start of d. */
static int64_t
local_midnight(struct schedule *s, const GDate *d)
{
	GDateTime *t = g_date_time_new(s->tz, g_date_get_year(d), g_date_get_month(d),
				       g_date_get_day(d), 0, 0, 0);
	int64_t v = g_date_time_to_unix(t);
	g_date_time_unref(t);
	return v;
}

/*
 * Whether a leader's reception days in the month of `month` fall short of
 * DOMAIN.md §5. A leader day is a date (in the portal's zone) holding a slot
 * published with leader_day whose host is a leader of the agency. City and
 * department: at least one such day in the month. Ward and commune: one a
 * week, counted on the weeks (Monday to Sunday) of the month that have a
 * working day inside the month; each of them needs a leader day inside the
 * month. Other agencies have no minimum. 0 or -EIO; out is filled on 0.
 */
static int
leader_days_check(struct schedule *s, sqlite3 *db, const char *agency_id, const GDate *month,
		  struct leader_days *out)
{
	sqlite3_stmt *st = NULL;
	memset(out, 0, sizeof(*out));
	if (prepare(s, db, "SELECT level FROM agencies WHERE id = ?1", &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, agency_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		out->level = col(st, 0);
	}
	release(s, st);
	const char *level = out->level ? out->level : "";
	bool weekly = strcmp(level, "ward") == 0 || strcmp(level, "commune") == 0;
	bool monthly = strcmp(level, "city") == 0 || strcmp(level, "department") == 0;
	out->rule = weekly ? "weekly" : monthly ? "monthly" : NULL;
	out->days = json_array();
	out->weeks_without = json_array();
	if (!out->rule) {
		return 0;
	}
	GDate first, next;
	g_date_clear(&first, 1);
	g_date_set_dmy(&first, 1, g_date_get_month(month), g_date_get_year(month));
	next = first;
	g_date_add_months(&next, 1);
	if (prepare(s, db,
		    "SELECT DISTINCT substr(s.start_at, 1, 10) FROM slots s WHERE s.agency_id = ?1 "
		    "AND s.start_s >= ?2 AND s.start_s < ?3 AND s.leader_day = 1 AND EXISTS "
		    "(SELECT 1 FROM user_roles r WHERE r.user_id = s.host_id AND r.agency_id = "
		    "s.agency_id AND r.role = 'leader') ORDER BY 1",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, agency_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, local_midnight(s, &first));
	sqlite3_bind_int64(st, 3, local_midnight(s, &next));
	GHashTable *weeks_held = g_hash_table_new(g_direct_hash, g_direct_equal);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		GDate d;
		if (td_calendar_date_parse((const char *)sqlite3_column_text(st, 0), &d) == 0) {
			json_array_append_new(out->days, col_json(st, 0));
			g_hash_table_add(weeks_held, GUINT_TO_POINTER(g_date_get_monday_week_of_year(&d)));
		}
	}
	release(s, st);
	if (rc != SQLITE_DONE) {
		g_hash_table_destroy(weeks_held);
		return -EIO;
	}
	if (monthly) {
		out->short_ = json_array_size(out->days) < 1;
	} else {
		/* A week lacking a leader day is told once, by its Monday (maybe in the month
		 * before). */
		GDate d = first;
		guint8 n =
			g_date_get_days_in_month(g_date_get_month(&first), g_date_get_year(&first));
		for (guint8 i = 0; i < n; i++, g_date_add_days(&d, 1)) {
			gpointer week = GUINT_TO_POINTER(g_date_get_monday_week_of_year(&d));
			if (!td_calendar_is_working_day(s->cal, &d) ||
			    g_hash_table_contains(weeks_held, week)) {
				continue;
			}
			g_hash_table_add(weeks_held, week);
			GDate monday = d;
			char text[11];
			g_date_subtract_days(&monday, g_date_get_weekday(&d) - G_DATE_MONDAY);
			g_snprintf(text, sizeof(text), "%04u-%02u-%02u", g_date_get_year(&monday),
				   g_date_get_month(&monday), g_date_get_day(&monday));
			json_array_append_new(out->weeks_without, json_string(text));
			out->short_ = true;
		}
	}
	g_hash_table_destroy(weeks_held);
	return 0;
}

/* The flag of appointment.slots: errors count as "not short". */
static bool
leader_days_short(struct schedule *s, sqlite3 *db, const char *agency_id, const GDate *month)
{
	struct leader_days ld;
	bool short_ = leader_days_check(s, db, agency_id, month, &ld) == 0 && ld.short_;
	leader_days_clear(&ld);
	return short_;
}

/*
 * event.schedule.leader_days_short: the agency's staff are warned when a
 * month's leader days fall short — at most once a day (portal zone) per
 * agency and month, across restarts, and only while a staff member of the
 * agency is connected (otherwise the warning waits for one to bind; the
 * appointment.slots flag shows it meanwhile).
 *
 * Who looks: the tick (every second, as the reminders) checks the current and
 * the next month of every agency with a bound staff connection, once a day
 * each (leader_checked remembers the day); a schedule.create checks, in its
 * own transaction, the months its slots fall in. No method turns a month
 * short (schedule.create only adds leader days; there is no schedule.cancel):
 * what changes is the calendar — a new day, a new month in view — and the
 * roles, which the next day's check sees.
 *
 * Exactly once a day: a warning is marked in leader_days_warnings (agency,
 * month → the day last announced) by a write whose UPSERT changes the row
 * only when that day is earlier than today; only a warning that write changed
 * is sent, after COMMIT, to the staff bound then. As with the reminders, a
 * process dying between that COMMIT and the send loses that day's warning
 * and never duplicates it.
 */
struct leader_warning {
	char *agency_id;
	char month[8]; /* YYYY-MM */
	json_t *params; /* of the event */
	bool announce;  /* set by the write: not announced yet today */
};

static void
leader_warning_free(gpointer p)
{
	struct leader_warning *w = p;
	g_free(w->agency_id);
	json_decref(w->params);
	g_free(w);
}

static char *
leader_key(const char *agency_id, const char *month)
{
	return g_strconcat(agency_id, "|", month, NULL);
}

/* The local date of now as YYYY-MM-DD and its Julian day. */
static guint32
leader_today(struct schedule *s, char today[11])
{
	GDate d;
	local_date(s, now_s(), &d);
	g_snprintf(today, 11, "%04u-%02u-%02u", g_date_get_year(&d), g_date_get_month(&d),
		   g_date_get_day(&d));
	return g_date_get_julian(&d);
}

/* Whether month's leader days were checked today (then nothing is done again today). */
static bool
leader_checked_today(struct schedule *s, const char *agency_id, const char *month, guint32 julian)
{
	char *key = leader_key(agency_id, month);
	guint32 day = GPOINTER_TO_UINT(g_hash_table_lookup(s->leader_checked, key));
	g_free(key);
	return day == julian;
}

static void
leader_set_checked(struct schedule *s, const char *agency_id, const char *month, guint32 julian)
{
	g_hash_table_insert(s->leader_checked, leader_key(agency_id, month),
			    GUINT_TO_POINTER(julian));
}

struct staff_scan {
	const char *agency_id; /* (nullable) */
	bool found;
	GHashTable *agencies; /* (nullable) collects every agency with bound staff */
};

static void
staff_scan_one(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *id, void *data)
{
	struct staff_scan *sc = data;
	(void)rpc;
	(void)client_id;
	for (size_t i = 0; id && i < id->n_grants; i++) {
		const struct rpc_grant *g = &id->grants[i];
		if (!(g->role & RPC_STAFF) || !g->agency_id) {
			continue;
		}
		if (sc->agencies) {
			g_hash_table_add(sc->agencies, g->agency_id);
		}
		if (sc->agency_id && strcmp(sc->agency_id, g->agency_id) == 0) {
			sc->found = true;
		}
	}
}

static bool
staff_bound(struct schedule *s, const char *agency_id)
{
	struct staff_scan sc = {.agency_id = agency_id};
	rpc_foreach_identity(s->rpc, staff_scan_one, &sc);
	return sc.found;
}

/*
 * Checks one month of agency_id on db and, when it falls short, appends a
 * warning to out (nothing when the agency's level has no minimum). 0 or -EIO.
 */
static int
leader_warning_add(struct schedule *s, sqlite3 *db, const char *agency_id, const GDate *month,
		   GPtrArray *out)
{
	struct leader_days ld;
	int e = leader_days_check(s, db, agency_id, month, &ld);
	if (e == 0 && ld.short_) {
		struct leader_warning *w = g_new0(struct leader_warning, 1);
		w->agency_id = g_strdup(agency_id);
		g_snprintf(w->month, sizeof(w->month), "%04u-%02u", g_date_get_year(month),
			   g_date_get_month(month));
		w->params = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O}", "agency_id", agency_id,
				      "month", w->month, "level", ld.level, "rule", ld.rule,
				      "leader_days", ld.days, "weeks_without", ld.weeks_without);
		g_ptr_array_add(out, w);
	}
	leader_days_clear(&ld);
	return e;
}

/* Marks each warning announced today, inside a write; sets announce on those not yet. */
static int
leader_warnings_mark(struct schedule *s, sqlite3 *db, GPtrArray *warnings, const char *today)
{
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	for (guint i = 0; i < warnings->len; i++) {
		struct leader_warning *w = warnings->pdata[i];
		sqlite3_stmt *st = NULL;
		if (prepare(s, db,
			    "INSERT INTO leader_days_warnings (agency_id, month, day, sent_at) "
			    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (agency_id, month) DO UPDATE SET "
			    "day = excluded.day, sent_at = excluded.sent_at "
			    "WHERE day < excluded.day",
			    &st) < 0) {
			return -EIO;
		}
		sqlite3_bind_text(st, 1, w->agency_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, w->month, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, today, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
		int e = step_done(s, st);
		if (e < 0) {
			return e;
		}
		w->announce = sqlite3_changes(db) > 0;
	}
	return 0;
}

/* After the COMMIT of the marks: sends the warnings marked now, and remembers the day. */
static void
leader_warnings_send(struct schedule *s, GPtrArray *warnings, guint32 julian)
{
	for (guint i = 0; i < warnings->len; i++) {
		struct leader_warning *w = warnings->pdata[i];
		struct notify_ctx ls = {.method = "event.schedule.leader_days_short",
					.params = w->params,
					.staff_of = w->agency_id};
		if (w->announce) {
			rpc_foreach_identity(s->rpc, notify_one, &ls);
		}
		leader_set_checked(s, w->agency_id, w->month, julian);
		td_info(MOD, "leader days short", "agency=%s month=%s announced=%s connections=%u",
			w->agency_id, w->month, w->announce ? "now" : "earlier_today", ls.sent);
	}
}

struct leader_job {
	struct schedule *s;
	GPtrArray *warnings; /* struct leader_warning */
	char today[11];
	guint32 julian;
};

static int
leader_txn(sqlite3 *db, void *data)
{
	struct leader_job *lj = data;
	return leader_warnings_mark(lj->s, db, lj->warnings, lj->today);
}

/* Releases the job; when its warnings were not marked, the next tick looks at them again. */
static void
leader_job_free(struct leader_job *lj, bool marked)
{
	for (guint i = 0; !marked && i < lj->warnings->len; i++) {
		struct leader_warning *w = lj->warnings->pdata[i];
		char *key = leader_key(w->agency_id, w->month);
		g_hash_table_remove(lj->s->leader_checked, key);
		g_free(key);
	}
	g_ptr_array_free(lj->warnings, TRUE);
	g_free(lj);
}

static void
leader_done(int status, void *data)
{
	struct leader_job *lj = data;
	if (status < 0) {
		td_error(MOD, "leader days warnings not marked; not sent", "err=%d", status);
	} else {
		leader_warnings_send(lj->s, lj->warnings, lj->julian);
	}
	leader_job_free(lj, status == 0);
}

static gboolean
leader_entry_old(gpointer key, gpointer value, gpointer data)
{
	(void)key;
	return GPOINTER_TO_UINT(value) != GPOINTER_TO_UINT(data);
}

/* The tick's part: the current and next month of every agency with bound staff. */
static void
leader_tick(struct schedule *s)
{
	char today[11];
	guint32 julian = leader_today(s, today);
	if (julian != s->leader_day) {
		g_hash_table_foreach_remove(s->leader_checked, leader_entry_old,
					    GUINT_TO_POINTER(julian));
		s->leader_day = julian;
	}
	struct staff_scan sc = {.agencies = g_hash_table_new(g_str_hash, g_str_equal)};
	rpc_foreach_identity(s->rpc, staff_scan_one, &sc);
	if (g_hash_table_size(sc.agencies) == 0) {
		g_hash_table_destroy(sc.agencies);
		return;
	}
	struct leader_job *lj = g_new0(struct leader_job, 1);
	lj->s = s;
	lj->warnings = g_ptr_array_new_with_free_func(leader_warning_free);
	lj->julian = julian;
	g_strlcpy(lj->today, today, sizeof(lj->today));
	GDate months[2];
	g_date_clear(months, 2);
	local_date(s, now_s(), &months[0]);
	g_date_set_day(&months[0], 1);
	months[1] = months[0];
	g_date_add_months(&months[1], 1);
	sqlite3 *db = store_reader(s->store);
	GHashTableIter it;
	gpointer agency;
	g_hash_table_iter_init(&it, sc.agencies);
	while (g_hash_table_iter_next(&it, &agency, NULL)) {
		for (size_t k = 0; k < G_N_ELEMENTS(months); k++) {
			char ym[8];
			g_snprintf(ym, sizeof(ym), "%04u-%02u", g_date_get_year(&months[k]),
				   g_date_get_month(&months[k]));
			if (leader_checked_today(s, agency, ym, lj->julian)) {
				continue;
			}
			if (leader_warning_add(s, db, agency, &months[k], lj->warnings) < 0) {
				continue; /* looked at again next tick */
			}
			/* Short or not, not looked at again today (a short one is being marked). */
			leader_set_checked(s, agency, ym, lj->julian);
		}
	}
	g_hash_table_destroy(sc.agencies);
	if (lj->warnings->len == 0 || store_write(s->store, leader_txn, leader_done, lj) < 0) {
		/* nothing short, or the queue is full or closed (shutdown): looked at again */
		leader_job_free(lj, false);
	}
}

/* ---- schedule.create ---- */

/*
 * The months the new slots fall in, checked on this transaction's view (the
 * slots just inserted count) while a staff member of the agency is bound;
 * the short ones not yet announced today are marked in the same transaction
 * and sent by create_done. Months already checked today are skipped: a
 * schedule.create only adds leader days, it never makes a month short.
 */
static int
create_leader_warnings(struct job *j, sqlite3 *db)
{
	struct schedule *s = j->s;
	const char *agency = param(j, "agency_id");
	int e = 0;
	if (!staff_bound(s, agency)) {
		return 0;
	}
	j->julian = leader_today(s, j->today);
	j->warnings = g_ptr_array_new_with_free_func(leader_warning_free);
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; i < j->slot_starts->len && e == 0; i++) {
		GDate month;
		char ym[8];
		local_date(s, g_array_index(j->slot_starts, int64_t, i), &month);
		g_date_set_day(&month, 1);
		g_snprintf(ym, sizeof(ym), "%04u-%02u", g_date_get_year(&month),
			   g_date_get_month(&month));
		if (g_hash_table_contains(seen, ym) ||
		    leader_checked_today(s, agency, ym, j->julian)) {
			continue;
		}
		g_hash_table_add(seen, g_strdup(ym));
		e = leader_warning_add(s, db, agency, &month, j->warnings);
	}
	g_hash_table_destroy(seen);
	return e < 0 ? e : leader_warnings_mark(s, db, j->warnings, j->today);
}

static int
create_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	const char *agency_id = param(j, "agency_id");
	const char *host_id = param(j, "host_id");
	bool leader_day = json_is_true(json_object_get(j->params, "leader_day"));
	sqlite3_stmt *st = NULL;
	char now[STORE_TIME_SIZE];
	int e;

	/* The host: an official or a leader of the agency, whose account is enabled. */
	if (prepare(s, db,
		    "SELECT max(r.role = 'leader') FROM user_roles r JOIN users u ON u.id = "
		    "r.user_id WHERE r.user_id = ?1 AND r.agency_id = ?2 AND r.role IN "
		    "('official', 'leader') AND u.disabled = 0",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, host_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, agency_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	bool host = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	bool leader = host && sqlite3_column_int(st, 0) == 1;
	release(s, st);
	if (!host) {
		j->error_data = json_pack("{s:s}", "field", "/host_id");
		return refuse(j, TD_ERR_INVALID_PARAMS, "not_a_host");
	}
	if (leader_day && !leader) {
		j->error_data = json_pack("{s:s}", "field", "/leader_day");
		return refuse(j, TD_ERR_INVALID_PARAMS, "host_not_leader");
	}
	store_time_now(now);
	if (prepare(s, db,
		    "INSERT INTO schedules (id, agency_id, host_id, mode, location, leader_day, "
		    "ad_hoc, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, j->schedule_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, agency_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, host_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, param(j, "mode"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, param(j, "location"), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, leader_day);
	sqlite3_bind_int(st, 7, json_is_true(json_object_get(j->params, "ad_hoc")));
	sqlite3_bind_text(st, 8, j->who.user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
	if ((e = step_done(s, st)) < 0) {
		return e;
	}
	if (prepare(s, db,
		    "INSERT INTO slots (id, schedule_id, agency_id, host_id, start_at, end_at, "
		    "start_s, end_s, capacity, mode, location, leader_day) VALUES (?1, ?2, ?3, ?4, "
		    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
		    &st) < 0) {
		return -EIO;
	}
	for (guint i = 0; i < j->slot_starts->len && e == 0; i++) {
		int64_t start = g_array_index(j->slot_starts, int64_t, i);
		char id[23];
		store_new_id(id);
		char *a = local_text(s, start), *b = local_text(s, start + j->slot_len);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, j->schedule_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, agency_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, host_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, a, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 6, b, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 7, start);
		sqlite3_bind_int64(st, 8, start + j->slot_len);
		sqlite3_bind_int64(st, 9, json_integer_value(json_object_get(j->params, "capacity")));
		sqlite3_bind_text(st, 10, param(j, "mode"), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 11, param(j, "location"), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 12, leader_day);
		rc = sqlite3_step(st);
		e = rc == SQLITE_DONE ? 0 : store_errno(rc);
		g_free(a);
		g_free(b);
	}
	release(s, st);
	return e < 0 ? e : create_leader_warnings(j, db);
}

static void
create_done(int status, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	if (!answer_failure(j, status)) {
		sqlite3 *db = store_reader(j->s->store);
		sqlite3_stmt *st = NULL;
		json_t *slots = json_array();
		if (prepare(s, db, SLOT_SELECT "WHERE s.schedule_id = ?1 ORDER BY s.start_s",
			    &st) == 0) {
			sqlite3_bind_text(st, 1, j->schedule_id, -1, SQLITE_STATIC);
			while (sqlite3_step(st) == SQLITE_ROW) {
				json_array_append_new(slots, slot_row_json(st));
			}
			release(s, st);
		}
		td_info(MOD, "schedule published", "schedule=%s slots=%zu", j->schedule_id,
			json_array_size(slots));
		/* Before the answer: a staff caller has the warning when the answer comes. */
		if (j->warnings) {
			leader_warnings_send(s, j->warnings, j->julian);
		}
		rpc_call_reply(j->call, json_pack("{s:s, s:o}", "schedule_id", j->schedule_id,
						  "slots", slots));
	}
	job_free(j);
}

/* A local date plus months (the day clamped to the month's last day). */
static void
add_period(GDate *d, const char *freq, int k)
{
	if (strcmp(freq, "weekly") == 0) {
		g_date_add_days(d, (guint)(7 * k));
	} else {
		g_date_add_months(d, (guint)k);
	}
}

/*
 * Cuts the schedule into slots. start and end give a daily window: from
 * start's time of day to end's, on every date from start's date to end's
 * (one date when they are equal); with repeat, the same dates shifted by one
 * week or month at a time while the shifted first date is not after `until`.
 * Each window is cut into slot_minutes pieces from its start; a remainder
 * shorter than a slot is not published. Days that are not working days
 * (weekends, public holidays and their make-up days, per the calendar) get no
 * slot. Returns NULL (the call answered) on bad input.
 */
static GArray *
cut_slots(struct schedule *s, struct rpc_call *call, json_t *params, int64_t *slot_len)
{
	GDateTime *t0 = NULL, *t1 = NULL, *a = NULL, *b = NULL;
	GArray *out = NULL;
	const char *freq = NULL;
	GDate until;
	g_date_clear(&until, 1);

	a = g_date_time_new_from_iso8601(json_string_value(json_object_get(params, "start")), NULL);
	b = g_date_time_new_from_iso8601(json_string_value(json_object_get(params, "end")), NULL);
	if (!a || !b) {
		rpc_call_invalid(call, a ? "/end" : "/start", "format");
		goto out;
	}
	t0 = g_date_time_to_timezone(a, s->tz);
	t1 = g_date_time_to_timezone(b, s->tz);
	if (g_date_time_compare(t1, t0) <= 0) {
		rpc_call_invalid(call, "/end", "before_start");
		goto out;
	}
	int day0 = g_date_time_get_hour(t0) * 3600 + g_date_time_get_minute(t0) * 60 +
		   g_date_time_get_second(t0);
	int day1 = g_date_time_get_hour(t1) * 3600 + g_date_time_get_minute(t1) * 60 +
		   g_date_time_get_second(t1);
	GDate d0, d1;
	g_date_clear(&d0, 1);
	g_date_clear(&d1, 1);
	g_date_set_dmy(&d0, (GDateDay)g_date_time_get_day_of_month(t0),
		       (GDateMonth)g_date_time_get_month(t0), (GDateYear)g_date_time_get_year(t0));
	g_date_set_dmy(&d1, (GDateDay)g_date_time_get_day_of_month(t1),
		       (GDateMonth)g_date_time_get_month(t1), (GDateYear)g_date_time_get_year(t1));
	int span = g_date_days_between(&d0, &d1);
	if (span > 0 && day1 <= day0) {
		/* several dates: the window is a time of day, so it must not wrap midnight */
		rpc_call_invalid(call, "/end", "window");
		goto out;
	}
	if (span == 0) {
		day1 = day0 + (int)(g_date_time_to_unix(t1) - g_date_time_to_unix(t0));
	}
	if (span >= MAX_DAYS) {
		rpc_call_invalid(call, "/end", "too_long");
		goto out;
	}
	*slot_len = json_integer_value(json_object_get(params, "slot_minutes")) * 60;
	if (day1 - day0 < *slot_len) {
		rpc_call_invalid(call, "/slot_minutes", "longer_than_window");
		goto out;
	}
	json_t *repeat = json_object_get(params, "repeat");
	if (repeat) {
		json_t *f = json_object_get(repeat, "freq"), *u = json_object_get(repeat, "until");
		freq = json_string_value(f);
		if (!f || !u) {
			rpc_call_invalid(call, f ? "/repeat/until" : "/repeat/freq", "required");
			goto out;
		}
		if (json_object_size(repeat) != 2) {
			rpc_call_invalid(call, "/repeat", "unknown");
			goto out;
		}
		if (!freq) {
			rpc_call_invalid(call, "/repeat/freq", "type");
			goto out;
		}
		if (strcmp(freq, "weekly") != 0 && strcmp(freq, "monthly") != 0) {
			rpc_call_invalid(call, "/repeat/freq", "enum");
			goto out;
		}
		if (!json_is_string(u) || td_calendar_date_parse(json_string_value(u), &until) < 0) {
			rpc_call_invalid(call, "/repeat/until", u ? "format" : "required");
			goto out;
		}
		if (g_date_compare(&until, &d0) < 0) {
			rpc_call_invalid(call, "/repeat/until", "before_start");
			goto out;
		}
		GDate last = d0;
		g_date_add_days(&last, MAX_DAYS);
		if (g_date_compare(&until, &last) > 0) {
			rpc_call_invalid(call, "/repeat/until", "too_long");
			goto out;
		}
	}
	out = g_array_new(FALSE, FALSE, sizeof(int64_t));
	for (int k = 0;; k++) {
		GDate first = d0;
		if (k > 0) {
			if (!freq) {
				break;
			}
			add_period(&first, freq, k);
			if (g_date_compare(&first, &until) > 0) {
				break;
			}
		}
		for (int i = 0; i <= span; i++) {
			GDate d = first;
			g_date_add_days(&d, (guint)i);
			if (!td_calendar_is_working_day(s->cal, &d)) {
				continue;
			}
			GDateTime *mid = g_date_time_new(s->tz, g_date_get_year(&d),
							 g_date_get_month(&d), g_date_get_day(&d),
							 0, 0, 0);
			int64_t base = g_date_time_to_unix(mid);
			g_date_time_unref(mid);
			for (int64_t t = day0; t + *slot_len <= day1; t += *slot_len) {
				int64_t v = base + t;
				g_array_append_val(out, v);
				if (out->len > MAX_SLOTS) {
					rpc_call_invalid(call, "/slot_minutes", "too_many_slots");
					g_array_free(out, TRUE);
					out = NULL;
					goto out;
				}
			}
		}
	}
out:
	if (a) {
		g_date_time_unref(a);
	}
	if (b) {
		g_date_time_unref(b);
	}
	if (t0) {
		g_date_time_unref(t0);
	}
	if (t1) {
		g_date_time_unref(t1);
	}
	return out;
}

static void
schedule_create_call(struct rpc_call *call, json_t *params, void *data)
{
	struct schedule *s = data;
	const struct rpc_identity *id = rpc_call_identity(call);
	const char *agency_id = json_string_value(json_object_get(params, "agency_id"));
	if (!access_holds(id, RPC_STAFF | RPC_LEADER, agency_id)) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		return;
	}
	int64_t slot_len = 0;
	GArray *starts = cut_slots(s, call, params, &slot_len);
	if (!starts) {
		return;
	}
	if (starts->len == 0) {
		rpc_call_error(call, TD_ERR_CONFLICT, NULL, json_pack("{s:s}", "reason", "no_slots"));
		g_array_free(starts, TRUE);
		return;
	}
	int64_t first = g_array_index(starts, int64_t, 0);
	if (first <= now_s()) {
		rpc_call_error(call, TD_ERR_CONFLICT, NULL, json_pack("{s:s}", "reason", "past"));
		g_array_free(starts, TRUE);
		return;
	}
	/* Published at least 5 working days ahead, unless ad hoc (DOMAIN.md §5). */
	GDate today, day;
	int ahead = 0;
	local_date(s, now_s(), &today);
	local_date(s, first, &day);
	if (!json_is_true(json_object_get(params, "ad_hoc")) &&
	    (td_calendar_working_days_between(s->cal, &today, &day, &ahead) < 0 ||
	     ahead < NOTICE_WORKING_DAYS)) {
		rpc_call_error(call, TD_ERR_CONFLICT, NULL,
			       json_pack("{s:s, s:i, s:i}", "reason", "too_soon",
					 "working_days_ahead", ahead, "required",
					 NOTICE_WORKING_DAYS));
		g_array_free(starts, TRUE);
		return;
	}
	struct job *j = job_new(s, call, params);
	store_new_id(j->schedule_id);
	j->slot_starts = starts;
	j->slot_len = slot_len;
	job_start(j, create_txn, create_done);
}

/* ---- appointment.slots ---- */

static bool
cursor_parse(const char *cursor, int64_t *t, char **id)
{
	gsize n = 0;
	guchar *raw = g_base64_decode(cursor, &n);
	char *text = raw ? g_strndup((const char *)raw, n) : NULL;
	char *bar = text ? strchr(text, '|') : NULL;
	bool ok = false;
	*id = NULL;
	if (bar) {
		gint64 v = 0;
		*bar = '\0';
		ok = g_ascii_string_to_signed(text, 10, 0, G_MAXINT64, &v, NULL) && bar[1];
		*t = v;
		*id = ok ? g_strdup(bar + 1) : NULL;
	}
	g_free(raw);
	g_free(text);
	return ok;
}

static char *
cursor_make(int64_t t, const char *id)
{
	char *text = g_strdup_printf("%" G_GINT64_FORMAT "|%s", t, id);
	char *out = g_base64_encode((const guchar *)text, strlen(text));
	g_free(text);
	return out;
}

static bool
time_param(json_t *params, const char *name, int64_t *out)
{
	json_t *v = json_object_get(params, name);
	if (!v) {
		return false;
	}
	GDateTime *dt = g_date_time_new_from_iso8601(json_string_value(v), NULL);
	*out = dt ? g_date_time_to_unix(dt) : 0;
	if (dt) {
		g_date_time_unref(dt);
	}
	return dt != NULL;
}

static json_int_t
limit_param(json_t *params)
{
	json_t *l = json_object_get(params, "limit");
	return l ? json_integer_value(l) : 100;
}

static void
slots_call(struct rpc_call *call, json_t *params, void *data)
{
	struct schedule *s = data;
	sqlite3 *db = store_reader(s->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	int64_t from = 0, to = 0, cur_t = 0;
	char *cur_id = NULL;
	time_param(params, "from", &from);
	time_param(params, "to", &to);
	const char *cursor = json_string_value(json_object_get(params, "cursor"));
	if (cursor && !cursor_parse(cursor, &cur_t, &cur_id)) {
		rpc_call_invalid(call, "/cursor", "format");
		return;
	}
	if (to <= from) {
		rpc_call_invalid(call, "/to", "before_from");
		g_free(cur_id);
		return;
	}
	json_int_t limit = limit_param(params);
	sqlite3_stmt *st = NULL;
	if (prepare(s, db,
		    SLOT_SELECT "WHERE s.start_s >= ?1 AND s.start_s < ?2 AND (?3 IS NULL OR "
				"s.agency_id = ?3) AND (?4 IS NULL OR s.mode = ?4) AND (?5 IS NULL OR "
				"s.start_s > ?5 OR (s.start_s = ?5 AND s.id > ?6)) "
				"ORDER BY s.start_s, s.id LIMIT ?7",
		    &st) < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		g_free(cur_id);
		return;
	}
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	sqlite3_bind_text(st, 3, json_string_value(json_object_get(params, "agency_id")), -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 4, json_string_value(json_object_get(params, "mode")), -1,
			  SQLITE_STATIC);
	if (cur_id) {
		sqlite3_bind_int64(st, 5, cur_t);
		sqlite3_bind_text(st, 6, cur_id, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 7, limit + 1);
	json_t *items = json_array();
	GHashTable *shortness = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	char *next = NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if ((json_int_t)json_array_size(items) == limit) {
			json_t *last = json_array_get(items, json_array_size(items) - 1);
			next = cursor_make(json_integer_value(json_object_get(last, "start_s")),
					   json_string_value(json_object_get(last, "slot_id")));
			break;
		}
		json_t *o = slot_row_json(st);
		json_object_set_new(o, "start_s", json_integer(sqlite3_column_int64(st, 11)));
		const char *agency = (const char *)sqlite3_column_text(st, 7);
		if (id && access_holds(id, RPC_STAFF, agency)) {
			GDate d;
			local_date(s, sqlite3_column_int64(st, 11), &d);
			char *key = g_strdup_printf("%s|%04u-%02u", agency, g_date_get_year(&d),
						    g_date_get_month(&d));
			gpointer v;
			if (!g_hash_table_lookup_extended(shortness, key, NULL, &v)) {
				v = GINT_TO_POINTER(leader_days_short(s, db, agency, &d) ? 2 : 1);
				g_hash_table_insert(shortness, g_strdup(key), v);
			}
			g_free(key);
			json_object_set_new(o, "leader_days_short", json_boolean(GPOINTER_TO_INT(v) == 2));
		}
		json_array_append_new(items, o);
	}
	release(s, st);
	size_t i;
	json_t *o;
	json_array_foreach(items, i, o)
	{
		json_object_del(o, "start_s");
	}
	g_hash_table_destroy(shortness);
	g_free(cur_id);
	rpc_call_reply(call, json_pack("{s:o, s:o}", "items", items, "next_cursor",
				       next ? json_string(next) : json_null()));
	g_free(next);
}

/* ---- appointment.book ---- */

static int
book_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	struct slot_row slot;
	const char *slot_id = param(j, "slot_id");
	const char *case_id = param(j, "case_id");
	int e = slot_load(s, db, slot_id, &slot);
	if (e == -ENOENT) {
		return refuse(j, TD_ERR_NOT_FOUND, NULL);
	} else if (e < 0) {
		return e;
	}
	if (slot.start_s <= now_s()) {
		g_free(slot.agency_id);
		return refuse(j, TD_ERR_CONFLICT, "past");
	}
	if (case_id) {
		/* The case must be the citizen's own (filed by them, or registered for their
		 * account); any other answers as a missing one. */
		sqlite3_stmt *st = NULL;
		bool mine = false;
		if (prepare(s, db, "SELECT 1 FROM cases WHERE id = ?1 AND petitioner_user_id = ?2",
			    &st) == 0) {
			sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, j->who.user_id, -1, SQLITE_STATIC);
			mine = sqlite3_step(st) == SQLITE_ROW;
			release(s, st);
		}
		if (!mine) {
			g_free(slot.agency_id);
			j->error_data = json_pack("{s:s}", "field", "/case_id");
			return refuse(j, TD_ERR_NOT_FOUND, NULL);
		}
	}
	int64_t seat = 0;
	const char *reason = NULL;
	e = seat_for(j->s, db, j->who.user_id, slot_id, &slot, NULL, &seat, &reason);
	g_free(slot.agency_id);
	if (e < 0) {
		return e;
	}
	if (reason) {
		return refuse(j, TD_ERR_CONFLICT, reason);
	}
	store_new_id(j->appt_id);
	e = appt_insert(j->s, db, j->appt_id, slot_id, j->who.user_id, seat, param(j, "topic"),
			case_id);
	if (e == -EEXIST || e == -EINVAL) {
		/* The schema refused a seat: it cannot happen with one writer, but if it did
		 * the answer is still "full", never a second holder. */
		return refuse(j, TD_ERR_CONFLICT, "full");
	}
	return e;
}

static void
appt_reply_done(int status, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	if (!answer_failure(j, status)) {
		/* The call is gone once answered: nothing reads it after this. */
		json_t *a = appt_json(s, store_reader(j->s->store), j->appt_id, NULL);
		if (a) {
			rpc_call_reply(j->call, json_pack("{s:o}", "appointment", a));
		} else {
			rpc_call_error(j->call, TD_ERR_INTERNAL, NULL, NULL);
		}
		j->call = NULL;
		if (j->tell_owner) {
			announce(j->s, j->appt_id);
		}
		if (j->promoted) {
			td_info(MOD, "seat given to the first in line", "appointment=%s",
				j->promoted);
			announce(j->s, j->promoted);
		}
	}
	job_free(j);
}

static void
book_call(struct rpc_call *call, json_t *params, void *data)
{
	job_start(job_new(data, call, params), book_txn, appt_reply_done);
}

/* ---- appointment.cancel, appointment.reschedule ---- */

struct appt_row {
	char *citizen_id, *slot_id, *status, *agency_id;
	int64_t start_s;
};

static void
appt_row_clear(struct appt_row *r)
{
	g_free(r->citizen_id);
	g_free(r->slot_id);
	g_free(r->status);
	g_free(r->agency_id);
	memset(r, 0, sizeof(*r));
}

/*
 * Loads an appointment the caller may act on: its citizen, or staff of the
 * slot's agency (*staff). Anyone else is told it does not exist.
 */
static int
appt_load_for(struct job *j, sqlite3 *db, const char *id, struct appt_row *r, bool *staff)
{
	struct schedule *s = j->s;
	sqlite3_stmt *st = NULL;
	memset(r, 0, sizeof(*r));
	if (prepare(s, db,
		    "SELECT a.citizen_id, a.slot_id, a.status, s.agency_id, s.start_s FROM "
		    "appointments a JOIN slots s ON s.id = a.slot_id WHERE a.id = ?1",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->citizen_id = col(st, 0);
		r->slot_id = col(st, 1);
		r->status = col(st, 2);
		r->agency_id = col(st, 3);
		r->start_s = sqlite3_column_int64(st, 4);
	}
	release(s, st);
	if (rc != SQLITE_ROW) {
		return rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	*staff = access_holds(&j->who, RPC_STAFF, r->agency_id);
	bool owner = strcmp(r->citizen_id, j->who.user_id) == 0;
	if (!owner && !*staff) {
		appt_row_clear(r);
		return -ENOENT;
	}
	return 0;
}

static bool
owner_too_late(struct job *j, const struct appt_row *r, bool staff)
{
	return !staff &&
	       now_s() > r->start_s - (int64_t)j->s->opts.cancel_before_minutes * 60;
}

static int
cancel_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	struct appt_row r;
	bool staff = false;
	const char *id = param(j, "appointment_id");
	int e = appt_load_for(j, db, id, &r, &staff);
	if (e == -ENOENT) {
		return refuse(j, TD_ERR_NOT_FOUND, NULL);
	} else if (e < 0) {
		return e;
	}
	if (strcmp(r.status, "active") != 0) {
		appt_row_clear(&r);
		return refuse(j, TD_ERR_CONFLICT, "cancelled");
	}
	if (owner_too_late(j, &r, staff)) {
		appt_row_clear(&r);
		j->error_data = json_pack("{s:i}", "cancel_before_minutes",
					  (int)j->s->opts.cancel_before_minutes);
		return refuse(j, TD_ERR_CONFLICT, "too_late");
	}
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	store_time_now(now);
	if (prepare(s, db,
		    "UPDATE appointments SET status = 'cancelled', cancelled_at = ?2, "
		    "cancel_reason = ?3, cancelled_by = ?4 WHERE id = ?1 AND status = 'active'",
		    &st) < 0) {
		appt_row_clear(&r);
		return -EIO;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, param(j, "reason"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, j->who.user_id, -1, SQLITE_STATIC);
	e = step_done(s, st);
	if (e == 0 &&
	    prepare(s, db, "DELETE FROM reminders WHERE appointment_id = ?1 AND sent_at IS NULL",
		    &st) == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		e = step_done(s, st);
	}
	if (e == 0) {
		e = promote(j->s, db, r.slot_id, &j->promoted);
	}
	g_strlcpy(j->appt_id, id, sizeof(j->appt_id));
	appt_row_clear(&r);
	return e;
}

/*
 * Reschedule in one transaction: the new seat is taken and the old one
 * released together (one UPDATE of the same row), then the freed seat goes
 * to the old slot's first in line. Any refusal leaves the old seat held.
 */
static int
reschedule_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	struct appt_row r;
	struct slot_row slot = {0};
	bool staff = false;
	const char *id = param(j, "appointment_id");
	const char *slot_id = param(j, "slot_id");
	int e = appt_load_for(j, db, id, &r, &staff);
	if (e == -ENOENT) {
		return refuse(j, TD_ERR_NOT_FOUND, NULL);
	} else if (e < 0) {
		return e;
	}
	if (strcmp(r.status, "active") != 0) {
		e = refuse(j, TD_ERR_CONFLICT, "cancelled");
		goto out;
	}
	if (strcmp(r.slot_id, slot_id) == 0) {
		e = refuse(j, TD_ERR_CONFLICT, "same_slot");
		goto out;
	}
	if (owner_too_late(j, &r, staff)) {
		e = refuse(j, TD_ERR_CONFLICT, "too_late");
		goto out;
	}
	e = slot_load(s, db, slot_id, &slot);
	if (e == -ENOENT) {
		j->error_data = json_pack("{s:s}", "field", "/slot_id");
		e = refuse(j, TD_ERR_NOT_FOUND, NULL);
		goto out;
	} else if (e < 0) {
		goto out;
	}
	if (strcmp(r.citizen_id, j->who.user_id) != 0 &&
	    !access_holds(&j->who, RPC_STAFF, slot.agency_id)) {
		/* staff move appointments only into slots of an agency they serve */
		j->error_data = json_pack("{s:s}", "field", "/slot_id");
		e = refuse(j, TD_ERR_NOT_FOUND, NULL);
		goto out;
	}
	if (slot.start_s <= now_s()) {
		e = refuse(j, TD_ERR_CONFLICT, "past");
		goto out;
	}
	int64_t seat = 0;
	const char *reason = NULL;
	e = seat_for(j->s, db, r.citizen_id, slot_id, &slot, id, &seat, &reason);
	if (e < 0) {
		goto out;
	}
	if (reason) {
		e = refuse(j, TD_ERR_CONFLICT, reason);
		goto out;
	}
	sqlite3_stmt *st = NULL;
	if (prepare(s, db, "UPDATE appointments SET slot_id = ?2, seat = ?3 WHERE id = ?1",
		    &st) < 0) {
		e = -EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, slot_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seat);
	e = step_done(s, st);
	if (e == -EEXIST || e == -EINVAL) {
		e = refuse(j, TD_ERR_CONFLICT, "full");
		goto out;
	}
	if (e == 0) {
		e = reminders_plan(j->s, db, id, r.citizen_id, slot_id);
	}
	if (e == 0) {
		e = promote(j->s, db, r.slot_id, &j->promoted);
	}
	g_strlcpy(j->appt_id, id, sizeof(j->appt_id));
out:
	g_free(slot.agency_id);
	appt_row_clear(&r);
	return e;
}

static void
cancel_call(struct rpc_call *call, json_t *params, void *data)
{
	struct job *j = job_new(data, call, params);
	j->tell_owner = true;
	job_start(j, cancel_txn, appt_reply_done);
}

static void
reschedule_call(struct rpc_call *call, json_t *params, void *data)
{
	struct job *j = job_new(data, call, params);
	j->tell_owner = true;
	job_start(j, reschedule_txn, appt_reply_done);
}

/* ---- appointment.wait, appointment.unwait ---- */

static int
wait_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	struct slot_row slot;
	const char *slot_id = param(j, "slot_id");
	sqlite3_stmt *st = NULL;
	int e = slot_load(s, db, slot_id, &slot);
	if (e == -ENOENT) {
		return refuse(j, TD_ERR_NOT_FOUND, NULL);
	} else if (e < 0) {
		return e;
	}
	int64_t start = slot.start_s;
	g_free(slot.agency_id);
	if (start <= now_s()) {
		return refuse(j, TD_ERR_CONFLICT, "past");
	}
	if (prepare(s, db,
		    "SELECT (SELECT count(*) FROM appointments WHERE slot_id = ?1 AND status = "
		    "'active'), (SELECT count(*) FROM appointments WHERE slot_id = ?1 AND status = "
		    "'active' AND citizen_id = ?2), (SELECT capacity FROM slots WHERE id = ?1)",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, slot_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->who.user_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		release(s, st);
		return -EIO;
	}
	int64_t taken = sqlite3_column_int64(st, 0), mine = sqlite3_column_int64(st, 1);
	int64_t capacity = sqlite3_column_int64(st, 2);
	release(s, st);
	if (mine > 0) {
		return refuse(j, TD_ERR_CONFLICT, "booked");
	}
	if (taken < capacity) {
		return refuse(j, TD_ERR_CONFLICT, "not_full");
	}
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	/* Joining twice keeps the first place. */
	if (prepare(s, db,
		    "INSERT OR IGNORE INTO waitlist (slot_id, citizen_id, topic, case_id, "
		    "joined_at) VALUES (?1, ?2, ?3, ?4, ?5)",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, slot_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->who.user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, param(j, "topic") ? param(j, "topic") : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, param(j, "case_id"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
	if ((e = step_done(s, st)) < 0) {
		if (e == -EINVAL) {
			j->error_data = json_pack("{s:s}", "field", "/case_id");
			return refuse(j, TD_ERR_NOT_FOUND, NULL);
		}
		return e;
	}
	if (prepare(s, db,
		    "SELECT count(*) FROM waitlist WHERE slot_id = ?1 AND seq <= (SELECT seq FROM "
		    "waitlist WHERE slot_id = ?1 AND citizen_id = ?2)",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, slot_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->who.user_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		j->position = sqlite3_column_int64(st, 0);
	}
	release(s, st);
	return 0;
}

static void
wait_done(int status, void *data)
{
	struct job *j = data;
	if (!answer_failure(j, status)) {
		rpc_call_reply(j->call, json_pack("{s:I}", "position", (json_int_t)j->position));
	}
	job_free(j);
}

static void
wait_call(struct rpc_call *call, json_t *params, void *data)
{
	struct job *j = job_new(data, call, params);
	struct schedule *s = j->s;
	const char *case_id = param(j, "case_id");
	if (case_id) {
		/* Checked now, on the reader; the case's owner never changes. */
		sqlite3_stmt *st = NULL;
		bool mine = false;
		if (prepare(j->s, store_reader(j->s->store),
			    "SELECT 1 FROM cases WHERE id = ?1 AND petitioner_user_id = ?2",
			    &st) == 0) {
			sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, j->who.user_id, -1, SQLITE_STATIC);
			mine = sqlite3_step(st) == SQLITE_ROW;
			release(s, st);
		}
		if (!mine) {
			rpc_call_error(call, TD_ERR_NOT_FOUND, NULL,
				       json_pack("{s:s}", "field", "/case_id"));
			job_free(j);
			return;
		}
	}
	job_start(j, wait_txn, wait_done);
}

static int
unwait_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	sqlite3_stmt *st = NULL;
	if (prepare(s, db, "DELETE FROM waitlist WHERE slot_id = ?1 AND citizen_id = ?2",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, param(j, "slot_id"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->who.user_id, -1, SQLITE_STATIC);
	int e = step_done(s, st);
	if (e == 0 && sqlite3_changes(db) == 0) {
		return refuse(j, TD_ERR_NOT_FOUND, NULL);
	}
	return e;
}

static void
unwait_done(int status, void *data)
{
	struct job *j = data;
	if (!answer_failure(j, status)) {
		rpc_call_reply(j->call, json_object());
	}
	job_free(j);
}

static void
unwait_call(struct rpc_call *call, json_t *params, void *data)
{
	job_start(job_new(data, call, params), unwait_txn, unwait_done);
}

/* ---- appointment.list ---- */

/*
 * The caller's own appointments (as a citizen) and those of the agencies where
 * they are staff or leader, by slot start; agency_id narrows to one agency.
 * Cursor: "start_s|appointment id" of the last item, base64.
 */
static void
list_call(struct rpc_call *call, json_t *params, void *data)
{
	struct schedule *s = data;
	sqlite3 *db = store_reader(s->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	int64_t cur_t = 0, from = 0, to = 0;
	char *cur_id = NULL;
	const char *cursor = json_string_value(json_object_get(params, "cursor"));
	if (cursor && !cursor_parse(cursor, &cur_t, &cur_id)) {
		rpc_call_invalid(call, "/cursor", "format");
		return;
	}
	bool has_from = time_param(params, "from", &from);
	bool has_to = time_param(params, "to", &to);
	json_t *agencies = json_array();
	for (size_t i = 0; i < id->n_grants; i++) {
		const struct rpc_grant *g = &id->grants[i];
		if (g->agency_id && (g->role & (RPC_STAFF | RPC_LEADER))) {
			json_array_append_new(agencies, json_string(g->agency_id));
		}
	}
	char *agencies_text = json_dumps(agencies, JSON_COMPACT);
	json_decref(agencies);
	json_int_t limit = limit_param(params);
	sqlite3_stmt *st = NULL;
	json_t *items = json_array();
	char *next = NULL;
	if (prepare(s, db,
		    APPT_SELECT "WHERE (a.citizen_id = ?1 OR s.agency_id IN (SELECT value FROM "
				"json_each(?2))) AND (?3 IS NULL OR s.start_s >= ?3) AND (?4 IS NULL "
				"OR s.start_s < ?4) AND (?5 IS NULL OR s.agency_id = ?5) AND (?6 IS "
				"NULL OR s.start_s > ?6 OR (s.start_s = ?6 AND a.id > ?7)) "
				"ORDER BY s.start_s, a.id LIMIT ?8",
		    &st) < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	sqlite3_bind_text(st, 1, id->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, agencies_text, -1, SQLITE_STATIC);
	if (has_from) {
		sqlite3_bind_int64(st, 3, from);
	}
	if (has_to) {
		sqlite3_bind_int64(st, 4, to);
	}
	sqlite3_bind_text(st, 5, json_string_value(json_object_get(params, "agency_id")), -1,
			  SQLITE_STATIC);
	if (cur_id) {
		sqlite3_bind_int64(st, 6, cur_t);
		sqlite3_bind_text(st, 7, cur_id, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 8, limit + 1);
	int64_t last_t = 0;
	char *last_id = NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if ((json_int_t)json_array_size(items) == limit) {
			next = cursor_make(last_t, last_id);
			break;
		}
		json_array_append_new(items, appt_row_json(st));
		last_t = sqlite3_column_int64(st, 17);
		g_free(last_id);
		last_id = col(st, 0);
	}
	g_free(last_id);
	release(s, st);
	rpc_call_reply(call, json_pack("{s:O, s:o}", "items", items, "next_cursor",
				       next ? json_string(next) : json_null()));
out:
	json_decref(items);
	g_free(next);
	g_free(agencies_text);
	g_free(cur_id);
}

/* ---- reminders ---- */

/*
 * Exactly once, across restarts: a reminder is one row per (appointment,
 * offset, recipient). The tick picks rows that are due, unsent, whose slot has
 * not begun and whose recipient has a bound connection now; one store_write
 * sets their sent_at (only where it is still NULL, and a trigger refuses to
 * set it twice), and only after that COMMIT does done send the events, for
 * the rows that write changed. A second tick or a restart finds them sent and
 * never sends again; a row not yet marked is still due after a restart and
 * is sent once its recipient connects (until the slot begins). The one gap:
 * the process dying between COMMIT and the send in the same loop turn loses
 * that reminder (never duplicates it), as does a connection that drops in
 * that turn.
 */
struct reminder {
	char *appt_id;
	char *user_id;
	int64_t offset;
};

struct reminder_job {
	struct schedule *s;
	GArray *items; /* struct reminder */
};

static void
reminder_job_free(struct reminder_job *rj)
{
	for (guint i = 0; i < rj->items->len; i++) {
		struct reminder *r = &g_array_index(rj->items, struct reminder, i);
		g_free(r->appt_id);
		g_free(r->user_id);
	}
	g_array_free(rj->items, TRUE);
	g_free(rj);
}

static int
reminders_txn(sqlite3 *db, void *data)
{
	struct reminder_job *rj = data;
	struct schedule *s = rj->s;
	sqlite3_stmt *st = NULL;
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	if (prepare(s, db,
		    "UPDATE reminders SET sent_at = ?4 WHERE appointment_id = ?1 AND offset_min = ?2 "
		    "AND user_id = ?3 AND sent_at IS NULL",
		    &st) < 0) {
		return -EIO;
	}
	for (guint i = 0; i < rj->items->len; i++) {
		struct reminder *r = &g_array_index(rj->items, struct reminder, i);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, r->appt_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r->offset);
		sqlite3_bind_text(st, 3, r->user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			release(s, st);
			return store_errno(rc);
		}
		if (sqlite3_changes(db) == 0) {
			r->offset = 0; /* already sent: not again */
		}
	}
	release(s, st);
	return 0;
}

static void
reminders_done(int status, void *data)
{
	struct reminder_job *rj = data;
	struct schedule *s = rj->s;
	s->sweeping = false;
	if (status < 0) {
		td_error(MOD, "reminders not marked; not sent", "err=%d", status);
		reminder_job_free(rj);
		return;
	}
	sqlite3 *db = store_reader(s->store);
	for (guint i = 0; i < rj->items->len; i++) {
		struct reminder *r = &g_array_index(rj->items, struct reminder, i);
		if (r->offset == 0) {
			continue;
		}
		json_t *a = appt_json(s, db, r->appt_id, NULL);
		if (a) {
			unsigned n = notify_user(s, r->user_id, "event.appointment.reminder", a,
						 json_pack("{s:I}", "offset_minutes",
							   (json_int_t)r->offset));
			td_info(MOD, "reminder sent", "appointment=%s offset=%" G_GINT64_FORMAT
				" connections=%u", r->appt_id, r->offset, n);
			json_decref(a);
		}
	}
	reminder_job_free(rj);
}

/* Adds the user id of every bound connection (borrowed: valid during this tick). */
static void
collect_online(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *id, void *data)
{
	(void)rpc;
	(void)client_id;
	if (id && id->user_id) {
		g_hash_table_add(data, id->user_id);
	}
}

static gboolean
reminders_tick(gpointer data)
{
	struct schedule *s = data;
	if (s->sweeping) {
		return G_SOURCE_CONTINUE;
	}
	sqlite3 *db = store_reader(s->store);
	sqlite3_stmt *st = NULL;
	int64_t now = now_s();
	/* Only recipients bound now; the others' rows wait for them (until the slot begins). */
	GHashTable *online = g_hash_table_new(g_str_hash, g_str_equal);
	rpc_foreach_identity(s->rpc, collect_online, online);
	if (g_hash_table_size(online) == 0) {
		g_hash_table_destroy(online);
		return G_SOURCE_CONTINUE;
	}
	json_t *users = json_array();
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, online);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		json_array_append_new(users, json_string(key));
	}
	g_hash_table_destroy(online);
	char *users_text = json_dumps(users, JSON_COMPACT);
	json_decref(users);
	if (prepare(s, db,
		    "SELECT r.appointment_id, r.offset_min, r.user_id FROM reminders r JOIN "
		    "appointments a ON a.id = r.appointment_id JOIN slots s ON s.id = a.slot_id "
		    "WHERE r.sent_at IS NULL AND r.due_s <= ?1 AND s.start_s > ?1 AND a.status = "
		    "'active' AND r.user_id IN (SELECT value FROM json_each(?2)) "
		    "ORDER BY r.due_s LIMIT 1000",
		    &st) < 0) {
		free(users_text);
		return G_SOURCE_CONTINUE;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, users_text, -1, SQLITE_STATIC);
	struct reminder_job *rj = g_new0(struct reminder_job, 1);
	rj->s = s;
	rj->items = g_array_new(FALSE, FALSE, sizeof(struct reminder));
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct reminder r = {.appt_id = col(st, 0), .user_id = col(st, 2),
				     .offset = sqlite3_column_int64(st, 1)};
		g_array_append_val(rj->items, r);
	}
	release(s, st);
	free(users_text);
	if (rj->items->len == 0) {
		reminder_job_free(rj);
		return G_SOURCE_CONTINUE;
	}
	s->sweeping = true;
	if (store_write(s->store, reminders_txn, reminders_done, rj) < 0) {
		s->sweeping = false;
		reminder_job_free(rj);
	}
	return G_SOURCE_CONTINUE;
}

/* Every reminder_tick_s: short leader days of the agencies with staff bound, due reminders. */
static gboolean
schedule_tick(gpointer data)
{
	struct schedule *s = data;
	leader_tick(s);
	return reminders_tick(s);
}

/* ---- dialogues (DOMAIN.md §6) ---- */

/*
 * A dialogue belongs to a case and so to the case's responsible agency:
 * staff and leaders of that agency schedule it; its participants, and staff,
 * leaders and officials of the agency, see it; leaders, officials and staff of
 * the agency write its minutes, once, into the case timeline.
 */

/* Written notice at least this many days ahead (DOMAIN.md §6): the default of the setting
 * dialogue_notice_days. */
#define DIALOGUE_NOTICE_DAYS 5

static const char *const dialogue_roles[] = {"resolver",         "complainant",
					     "representative",   "respondent",
					     "interested_party", "related_agency",
					     "official",         NULL};

#define DIALOGUE_SELECT                                                                           \
	"SELECT d.id, d.case_id, d.agency_id, d.start_at, d.end_at, d.mode, d.location, "        \
	"d.created_at, d.minutes_seq, d.minutes, d.start_s FROM dialogues d "

static json_t *
dialogue_row_json(struct schedule *s, sqlite3 *db, sqlite3_stmt *row)
{
	const char *id = (const char *)sqlite3_column_text(row, 0);
	json_t *minutes = json_null();
	if (sqlite3_column_type(row, 9) == SQLITE_TEXT) {
		minutes = json_loads((const char *)sqlite3_column_text(row, 9), 0, NULL);
		if (!minutes) {
			minutes = json_null();
		} else {
			json_object_set_new(minutes, "seq", json_integer(sqlite3_column_int64(row, 8)));
		}
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:[], s:o}", "id", id,
			      "case_id", (const char *)sqlite3_column_text(row, 1), "agency_id",
			      (const char *)sqlite3_column_text(row, 2), "start",
			      (const char *)sqlite3_column_text(row, 3), "end",
			      (const char *)sqlite3_column_text(row, 4), "mode",
			      (const char *)sqlite3_column_text(row, 5), "location",
			      col_json(row, 6), "created_at",
			      (const char *)sqlite3_column_text(row, 7), "participants", "minutes",
			      minutes);
	sqlite3_stmt *st = NULL;
	if (prepare(s, db,
		    "SELECT p.user_id, u.full_name, p.role FROM dialogue_participants p JOIN users "
		    "u ON u.id = p.user_id WHERE p.dialogue_id = ?1 ORDER BY p.rowid",
		    &st) == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		json_t *ps = json_object_get(o, "participants");
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_array_append_new(ps, json_pack("{s:s, s:s, s:s}", "user_id",
							    (const char *)sqlite3_column_text(st, 0),
							    "full_name",
							    (const char *)sqlite3_column_text(st, 1),
							    "role",
							    (const char *)sqlite3_column_text(st, 2)));
		}
		release(s, st);
	}
	return o;
}

/* (transfer full, nullable) The dialogue when id may see it (NULL: as the system). */
static json_t *
dialogue_json(struct schedule *s, sqlite3 *db, const char *dialogue_id,
	      const struct rpc_identity *id)
{
	sqlite3_stmt *st = NULL;
	json_t *o = NULL;
	if (prepare(s, db, DIALOGUE_SELECT "WHERE d.id = ?1", &st) < 0) {
		return NULL;
	}
	sqlite3_bind_text(st, 1, dialogue_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		o = dialogue_row_json(s, db, st);
	}
	release(s, st);
	if (o && id) {
		const char *agency = json_string_value(json_object_get(o, "agency_id"));
		bool sees = access_holds(id, RPC_STAFF | RPC_LEADER | RPC_OFFICIAL, agency);
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(o, "participants"), i, p)
		{
			sees = sees || g_strcmp0(json_string_value(json_object_get(p, "user_id")),
						 id->user_id) == 0;
		}
		if (!sees) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static char *
case_agency(struct schedule *s, sqlite3 *db, const char *case_id)
{
	sqlite3_stmt *st = NULL;
	char *agency = NULL;
	if (prepare(s, db, "SELECT agency_id FROM cases WHERE id = ?1", &st) == 0) {
		sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			agency = col(st, 0);
		}
		release(s, st);
	}
	return agency;
}

/* At most this many conflicts are listed in a refusal (data.truncated tells there were more). */
#define MAX_CONFLICTS_LISTED 100

/*
 * Appends to conflicts what user_id is already committed to in [start, end):
 * active appointments they hold as citizen or host, and dialogues they take
 * part in (a dialogue cannot be cancelled: every one counts). Each is
 * {user_id, kind: "appointment" | "dialogue", as: "citizen" | "host" |
 * "participant", id, start, end}, and id is null unless the caller may see
 * that object (an appointment of an agency where they are staff or leader; a
 * dialogue of an agency where they are staff, leader or official; their own):
 * the caller learns that the participant is busy then, never with whom or
 * about what. *more is set when the list is full.
 */
static int
participant_conflicts(struct job *j, sqlite3 *db, const char *user_id, json_t *conflicts,
		      bool *more)
{
	struct schedule *s = j->s;
	sqlite3_stmt *st = NULL;
	if (prepare(s, db,
		    "SELECT 'appointment', 'citizen', a.id, s.start_at, s.end_at, s.agency_id, "
		    "s.start_s FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE "
		    "a.citizen_id = ?1 AND a.status = 'active' AND s.start_s < ?3 AND s.end_s > ?2 "
		    "UNION ALL SELECT 'appointment', 'host', a.id, s.start_at, s.end_at, "
		    "s.agency_id, s.start_s FROM slots s JOIN appointments a ON a.slot_id = s.id "
		    "WHERE s.host_id = ?1 AND a.status = 'active' AND s.start_s < ?3 AND "
		    "s.end_s > ?2 UNION ALL SELECT 'dialogue', 'participant', d.id, d.start_at, "
		    "d.end_at, d.agency_id, d.start_s FROM dialogue_participants p JOIN dialogues "
		    "d ON d.id = p.dialogue_id WHERE p.user_id = ?1 AND d.start_s < ?3 AND "
		    "d.end_s > ?2 ORDER BY 7, 3",
		    &st) < 0) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->slot_len);
	sqlite3_bind_int64(st, 3, j->position);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_size(conflicts) == MAX_CONFLICTS_LISTED) {
			*more = true;
			break;
		}
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		const char *agency = (const char *)sqlite3_column_text(st, 5);
		bool appointment = strcmp(kind, "appointment") == 0;
		bool sees = strcmp(user_id, j->who.user_id) == 0 ||
			    access_holds(&j->who,
					 appointment ? RPC_STAFF | RPC_LEADER
						     : RPC_STAFF | RPC_LEADER | RPC_OFFICIAL,
					 agency);
		json_array_append_new(
			conflicts,
			json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "user_id", user_id, "kind",
				  kind, "as", (const char *)sqlite3_column_text(st, 1), "id",
				  sees ? col_json(st, 2) : json_null(), "start",
				  (const char *)sqlite3_column_text(st, 3), "end",
				  (const char *)sqlite3_column_text(st, 4)));
	}
	release(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/*
 * The whole of dialogue.schedule in one write job, so that two schedules
 * racing for one participant are serialised: the second sees the first's
 * dialogue and is refused (or overrides it). A participant double-booked
 * without an override is refused with every conflict listed; the schema
 * refuses it too (trigger dialogue_participants_free, migration 8) unless
 * the dialogue row carries the override reason.
 */
static int
dialogue_schedule_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	const char *case_id = param(j, "case_id");
	const char *override_reason = param(j, "override_reason");
	bool override = json_is_true(json_object_get(j->params, "override"));
	char *agency = case_agency(s, db, case_id);
	sqlite3_stmt *st = NULL;
	char now[STORE_TIME_SIZE];
	char *a = NULL, *b = NULL;
	json_t *conflicts = NULL, *busy = NULL;
	int e = 0;
	if (!agency || !access_holds(&j->who, RPC_STAFF | RPC_LEADER, agency)) {
		g_free(agency);
		return refuse(j, TD_ERR_NOT_FOUND, NULL);
	}
	json_t *parts = json_object_get(j->params, "participants");
	size_t i;
	json_t *p;
	json_array_foreach(parts, i, p)
	{
		bool known = false;
		if (prepare(s, db, "SELECT 1 FROM users WHERE id = ?1 AND disabled = 0",
			    &st) == 0) {
			sqlite3_bind_text(st, 1, json_string_value(json_object_get(p, "user_id")), -1,
					  SQLITE_STATIC);
			known = sqlite3_step(st) == SQLITE_ROW;
			release(s, st);
		}
		if (!known) {
			char ptr[64];
			g_snprintf(ptr, sizeof(ptr), "/participants/%zu/user_id", i);
			j->error_data = json_pack("{s:s}", "field", ptr);
			e = refuse(j, TD_ERR_INVALID_PARAMS, "unknown_user");
			goto out;
		}
	}
	/* No participant double-booked, unless staff override it with a reason. */
	conflicts = json_array();
	busy = json_array();
	bool more = false;
	json_array_foreach(parts, i, p)
	{
		const char *uid = json_string_value(json_object_get(p, "user_id"));
		size_t before = json_array_size(conflicts);
		if ((e = participant_conflicts(j, db, uid, conflicts, &more)) < 0) {
			goto out;
		}
		if (json_array_size(conflicts) > before || more) {
			json_array_append_new(busy, json_string(uid));
		}
		if (more) {
			break;
		}
	}
	if (json_array_size(conflicts) > 0 && !override) {
		j->error_data = json_pack("{s:O, s:b}", "conflicts", conflicts, "truncated", more);
		e = refuse(j, TD_ERR_CONFLICT, "double_booked");
		goto out;
	}
	store_time_now(now);
	a = local_text(s, j->slot_len);
	b = local_text(s, j->position);
	if (prepare(s, db,
		    "INSERT INTO dialogues (id, case_id, agency_id, start_at, end_at, start_s, end_s, "
		    "mode, location, created_by, created_at, override_reason) VALUES (?1, ?2, ?3, "
		    "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
		    &st) < 0) {
		e = -EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, j->schedule_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, agency, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, b, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, j->slot_len);
	sqlite3_bind_int64(st, 7, j->position);
	sqlite3_bind_text(st, 8, param(j, "mode"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, param(j, "location"), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, j->who.user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, override ? override_reason : NULL, -1, SQLITE_STATIC);
	if ((e = step_done(s, st)) < 0) {
		goto out;
	}
	json_array_foreach(parts, i, p)
	{
		if (prepare(s, db,
			    "INSERT INTO dialogue_participants (dialogue_id, user_id, role) VALUES "
			    "(?1, ?2, ?3)",
			    &st) < 0) {
			e = -EIO;
			goto out;
		}
		sqlite3_bind_text(st, 1, j->schedule_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, json_string_value(json_object_get(p, "user_id")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, json_string_value(json_object_get(p, "role")), -1,
				  SQLITE_STATIC);
		if ((e = step_done(s, st)) == -EEXIST) {
			j->error_data = json_pack("{s:s}", "field", "/participants");
			e = refuse(j, TD_ERR_INVALID_PARAMS, "duplicate");
			goto out;
		} else if (e < 0) {
			goto out;
		}
	}
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:O}", "dialogue_id", j->schedule_id, "start",
			       a, "end", b, "mode", param(j, "mode"), "participants", parts);
	if (param(j, "location")) {
		json_object_set_new(ev, "location", json_string(param(j, "location")));
	}
	if (override) {
		/* Who was double-booked, not with what: the timeline is shown to everyone who
		 * sees the case. */
		json_object_set_new(ev, "override",
				    json_pack("{s:s, s:O}", "reason", override_reason,
					      "participants", busy));
	}
	int64_t seq = 0;
	e = timeline_append(db, case_id, j->who.user_id, "dialogue_scheduled", ev, &seq);
	json_decref(ev);
out:
	json_decref(conflicts);
	json_decref(busy);
	g_free(a);
	g_free(b);
	g_free(agency);
	return e;
}

static void
dialogue_schedule_done(int status, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	if (!answer_failure(j, status)) {
		sqlite3 *db = store_reader(j->s->store);
		json_t *d = dialogue_json(s, db, j->schedule_id, NULL);
		if (!d) {
			rpc_call_error(j->call, TD_ERR_INTERNAL, NULL, NULL);
		} else {
			if (json_is_true(json_object_get(j->params, "override"))) {
				td_info(MOD, "dialogue scheduled with an override", "dialogue=%s",
					j->schedule_id);
			}
			rpc_call_reply(j->call, json_pack("{s:O}", "dialogue", d));
			size_t i;
			json_t *p;
			json_array_foreach(json_object_get(d, "participants"), i, p)
			{
				struct notify_ctx n = {.method = "event.dialogue.invited"};
				n.params = json_pack("{s:O}", "dialogue", d);
				rpc_foreach_bound(j->s->rpc,
						  json_string_value(json_object_get(p, "user_id")),
						  notify_one, &n);
				json_decref(n.params);
			}
			json_decref(d);
		}
	}
	job_free(j);
}

static void
dialogue_schedule_call(struct rpc_call *call, json_t *params, void *data)
{
	struct schedule *s = data;
	int64_t start = 0, end = 0;
	time_param(params, "start", &start);
	time_param(params, "end", &end);
	if (end <= start) {
		rpc_call_invalid(call, "/end", "before_start");
		return;
	}
	json_t *parts = json_object_get(params, "participants");
	if (json_array_size(parts) == 0) {
		rpc_call_invalid(call, "/participants", "empty");
		return;
	}
	size_t i;
	json_t *p;
	json_array_foreach(parts, i, p)
	{
		char ptr[64];
		const char *role = json_string_value(json_object_get(p, "role"));
		const char *uid = json_string_value(json_object_get(p, "user_id"));
		bool role_ok = false;
		for (const char *const *r = dialogue_roles; role && *r; r++) {
			role_ok = role_ok || strcmp(*r, role) == 0;
		}
		if (!json_is_object(p) || json_object_size(p) != 2 || !uid || !*uid ||
		    strlen(uid) > 64) {
			g_snprintf(ptr, sizeof(ptr), "/participants/%zu", i);
			rpc_call_invalid(call, ptr, "format");
			return;
		}
		if (!role_ok) {
			g_snprintf(ptr, sizeof(ptr), "/participants/%zu/role", i);
			rpc_call_invalid(call, ptr, role ? "enum" : "required");
			return;
		}
	}
	/* override_reason goes with override: true, and only with it */
	bool override = json_is_true(json_object_get(params, "override"));
	bool reason = json_object_get(params, "override_reason") != NULL;
	if (override != reason) {
		rpc_call_invalid(call, override ? "/override_reason" : "/override", "required");
		return;
	}
	if (start < now_s() + (int64_t)s->opts.dialogue_notice_days * 86400) {
		rpc_call_error(call, TD_ERR_CONFLICT, NULL,
			       json_pack("{s:s, s:i}", "reason", "too_soon", "notice_days",
					 (int)s->opts.dialogue_notice_days));
		return;
	}
	struct job *j = job_new(s, call, params);
	store_new_id(j->schedule_id); /* the dialogue's id */
	j->slot_len = start;          /* reused: start and end, Unix seconds */
	j->position = end;
	job_start(j, dialogue_schedule_txn, dialogue_schedule_done);
}

static void
dialogue_get_call(struct rpc_call *call, json_t *params, void *data)
{
	struct schedule *s = data;
	json_t *d = dialogue_json(s, store_reader(s->store),
				  json_string_value(json_object_get(params, "dialogue_id")),
				  rpc_call_identity(call));
	if (!d) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		return;
	}
	rpc_call_reply(call, json_pack("{s:o}", "dialogue", d));
}

/* The dialogues the caller takes part in, or of the agencies where they are staff, leader
 * or official; by start. Cursor "start_s|id". */
static void
dialogue_list_call(struct rpc_call *call, json_t *params, void *data)
{
	struct schedule *s = data;
	sqlite3 *db = store_reader(s->store);
	const struct rpc_identity *id = rpc_call_identity(call);
	int64_t cur_t = 0, from = 0, to = 0;
	char *cur_id = NULL;
	const char *cursor = json_string_value(json_object_get(params, "cursor"));
	if (cursor && !cursor_parse(cursor, &cur_t, &cur_id)) {
		rpc_call_invalid(call, "/cursor", "format");
		return;
	}
	bool has_from = time_param(params, "from", &from);
	bool has_to = time_param(params, "to", &to);
	json_t *agencies = json_array();
	for (size_t i = 0; i < id->n_grants; i++) {
		const struct rpc_grant *g = &id->grants[i];
		if (g->agency_id && (g->role & (RPC_STAFF | RPC_LEADER | RPC_OFFICIAL))) {
			json_array_append_new(agencies, json_string(g->agency_id));
		}
	}
	char *agencies_text = json_dumps(agencies, JSON_COMPACT);
	json_decref(agencies);
	json_int_t limit = limit_param(params);
	sqlite3_stmt *st = NULL;
	json_t *items = json_array();
	char *next = NULL;
	if (prepare(s, db,
		    DIALOGUE_SELECT "WHERE (d.agency_id IN (SELECT value FROM json_each(?2)) OR "
				    "d.id IN (SELECT dialogue_id FROM dialogue_participants WHERE "
				    "user_id = ?1)) AND (?3 IS NULL OR d.start_s >= ?3) AND (?4 IS NULL "
				    "OR d.start_s < ?4) AND (?5 IS NULL OR d.case_id = ?5) AND (?6 IS "
				    "NULL OR d.start_s > ?6 OR (d.start_s = ?6 AND d.id > ?7)) "
				    "ORDER BY d.start_s, d.id LIMIT ?8",
		    &st) < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	sqlite3_bind_text(st, 1, id->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, agencies_text, -1, SQLITE_STATIC);
	if (has_from) {
		sqlite3_bind_int64(st, 3, from);
	}
	if (has_to) {
		sqlite3_bind_int64(st, 4, to);
	}
	sqlite3_bind_text(st, 5, json_string_value(json_object_get(params, "case_id")), -1,
			  SQLITE_STATIC);
	if (cur_id) {
		sqlite3_bind_int64(st, 6, cur_t);
		sqlite3_bind_text(st, 7, cur_id, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 8, limit + 1);
	int64_t last_t = 0;
	char *last_id = NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if ((json_int_t)json_array_size(items) == limit) {
			next = cursor_make(last_t, last_id);
			break;
		}
		json_array_append_new(items, dialogue_row_json(s, db, st));
		last_t = sqlite3_column_int64(st, 10);
		g_free(last_id);
		last_id = col(st, 0);
	}
	g_free(last_id);
	release(s, st);
	rpc_call_reply(call, json_pack("{s:O, s:o}", "items", items, "next_cursor",
				       next ? json_string(next) : json_null()));
out:
	json_decref(items);
	g_free(next);
	g_free(agencies_text);
	g_free(cur_id);
}

static int
dialogue_minutes_txn(sqlite3 *db, void *data)
{
	struct job *j = data;
	struct schedule *s = j->s;
	const char *dialogue_id = param(j, "dialogue_id");
	json_t *d = dialogue_json(s, db, dialogue_id, NULL);
	sqlite3_stmt *st = NULL;
	int e;
	if (!d || !access_holds(&j->who, RPC_STAFF | RPC_LEADER | RPC_OFFICIAL,
				json_string_value(json_object_get(d, "agency_id")))) {
		json_decref(d);
		return refuse(j, TD_ERR_NOT_FOUND, NULL);
	}
	if (!json_is_null(json_object_get(d, "minutes"))) {
		json_decref(d);
		return refuse(j, TD_ERR_CONFLICT, "minutes_recorded");
	}
	/* Attendees are participants; the others are recorded as absent. */
	json_t *attendees = json_object_get(j->params, "attendees");
	json_t *absentees = json_array();
	size_t i, k;
	json_t *p, *a;
	json_array_foreach(attendees, k, a)
	{
		bool found = false;
		json_array_foreach(json_object_get(d, "participants"), i, p)
		{
			found = found || json_equal(json_object_get(p, "user_id"), a);
		}
		if (!found) {
			char ptr[48];
			g_snprintf(ptr, sizeof(ptr), "/attendees/%zu", k);
			j->error_data = json_pack("{s:s}", "field", ptr);
			json_decref(absentees);
			json_decref(d);
			return refuse(j, TD_ERR_INVALID_PARAMS, "not_a_participant");
		}
	}
	json_array_foreach(json_object_get(d, "participants"), i, p)
	{
		bool came = false;
		json_array_foreach(attendees, k, a)
		{
			came = came || json_equal(json_object_get(p, "user_id"), a);
		}
		if (!came) {
			json_array_append(absentees, json_object_get(p, "user_id"));
		}
	}
	json_t *ev = json_pack("{s:s, s:s, s:O, s:o}", "dialogue_id", dialogue_id, "text",
			       param(j, "text"), "attendees", attendees, "absentees", absentees);
	int64_t seq = 0;
	e = timeline_append(db, json_string_value(json_object_get(d, "case_id")), j->who.user_id,
			    "dialogue_minutes", ev, &seq);
	char *text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	json_decref(d);
	if (e == 0 &&
	    prepare(s, db, "UPDATE dialogues SET minutes_seq = ?2, minutes = ?3 WHERE id = ?1",
		    &st) == 0) {
		sqlite3_bind_text(st, 1, dialogue_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, seq);
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
		e = step_done(s, st);
	} else if (e == 0) {
		e = -EIO;
	}
	free(text);
	j->position = seq;
	return e;
}

static void
dialogue_minutes_done(int status, void *data)
{
	struct job *j = data;
	if (!answer_failure(j, status)) {
		rpc_call_reply(j->call, json_pack("{s:I}", "seq", (json_int_t)j->position));
	}
	job_free(j);
}

static void
dialogue_minutes_call(struct rpc_call *call, json_t *params, void *data)
{
	json_t *att = json_object_get(params, "attendees");
	size_t i;
	json_t *a;
	json_array_foreach(att, i, a)
	{
		if (!json_is_string(a)) {
			char ptr[48];
			g_snprintf(ptr, sizeof(ptr), "/attendees/%zu", i);
			rpc_call_invalid(call, ptr, "type");
			return;
		}
	}
	job_start(job_new(data, call, params), dialogue_minutes_txn, dialogue_minutes_done);
}

/* ---- iCalendar (RFC 5545) ---- */

/* Appends one content line, its text escaped when escape, folded at 75 octets (never inside
 * a UTF-8 sequence), ended by CRLF. */
static void
ics_line(GString *out, const char *name, const char *value, bool escape)
{
	GString *line = g_string_new(name);
	g_string_append_c(line, ':');
	for (const char *p = value ? value : ""; *p; p++) {
		if (escape && (*p == '\\' || *p == ';' || *p == ',')) {
			g_string_append_c(line, '\\');
			g_string_append_c(line, *p);
		} else if (escape && *p == '\n') {
			g_string_append(line, "\\n");
		} else if (escape && *p == '\r') {
			continue;
		} else {
			g_string_append_c(line, *p);
		}
	}
	size_t col = 0;
	for (size_t i = 0; i < line->len; i++) {
		unsigned char ch = (unsigned char)line->str[i];
		size_t seq = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
		if (col + seq > 75) {
			g_string_append(out, "\r\n ");
			col = 1;
		}
		g_string_append_len(out, line->str + i, (gssize)seq);
		col += seq;
		i += seq - 1;
	}
	g_string_append(out, "\r\n");
	g_string_free(line, TRUE);
}

static void
ics_time(GString *out, const char *name, int64_t t)
{
	GDateTime *dt = g_date_time_new_from_unix_utc(t);
	char *v = g_date_time_format(dt, "%Y%m%dT%H%M%SZ");
	ics_line(out, name, v, false);
	g_free(v);
	g_date_time_unref(dt);
}

/* One VEVENT. sequence: how many times its time or status changed (RFC 5545 3.8.7.4), kept
 * by the schema (migration 8), so a client replaces the copy it holds. */
static void
ics_event(GString *out, const char *uid, int64_t start, int64_t end, int64_t stamp,
	  const char *summary, const char *location, const char *description, bool cancelled,
	  int64_t sequence)
{
	char seq[24];
	ics_line(out, "BEGIN", "VEVENT", false);
	ics_line(out, "UID", uid, false);
	ics_time(out, "DTSTAMP", stamp);
	ics_time(out, "DTSTART", start);
	ics_time(out, "DTEND", end);
	ics_line(out, "SUMMARY", summary, true);
	if (location) {
		ics_line(out, "LOCATION", location, true);
	}
	if (description) {
		ics_line(out, "DESCRIPTION", description, true);
	}
	ics_line(out, "STATUS", cancelled ? "CANCELLED" : "CONFIRMED", false);
	g_snprintf(seq, sizeof(seq), "%" G_GINT64_FORMAT, sequence);
	ics_line(out, "SEQUENCE", seq, false);
	ics_line(out, "END", "VEVENT", false);
}

char *
schedule_ics(sqlite3 *db, const char *user_id, int64_t now)
{
	GString *out = g_string_new(NULL);
	sqlite3_stmt *st = NULL;
	ics_line(out, "BEGIN", "VCALENDAR", false);
	ics_line(out, "VERSION", "2.0", false);
	ics_line(out, "PRODID", "-//tiepdan//reception portal//VI", false);
	ics_line(out, "CALSCALE", "GREGORIAN", false);
	ics_line(out, "METHOD", "PUBLISH", false);
	ics_line(out, "X-WR-TIMEZONE", "Asia/Ho_Chi_Minh", false);
	ics_line(out, "X-WR-CALNAME", "Tiếp công dân", false);
	if (prepare(NULL, db,
		    "SELECT a.id, s.start_s, s.end_s, s.mode, s.location, a.topic, a.status, "
		    "ag.name, u.full_name, a.sequence FROM appointments a JOIN slots s ON s.id = "
		    "a.slot_id JOIN agencies ag ON ag.id = s.agency_id JOIN users u ON u.id = "
		    "s.host_id WHERE "
		    "a.citizen_id = ?1 OR (s.host_id = ?1 AND a.status = 'active') "
		    "ORDER BY s.start_s, a.id",
		    &st) == 0) {
		sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			char *uid = g_strdup_printf("appointment-%s@tiepdan",
						    (const char *)sqlite3_column_text(st, 0));
			char *summary = g_strdup_printf(
				"Tiếp công dân: %s (%s)", (const char *)sqlite3_column_text(st, 7),
				strcmp((const char *)sqlite3_column_text(st, 3), "online") == 0
					? "trực tuyến"
					: "trực tiếp");
			char *desc = g_strdup_printf("%s\nCán bộ tiếp: %s",
						     (const char *)sqlite3_column_text(st, 5),
						     (const char *)sqlite3_column_text(st, 8));
			ics_event(out, uid, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				  now, summary, (const char *)sqlite3_column_text(st, 4), desc,
				  strcmp((const char *)sqlite3_column_text(st, 6), "active") != 0,
				  sqlite3_column_int64(st, 9));
			g_free(uid);
			g_free(summary);
			g_free(desc);
		}
		release(NULL, st);
	}
	if (prepare(NULL, db,
		    "SELECT d.id, d.start_s, d.end_s, d.location, ag.name, d.sequence FROM "
		    "dialogues d JOIN agencies ag ON ag.id = d.agency_id WHERE d.id IN (SELECT "
		    "dialogue_id FROM dialogue_participants WHERE user_id = ?1) "
		    "ORDER BY d.start_s, d.id",
		    &st) == 0) {
		sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			char *uid = g_strdup_printf("dialogue-%s@tiepdan",
						    (const char *)sqlite3_column_text(st, 0));
			char *summary = g_strdup_printf("Đối thoại: %s",
							(const char *)sqlite3_column_text(st, 4));
			ics_event(out, uid, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				  now, summary, (const char *)sqlite3_column_text(st, 3), NULL,
				  false, sqlite3_column_int64(st, 5));
			g_free(uid);
			g_free(summary);
		}
		release(NULL, st);
	}
	ics_line(out, "END", "VCALENDAR", false);
	return g_string_free(out, FALSE);
}

/* ---- the table ---- */

static const char *const modes[] = {"online", "in_person", NULL};

#define ID(n, req) {.name = n, .type = RPC_T_ID, .required = req}
#define LIST_PARAMS                                                                               \
	{.name = "limit", .type = RPC_T_INTEGER, .min = 1, .max = 500},                           \
	{.name = "cursor", .type = RPC_T_STRING, .min = 1, .max = 512}

static const struct rpc_param create_params[] = {
	ID("agency_id", true),
	ID("host_id", true),
	{.name = "start", .type = RPC_T_DATETIME, .required = true,
	 .description = "first slot's start; its time of day starts every day's window"},
	{.name = "end", .type = RPC_T_DATETIME, .required = true,
	 .description = "last day's end; its time of day ends every day's window"},
	{.name = "slot_minutes", .type = RPC_T_INTEGER, .required = true, .min = 5, .max = 480},
	{.name = "capacity", .type = RPC_T_INTEGER, .required = true, .min = 1, .max = 1000},
	{.name = "mode", .type = RPC_T_ENUM, .required = true, .enum_values = modes},
	{.name = "location", .type = RPC_T_STRING, .min = 1, .max = 500},
	{.name = "leader_day", .type = RPC_T_BOOLEAN,
	 .description = "a leader's periodic reception day (the host must be a leader)"},
	{.name = "repeat", .type = RPC_T_OBJECT,
	 .schema = "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"freq\","
		   "\"until\"],\"properties\":{\"freq\":{\"enum\":[\"weekly\",\"monthly\"]},"
		   "\"until\":{\"type\":\"string\",\"format\":\"date\"}}}"},
	{.name = "ad_hoc", .type = RPC_T_BOOLEAN,
	 .description = "ad-hoc reception: exempt from the 5 working days' notice"},
	{0},
};

static const struct rpc_param slots_params[] = {
	ID("agency_id", false),
	{.name = "from", .type = RPC_T_DATETIME, .required = true},
	{.name = "to", .type = RPC_T_DATETIME, .required = true},
	{.name = "mode", .type = RPC_T_ENUM, .enum_values = modes},
	LIST_PARAMS,
	{0},
};

static const struct rpc_param book_params[] = {
	ID("slot_id", true),
	{.name = "topic", .type = RPC_T_STRING, .required = true, .min = 1, .max = 2000},
	ID("case_id", false),
	{0},
};

static const struct rpc_param wait_params[] = {
	ID("slot_id", true),
	{.name = "topic", .type = RPC_T_STRING, .min = 1, .max = 2000},
	ID("case_id", false),
	{0},
};

static const struct rpc_param unwait_params[] = {ID("slot_id", true), {0}};

static const struct rpc_param cancel_params[] = {
	ID("appointment_id", true),
	{.name = "reason", .type = RPC_T_STRING, .required = true, .min = 1, .max = 2000},
	{0},
};

static const struct rpc_param reschedule_params[] = {
	ID("appointment_id", true), ID("slot_id", true), {0}};

static const struct rpc_param list_params[] = {
	{.name = "from", .type = RPC_T_DATETIME},
	{.name = "to", .type = RPC_T_DATETIME},
	ID("agency_id", false),
	LIST_PARAMS,
	{0},
};

static const struct rpc_param dialogue_schedule_params[] = {
	ID("case_id", true),
	{.name = "start", .type = RPC_T_DATETIME, .required = true},
	{.name = "end", .type = RPC_T_DATETIME, .required = true},
	{.name = "mode", .type = RPC_T_ENUM, .required = true, .enum_values = modes},
	{.name = "location", .type = RPC_T_STRING, .min = 1, .max = 500},
	{.name = "participants", .type = RPC_T_ARRAY, .required = true, .max = 100,
	 .schema = "{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\","
		   "\"additionalProperties\":false,\"required\":[\"user_id\",\"role\"],"
		   "\"properties\":{\"user_id\":{\"type\":\"string\"},\"role\":{\"enum\":["
		   "\"resolver\",\"complainant\",\"representative\",\"respondent\","
		   "\"interested_party\",\"related_agency\",\"official\"]}}}}"},
	{.name = "override", .type = RPC_T_BOOLEAN,
	 .description = "schedule although a participant is double-booked (with override_reason)"},
	{.name = "override_reason", .type = RPC_T_STRING, .min = 1, .max = 500,
	 .description = "why the double booking is overridden; recorded in the case timeline"},
	{0},
};

static const struct rpc_param dialogue_get_params[] = {ID("dialogue_id", true), {0}};

static const struct rpc_param dialogue_list_params[] = {
	{.name = "from", .type = RPC_T_DATETIME},
	{.name = "to", .type = RPC_T_DATETIME},
	ID("case_id", false),
	LIST_PARAMS,
	{0},
};

static const struct rpc_param dialogue_minutes_params[] = {
	ID("dialogue_id", true),
	{.name = "text", .type = RPC_T_STRING, .required = true, .min = 1, .max = 100000},
	{.name = "attendees", .type = RPC_T_ARRAY, .required = true, .max = 100,
	 .description = "user ids of the participants present; the others are recorded absent"},
	{0},
};

#define APPT_RESULT "{\"type\":\"object\",\"required\":[\"appointment\"]}"
#define LIST_RESULT "{\"type\":\"object\",\"required\":[\"items\",\"next_cursor\"]}"

static const struct rpc_method schedule_methods[] = {
	{.name = "schedule.create", .handler = schedule_create_call,
	 .who = RPC_STAFF | RPC_LEADER,
	 .summary = "Publishes a reception schedule cut into slots on working days.",
	 .params = create_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"schedule_id\",\"slots\"]}"},
	{.name = "appointment.slots", .handler = slots_call, .who = RPC_ANYONE,
	 .summary = "Published slots starting in [from, to), with the seats remaining.",
	 .params = slots_params, .result_schema = LIST_RESULT},
	{.name = "appointment.book", .handler = book_call, .who = RPC_CITIZEN,
	 .summary = "Books the lowest free seat of a slot.", .params = book_params,
	 .result_schema = APPT_RESULT},
	{.name = "appointment.wait", .handler = wait_call, .who = RPC_CITIZEN,
	 .summary = "Joins the waiting list of a full slot.", .params = wait_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"position\"]}"},
	{.name = "appointment.unwait", .handler = unwait_call, .who = RPC_CITIZEN,
	 .summary = "Leaves the waiting list of a slot.", .params = unwait_params,
	 .result_schema = "{\"type\":\"object\"}"},
	{.name = "appointment.cancel", .handler = cancel_call, .who = RPC_CITIZEN | RPC_STAFF,
	 .summary = "Cancels an appointment (the citizen: up to cancel_before_minutes before).",
	 .params = cancel_params, .result_schema = APPT_RESULT},
	{.name = "appointment.reschedule", .handler = reschedule_call,
	 .who = RPC_CITIZEN | RPC_STAFF,
	 .summary = "Moves an appointment to another slot, atomically.",
	 .params = reschedule_params, .result_schema = APPT_RESULT},
	{.name = "appointment.list", .handler = list_call, .who = RPC_BOUND,
	 .summary = "The caller's appointments, or their agencies' for staff and leaders.",
	 .params = list_params, .result_schema = LIST_RESULT},
	{.name = "dialogue.schedule", .handler = dialogue_schedule_call,
	 .who = RPC_STAFF | RPC_LEADER,
	 .summary = "Schedules a dialogue of a case; participants are invited.",
	 .params = dialogue_schedule_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"dialogue\"]}"},
	{.name = "dialogue.list", .handler = dialogue_list_call, .who = RPC_BOUND,
	 .summary = "Dialogues the caller takes part in or whose agency they serve.",
	 .params = dialogue_list_params, .result_schema = LIST_RESULT},
	{.name = "dialogue.get", .handler = dialogue_get_call, .who = RPC_BOUND,
	 .summary = "One dialogue.", .params = dialogue_get_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"dialogue\"]}"},
	{.name = "dialogue.minutes", .handler = dialogue_minutes_call,
	 .who = RPC_LEADER | RPC_OFFICIAL | RPC_STAFF,
	 .summary = "Records a dialogue's minutes (once) in the case timeline.",
	 .params = dialogue_minutes_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"seq\"]}"},
};

int
schedule_parse_offsets(const char *text, struct schedule_options *opts)
{
	char **parts = g_strsplit(text ? text : "", ",", -1);
	int e = 0;
	opts->n_offsets = 0;
	for (char **p = parts; *p && e == 0; p++) {
		guint64 v;
		g_strstrip(*p);
		if (!**p && !parts[1]) {
			break;
		}
		if (opts->n_offsets == SCHEDULE_MAX_OFFSETS ||
		    !g_ascii_string_to_unsigned(*p, 10, 1, 43200, &v, NULL)) {
			e = -EINVAL;
		} else {
			opts->reminder_offsets[opts->n_offsets++] = (unsigned)v;
		}
	}
	g_strfreev(parts);
	return e;
}

struct schedule *
schedule_create(struct rpc *rpc, struct store *store, struct td_calendar *cal,
		const struct schedule_options *opts, GError **error)
{
	struct schedule *s = g_new0(struct schedule, 1);
	s->rpc = rpc;
	s->store = store;
	s->cal = cal;
	s->opts = *opts;
	if (!s->opts.max_active_bookings) {
		s->opts.max_active_bookings = 3;
	}
	if (!s->opts.reminder_tick_s) {
		s->opts.reminder_tick_s = 1;
	}
	if (!s->opts.dialogue_notice_days) {
		s->opts.dialogue_notice_days = DIALOGUE_NOTICE_DAYS;
	}
	s->tz = g_time_zone_new_identifier(opts->timezone ? opts->timezone : "Asia/Ho_Chi_Minh");
	if (!s->tz) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "unknown time zone");
		schedule_destroy(s);
		return NULL;
	}
	s->opts.timezone = NULL;
	if (rpc_register(rpc, schedule_methods, G_N_ELEMENTS(schedule_methods), s) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "schedule methods registered twice");
		schedule_destroy(s);
		return NULL;
	}
	s->leader_checked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	s->tick = g_timeout_add_seconds(s->opts.reminder_tick_s, schedule_tick, s);
	return s;
}

void
schedule_destroy(struct schedule *s)
{
	if (!s) {
		return;
	}
	if (s->tick) {
		g_source_remove(s->tick);
	}
	if (s->tz) {
		g_time_zone_unref(s->tz);
	}
	if (s->leader_checked) {
		g_hash_table_destroy(s->leader_checked);
	}
	g_free(s);
}
