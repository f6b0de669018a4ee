/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Unit tests of portal/schedule.c (included, to reach its statics) and of the
 * schema of migrations 6 to 8: the invariants that hold whatever the C code
 * does — one active holder per seat, no seat above the capacity, one active
 * booking per citizen and slot, published slots fixed, reminders and minutes
 * written once, the iCalendar SEQUENCE raised by every change of time or
 * status, no dialogue participant double-booked without an override, a short
 * month's warning marked once a day — and the statement cache.
 */
#include "../../../portal/schedule.c"

#include <glib/gstdio.h>

struct fx {
	char *dir;
	struct store *s;
};

static int
exec(sqlite3 *db, const char *sql)
{
	return store_exec_text(db, sql, NULL, 0);
}

static int
seed_txn(sqlite3 *db, void *data)
{
	(void)data;
	static const char *const sql[] = {
		"INSERT INTO agencies (id, code, name, level, parent_id, created_at) VALUES "
		"('city', 'DN', 'Đồng Nai', 'city', NULL, '2026-01-01T00:00:00+07:00')",
		"INSERT INTO users (id, login, full_name, password_hash, created_at) VALUES "
		"('host', 'host', 'Host', '$argon2id$x', '2026-01-01T00:00:00+07:00'), "
		"('c1', 'c1', 'C1', '$argon2id$x', '2026-01-01T00:00:00+07:00'), "
		"('c2', 'c2', 'C2', '$argon2id$x', '2026-01-01T00:00:00+07:00')",
		"INSERT INTO schedules (id, agency_id, host_id, mode, created_by, created_at) VALUES "
		"('sch', 'city', 'host', 'online', 'host', '2026-01-01T00:00:00+07:00')",
		"INSERT INTO slots (id, schedule_id, agency_id, host_id, start_at, end_at, start_s, "
		"end_s, capacity, mode) VALUES ('slot', 'sch', 'city', 'host', 'a', 'b', 100, 200, 1, "
		"'online')",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(sql); i++) {
		int e = exec(db, sql[i]);
		if (e < 0) {
			return e;
		}
	}
	return 0;
}

static void
fx_setup(struct fx *f, gconstpointer unused)
{
	(void)unused;
	GError *error = NULL;
	struct store_options o;
	f->dir = g_dir_make_tmp("tiepdan-schedule-XXXXXX", &error);
	g_assert_no_error(error);
	store_options_init(&o);
	o.async = false;
	f->s = store_open(f->dir, &o);
	g_assert_nonnull(f->s);
	g_assert_cmpint(store_write_sync(f->s, seed_txn, NULL), ==, 0);
}

static void
fx_teardown(struct fx *f, gconstpointer unused)
{
	(void)unused;
	store_destroy(f->s);
	const char *names[] = {"tiepdan.db", "tiepdan.db-wal", "tiepdan.db-shm"};
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		char *p = g_build_filename(f->dir, names[i], NULL);
		g_unlink(p);
		g_free(p);
	}
	g_rmdir(f->dir);
	g_free(f->dir);
}

static int
exec_txn(sqlite3 *db, void *data)
{
	return exec(db, data);
}

static int
run(struct fx *f, const char *sql)
{
	return store_write_sync(f->s, exec_txn, (void *)sql);
}

static void
test_one_seat(struct fx *f, gconstpointer unused)
{
	(void)unused;
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('a1', 'slot', 'c1', 1, 'active', 't', "
			       "'now')"),
			==, 0);
	/* A second active holder of seat 1: refused by the partial unique index. */
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('a2', 'slot', 'c2', 1, 'active', 't', "
			       "'now')"),
			==, -EEXIST);
	/* Seat 2 of a slot of capacity 1: refused by the trigger. */
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('a3', 'slot', 'c2', 2, 'active', 't', "
			       "'now')"),
			==, -EINVAL);
	/* A cancelled row may keep its seat number; bringing it back is refused. */
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at, cancelled_at) VALUES ('a4', 'slot', 'c2', 1, "
			       "'cancelled', 't', 'now', 'now')"),
			==, 0);
	g_assert_cmpint(run(f, "UPDATE appointments SET status = 'active', cancelled_at = NULL "
			       "WHERE id = 'a4'"),
			==, -EEXIST);
	/* Moving a seat above the capacity is refused too. */
	g_assert_cmpint(run(f, "UPDATE appointments SET seat = 5 WHERE id = 'a1'"), ==, -EINVAL);
	/* A published slot keeps its capacity and times. */
	g_assert_cmpint(run(f, "UPDATE slots SET capacity = 5 WHERE id = 'slot'"), ==, -EINVAL);
	g_assert_cmpint(run(f, "UPDATE slots SET start_s = 50 WHERE id = 'slot'"), ==, -EINVAL);
}

static void
test_once_per_slot(struct fx *f, gconstpointer unused)
{
	(void)unused;
	g_assert_cmpint(run(f, "UPDATE slots SET location = 'x' WHERE id = 'slot'"), ==, 0);
	g_assert_cmpint(run(f, "INSERT INTO slots (id, schedule_id, agency_id, host_id, start_at, "
			       "end_at, start_s, end_s, capacity, mode) VALUES ('big', 'sch', "
			       "'city', 'host', 'a', 'b', 100, 200, 5, 'online')"),
			==, 0);
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('b1', 'big', 'c1', 1, 'active', 't', "
			       "'now')"),
			==, 0);
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('b2', 'big', 'c1', 2, 'active', 't', "
			       "'now')"),
			==, -EEXIST);
}

static void
test_sent_once(struct fx *f, gconstpointer unused)
{
	(void)unused;
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('a1', 'slot', 'c1', 1, 'active', 't', "
			       "'now')"),
			==, 0);
	g_assert_cmpint(run(f, "INSERT INTO reminders (appointment_id, offset_min, user_id, due_s) "
			       "VALUES ('a1', 60, 'c1', 10)"),
			==, 0);
	g_assert_cmpint(run(f, "UPDATE reminders SET sent_at = 'now'"), ==, 0);
	g_assert_cmpint(run(f, "UPDATE reminders SET sent_at = 'later'"), ==, -EINVAL);
}

/* The feed: RFC 5545 structure, escaping, folding at 75 octets without cutting a character. */
static void
test_ics(struct fx *f, gconstpointer unused)
{
	(void)unused;
	g_assert_cmpint(run(f, "UPDATE slots SET location = 'Phòng tiếp công dân, tầng 1; số 2 "
			       "đường Nguyễn Ái Quốc, phường Trấn Biên, thành phố Đồng Nai' WHERE "
			       "id = 'slot'"),
			==, 0);
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('a1', 'slot', 'c1', 1, 'active', 'Đất\nđai', "
			       "'now')"),
			==, 0);
	char *ics = schedule_ics(store_reader(f->s), "c1", 0);
	g_assert_true(g_str_has_prefix(ics, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
	g_assert_true(g_str_has_suffix(ics, "END:VCALENDAR\r\n"));
	g_assert_nonnull(strstr(ics, "\r\nUID:appointment-a1@tiepdan\r\n"));
	g_assert_nonnull(strstr(ics, "\r\nDTSTART:19700101T000140Z\r\n"));
	g_assert_nonnull(strstr(ics, "\r\nDTEND:19700101T000320Z\r\n"));
	g_assert_nonnull(strstr(ics, "\r\nSTATUS:CONFIRMED\r\n"));
	char **lines = g_strsplit(ics, "\r\n", -1);
	GString *location = NULL;
	bool in_location = false;
	for (char **l = lines; *l; l++) {
		g_assert_cmpuint(strlen(*l), <=, 75);
		g_assert_true(g_utf8_validate(*l, -1, NULL));
		g_assert_null(strchr(*l, '\n'));
		if (g_str_has_prefix(*l, "LOCATION:")) {
			location = g_string_new(*l);
			in_location = true;
		} else if (in_location && (*l)[0] == ' ') {
			g_string_append(location, *l + 1); /* unfolded */
		} else {
			in_location = false;
		}
	}
	g_assert_nonnull(location);
	g_assert_true(g_str_has_prefix(location->str,
				       "LOCATION:Phòng tiếp công dân\\, tầng 1\\; số 2 đường"));
	g_string_free(location, TRUE);
	g_strfreev(lines);
	g_free(ics);
	/* Someone with nothing gets an empty calendar. */
	ics = schedule_ics(store_reader(f->s), "c2", 0);
	g_assert_null(strstr(ics, "VEVENT"));
	g_free(ics);
}

/* SEQUENCE: raised by the schema on every move or cancellation, never lowered; in the feed. */
static void
test_sequence(struct fx *f, gconstpointer unused)
{
	(void)unused;
	sqlite3 *r = store_reader(f->s);
	g_assert_cmpint(run(f, "INSERT INTO slots (id, schedule_id, agency_id, host_id, start_at, "
			       "end_at, start_s, end_s, capacity, mode) VALUES ('slot2', 'sch', "
			       "'city', 'host', 'a', 'b', 300, 400, 1, 'online')"),
			==, 0);
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('a1', 'slot', 'c1', 1, 'active', 't', "
			       "'now')"),
			==, 0);
	char *v = store_query_text(r, "SELECT sequence FROM appointments WHERE id = 'a1'", NULL, 0);
	g_assert_cmpstr(v, ==, "0");
	g_free(v);
	/* A change that is neither time nor status keeps it. */
	g_assert_cmpint(run(f, "UPDATE appointments SET topic = 'u' WHERE id = 'a1'"), ==, 0);
	g_assert_cmpint(run(f, "UPDATE appointments SET slot_id = 'slot2' WHERE id = 'a1'"), ==, 0);
	v = store_query_text(r, "SELECT sequence FROM appointments WHERE id = 'a1'", NULL, 0);
	g_assert_cmpstr(v, ==, "1");
	g_free(v);
	char *ics = schedule_ics(r, "c1", 0);
	g_assert_nonnull(strstr(ics, "\r\nSEQUENCE:1\r\n"));
	g_assert_nonnull(strstr(ics, "\r\nDTSTART:19700101T000500Z\r\n"));
	g_free(ics);
	g_assert_cmpint(run(f, "UPDATE appointments SET status = 'cancelled', cancelled_at = 'now' "
			       "WHERE id = 'a1'"),
			==, 0);
	v = store_query_text(r, "SELECT sequence FROM appointments WHERE id = 'a1'", NULL, 0);
	g_assert_cmpstr(v, ==, "2");
	g_free(v);
	ics = schedule_ics(r, "c1", 0);
	g_assert_nonnull(strstr(ics, "\r\nSEQUENCE:2\r\nEND:VEVENT\r\n"));
	g_assert_nonnull(strstr(ics, "\r\nSTATUS:CANCELLED\r\n"));
	g_free(ics);
	g_assert_cmpint(run(f, "UPDATE appointments SET sequence = 1 WHERE id = 'a1'"), ==,
			-EINVAL);
}

/* A case of the city, for dialogues (only the columns the schema asks for). */
static int
case_row(struct fx *f, const char *id)
{
	char *sql = g_strdup_printf(
		"INSERT INTO cases (id, tracking_code, kind, field, title, content, status, "
		"agency_id, petitioner_mac, petitioner, locality_code, via, received_on, "
		"received_at, stage_started_on, updated_at) VALUES ('%s', 'T-%s', 'complaint', "
		"'land', 't', 'c', 'received', 'city', 'm', '{}', 'DN', 'online', '2026-01-01', "
		"'now', '2026-01-01', 'now')",
		id, id);
	int e = run(f, sql);
	g_free(sql);
	return e;
}

static int
dialogue_row(struct fx *f, const char *id, int64_t start, int64_t end, const char *reason)
{
	char *sql = g_strdup_printf(
		"INSERT INTO dialogues (id, case_id, agency_id, start_at, end_at, start_s, end_s, "
		"mode, created_by, created_at, override_reason) VALUES ('%s', 'k1', 'city', 'a', "
		"'b', %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", 'online', 'host', 'now', %s)",
		id, start, end, reason);
	int e = run(f, sql);
	g_free(sql);
	return e;
}

static int
participant(struct fx *f, const char *dialogue, const char *user)
{
	char *sql = g_strdup_printf("INSERT INTO dialogue_participants (dialogue_id, user_id, "
				    "role) VALUES ('%s', '%s', 'complainant')",
				    dialogue, user);
	int e = run(f, sql);
	g_free(sql);
	return e;
}

/* No participant double-booked unless the dialogue carries an override reason. */
static void
test_dialogue_double_booking(struct fx *f, gconstpointer unused)
{
	(void)unused;
	g_assert_cmpint(case_row(f, "k1"), ==, 0);
	g_assert_cmpint(dialogue_row(f, "d1", 1000, 2000, "NULL"), ==, 0);
	g_assert_cmpint(participant(f, "d1", "c1"), ==, 0);
	/* Overlapping d1 for c1: refused; touching it (end excluded) is fine. */
	g_assert_cmpint(dialogue_row(f, "d2", 1500, 2500, "NULL"), ==, 0);
	g_assert_cmpint(participant(f, "d2", "c1"), ==, -EINVAL);
	g_assert_cmpint(participant(f, "d2", "c2"), ==, 0);
	g_assert_cmpint(dialogue_row(f, "d3", 2000, 3000, "NULL"), ==, 0);
	g_assert_cmpint(participant(f, "d3", "c1"), ==, 0);
	/* An active appointment of c2 (slot 100–200), and its host. */
	g_assert_cmpint(run(f, "INSERT INTO appointments (id, slot_id, citizen_id, seat, status, "
			       "topic, created_at) VALUES ('a1', 'slot', 'c2', 1, 'active', 't', "
			       "'now')"),
			==, 0);
	g_assert_cmpint(dialogue_row(f, "d4", 150, 250, "NULL"), ==, 0);
	g_assert_cmpint(participant(f, "d4", "c2"), ==, -EINVAL);
	g_assert_cmpint(participant(f, "d4", "host"), ==, -EINVAL);
	g_assert_cmpint(participant(f, "d4", "c1"), ==, 0);
	/* With an override reason, both go in. */
	g_assert_cmpint(dialogue_row(f, "d5", 150, 250, "'đã thống nhất'"), ==, 0);
	g_assert_cmpint(participant(f, "d5", "c2"), ==, 0);
	g_assert_cmpint(participant(f, "d5", "host"), ==, 0);
	/* A cancelled appointment is no conflict. */
	g_assert_cmpint(run(f, "UPDATE appointments SET status = 'cancelled', cancelled_at = 'now' "
			       "WHERE id = 'a1'"),
			==, 0);
	g_assert_cmpint(dialogue_row(f, "d6", 100, 120, "NULL"), ==, 0);
	g_assert_cmpint(participant(f, "d6", "host"), ==, 0);
	/* A dialogue's move raises its SEQUENCE. */
	g_assert_cmpint(run(f, "UPDATE dialogues SET start_s = 90 WHERE id = 'd6'"), ==, 0);
	char *v = store_query_text(store_reader(f->s),
				   "SELECT sequence FROM dialogues WHERE id = 'd6'", NULL, 0);
	g_assert_cmpstr(v, ==, "1");
	g_free(v);
}

static const char mark_sql[] =
	"INSERT INTO leader_days_warnings (agency_id, month, day, sent_at) VALUES ('city', "
	"'2026-12', ?1, 'now') ON CONFLICT (agency_id, month) DO UPDATE SET day = excluded.day, "
	"sent_at = excluded.sent_at WHERE day < excluded.day";

static int
mark_txn(sqlite3 *db, void *data)
{
	const char *params[] = {data};
	int e = store_exec_text(db, mark_sql, params, 1);
	return e < 0 ? e : sqlite3_changes(db);
}

/* The UPSERT that decides whether a month is announced: once per day, never for an older day. */
static void
test_leader_warning_once_a_day(struct fx *f, gconstpointer unused)
{
	(void)unused;
	g_assert_cmpint(store_write_sync(f->s, mark_txn, "2026-11-28"), ==, 1);
	g_assert_cmpint(store_write_sync(f->s, mark_txn, "2026-11-28"), ==, 0);
	g_assert_cmpint(store_write_sync(f->s, mark_txn, "2026-11-27"), ==, 0);
	g_assert_cmpint(store_write_sync(f->s, mark_txn, "2026-11-29"), ==, 1);
	g_assert_cmpint(store_write_sync(f->s, mark_txn, "29-11-2026"), ==, -EINVAL);
}

static void
test_offsets(void)
{
	struct schedule_options o = {0};
	g_assert_cmpint(schedule_parse_offsets("1440,60", &o), ==, 0);
	g_assert_cmpuint(o.n_offsets, ==, 2);
	g_assert_cmpuint(o.reminder_offsets[0], ==, 1440);
	g_assert_cmpuint(o.reminder_offsets[1], ==, 60);
	g_assert_cmpint(schedule_parse_offsets(" 5 , 1 ", &o), ==, 0);
	g_assert_cmpuint(o.n_offsets, ==, 2);
	g_assert_cmpint(schedule_parse_offsets("", &o), ==, 0);
	g_assert_cmpuint(o.n_offsets, ==, 0);
	g_assert_cmpint(schedule_parse_offsets("0", &o), ==, -EINVAL);
	g_assert_cmpint(schedule_parse_offsets("60,", &o), ==, -EINVAL);
	g_assert_cmpint(schedule_parse_offsets("x", &o), ==, -EINVAL);
	g_assert_cmpint(schedule_parse_offsets("1,2,3,4,5,6,7,8,9", &o), ==, -EINVAL);
}

static void
test_cursor(void)
{
	char *c = cursor_make(1790000000, "abc_DEF-123");
	int64_t t = 0;
	char *id = NULL;
	g_assert_true(cursor_parse(c, &t, &id));
	g_assert_cmpint(t, ==, 1790000000);
	g_assert_cmpstr(id, ==, "abc_DEF-123");
	g_free(id);
	g_free(c);
	g_assert_false(cursor_parse("bm9waXBl", &t, &id)); /* "nopipe" */
	g_assert_null(id);
	g_assert_false(cursor_parse("", &t, &id));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/schedule/schema/one-seat", struct fx, NULL, fx_setup, test_one_seat,
		   fx_teardown);
	g_test_add("/schedule/schema/once-per-slot", struct fx, NULL, fx_setup,
		   test_once_per_slot, fx_teardown);
	g_test_add("/schedule/schema/reminder-sent-once", struct fx, NULL, fx_setup,
		   test_sent_once, fx_teardown);
	g_test_add("/schedule/ics", struct fx, NULL, fx_setup, test_ics, fx_teardown);
	g_test_add("/schedule/schema/sequence", struct fx, NULL, fx_setup, test_sequence,
		   fx_teardown);
	g_test_add("/schedule/schema/dialogue-double-booking", struct fx, NULL, fx_setup,
		   test_dialogue_double_booking, fx_teardown);
	g_test_add("/schedule/schema/leader-warning-once-a-day", struct fx, NULL, fx_setup,
		   test_leader_warning_once_a_day, fx_teardown);
	g_test_add_func("/schedule/offsets", test_offsets);
	g_test_add_func("/schedule/cursor", test_cursor);
	return g_test_run();
}
