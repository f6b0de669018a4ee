/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Unit tests of portal/reports.c (included, to reach its statics) and of the
 * report_stints triggers of migration 10: the standard periods of DOMAIN.md
 * §7 and their boundaries, day numbers, and the stints a case leaves as it
 * is received, forwarded, accepted and decided, whatever C code moves it.
 */
#include "../../../portal/reports.c"

#include <glib/gstdio.h>

static void
test_periods(void)
{
	static const struct {
		const char *period, *from, *to;
	} ok[] = {
		{"2026", "2025-12-15", "2026-12-14"},    {"2026-H1", "2025-12-15", "2026-06-14"},
		{"2026-H2", "2026-06-15", "2026-12-14"}, {"2026-Q1", "2025-12-15", "2026-03-14"},
		{"2026-Q2", "2026-03-15", "2026-06-14"}, {"2026-Q3", "2026-06-15", "2026-09-14"},
		{"2026-Q4", "2026-09-15", "2026-12-14"}, {"2026-01", "2025-12-15", "2026-01-14"},
		{"2026-02", "2026-01-15", "2026-02-14"}, {"2026-12", "2026-11-15", "2026-12-14"},
		{"2028-03", "2028-02-15", "2028-03-14"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
		char from[11], to[11];
		g_assert_cmpint(period_range(ok[i].period, from, to), ==, 0);
		g_assert_cmpstr(from, ==, ok[i].from);
		g_assert_cmpstr(to, ==, ok[i].to);
	}
	static const char *const bad[] = {"", "26", "2026-", "2026-H3", "2026-Q0", "2026-Q5",
					  "2026-13", "2026-00", "2026-1", "2026-Q12", "x026",
					  "2026H1", "2026-h1", "1800", "20266", "2026-H1x"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char from[11], to[11];
		g_assert_cmpint(period_range(bad[i], from, to), ==, -EINVAL);
	}
	/* Quarters tile the year, and the halves too: the day after one is the first of the next. */
	const char *tiles[][2] = {{"2026-Q1", "2026-Q2"}, {"2026-Q2", "2026-Q3"},
				  {"2026-Q3", "2026-Q4"}, {"2026-Q4", "2027-Q1"},
				  {"2026-H1", "2026-H2"}, {"2026-H2", "2027-H1"}};
	for (size_t i = 0; i < G_N_ELEMENTS(tiles); i++) {
		char f1[11], t1[11], f2[11], t2[11];
		g_assert_cmpint(period_range(tiles[i][0], f1, t1), ==, 0);
		g_assert_cmpint(period_range(tiles[i][1], f2, t2), ==, 0);
		g_assert_cmpint(day_number(t1) + 1, ==, day_number(f2));
	}
}

static void
test_day_numbers(void)
{
	g_assert_cmpint(day_number("1970-01-01"), ==, 0);
	g_assert_cmpint(day_number("1970-01-02"), ==, 1);
	g_assert_cmpint(day_number("2026-11-28"), ==, 20785);
	g_assert_cmpint(day_number("2024-03-01") - day_number("2024-02-28"), ==, 2); /* leap */
	g_assert_cmpint(day_number("2026-03-01") - day_number("2026-02-28"), ==, 1);
	g_assert_cmpint(day_number("2026-11-28T23:59:59+07:00"), ==, 20785);
	g_assert_cmpint(day_number("2026/11/28"), ==, -1);
	g_assert_cmpint(day_number("20261128"), ==, -1);
	g_assert_cmpint(day_number(NULL), ==, -1);
	for (int32_t d = 19000; d < 22000; d += 37) {
		char t[11];
		day_text(d, t);
		g_assert_cmpint(day_number(t), ==, d);
	}
}

/* ---- the stints the schema keeps ---- */

struct fx {
	char *dir;
	struct store *s;
};

static int
exec_txn(sqlite3 *db, void *data)
{
	return store_exec_text(db, data, NULL, 0);
}

static int
exec(struct fx *f, const char *sql)
{
	return store_write_sync(f->s, exec_txn, (void *)sql);
}

static void
fx_setup(struct fx *f, gconstpointer unused)
{
	(void)unused;
	GError *error = NULL;
	struct store_options o;
	f->dir = g_dir_make_tmp("tiepdan-reports-XXXXXX", &error);
	g_assert_no_error(error);
	store_options_init(&o);
	o.async = false;
	f->s = store_open(f->dir, &o);
	g_assert_nonnull(f->s);
	g_assert_cmpint(
		exec(f, "INSERT INTO agencies (id, code, name, level, parent_id, created_at) VALUES "
			"('city', 'DN', 'Đồng Nai', 'city', NULL, '2026-01-01T00:00:00+07:00'), "
			"('a', 'DN-P-A', 'A', 'ward', 'city', '2026-01-01T00:00:00+07:00'), "
			"('b', 'DN-P-B', 'B', 'ward', 'city', '2026-01-01T00:00:00+07:00')"),
		==, 0);
	g_assert_cmpint(
		exec(f, "INSERT INTO cases (id, tracking_code, kind, field, title, content, status, "
			"agency_id, petitioner_mac, petitioner, locality_code, via, received_on, "
			"received_at, stage_started_on, updated_at) VALUES ('c1', 'T1', 'feedback', "
			"'land', 't', 'c', 'received', 'a', 'm', '{}', 'DN-P-A', 'post', '2026-03-01', "
			"'2026-03-05T09:00:00+07:00', '2026-03-01', '2026-03-05T09:00:00+07:00')"),
		==, 0);
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

/* "stint agency status received accepted settled decided outcome" lines, by stint. */
static char *
stints(struct fx *f)
{
	g_autoptr(StoreStmt) st = store_stmt(
		store_reader(f->s),
		"SELECT stint, agency_id, status, kind, field, mass, received_day, "
		"ifnull(accepted_day, -1), ifnull(settled_day, -1), ifnull(decided_day, -1), "
		"ifnull(outcome, '-') FROM report_stints WHERE case_rowid = (SELECT rowid FROM cases "
		"WHERE id = 'c1') ORDER BY stint");
	GString *out = g_string_new(NULL);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		char d[4][11];
		for (int i = 0; i < 4; i++) {
			int v = sqlite3_column_int(st, 6 + i);
			if (v < 0) {
				strcpy(d[i], "-");
			} else {
				day_text(v, d[i]);
			}
		}
		g_string_append_printf(out, "%d %s %s %s %s %d %s %s %s %s %s\n",
				       sqlite3_column_int(st, 0), sqlite3_column_text(st, 1),
				       sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
				       sqlite3_column_text(st, 4), sqlite3_column_int(st, 5), d[0], d[1],
				       d[2], d[3], sqlite3_column_text(st, 10));
	}
	return g_string_free(out, FALSE);
}

static void
assert_stints(struct fx *f, const char *want)
{
	char *got = stints(f);
	g_assert_cmpstr(got, ==, want);
	g_free(got);
}

static void
test_stints(struct fx *f, gconstpointer unused)
{
	(void)unused;
	/* Received by post on 1 March (registered on the 5th): counts on the 1st. */
	assert_stints(f, "1 a received feedback land 0 2026-03-01 - - - -\n");
	/* A forward on 10 March ends the stint at A and opens one at B. */
	g_assert_cmpint(exec(f, "UPDATE cases SET agency_id = 'b', status = 'received', "
				"stage_started_on = '2026-03-10', forwards = 1, updated_at = "
				"'2026-03-10T10:00:00+07:00' WHERE id = 'c1'"),
			==, 0);
	assert_stints(f, "1 a forwarded feedback land 0 2026-03-01 - 2026-03-10 - -\n"
			 "2 b received feedback land 0 2026-03-10 - - - -\n");
	/* A reclassification reaches every stint; a timeline update touches none. */
	g_assert_cmpint(exec(f, "UPDATE cases SET field = 'environment', mass = 1, updated_at = "
				"'2026-03-11T10:00:00+07:00' WHERE id = 'c1'"),
			==, 0);
	g_assert_cmpint(exec(f, "UPDATE cases SET timeline_length = 3 WHERE id = 'c1'"), ==, 0);
	assert_stints(f, "1 a forwarded feedback environment 1 2026-03-01 - 2026-03-10 - -\n"
			 "2 b received feedback environment 1 2026-03-10 - - - -\n");
	/* Accepted on the 12th, decided on 2 April (a day in +07:00, whatever UTC says). */
	g_assert_cmpint(exec(f, "UPDATE cases SET status = 'accepted', stage_started_on = "
				"'2026-03-12', updated_at = '2026-03-12T23:30:00+07:00' WHERE id = "
				"'c1'"),
			==, 0);
	g_assert_cmpint(exec(f, "UPDATE cases SET status = 'decided', outcome = 'upheld', "
				"decided_on = '2026-04-02', updated_at = "
				"'2026-04-02T00:10:00+07:00' WHERE id = 'c1'"),
			==, 0);
	assert_stints(f, "1 a forwarded feedback environment 1 2026-03-01 - 2026-03-10 - -\n"
			 "2 b decided feedback environment 1 2026-03-10 2026-03-12 2026-04-02 "
			 "2026-04-02 upheld\n");
	/* Closing keeps the day it was settled. */
	g_assert_cmpint(exec(f, "UPDATE cases SET status = 'closed', updated_at = "
				"'2026-05-01T08:00:00+07:00' WHERE id = 'c1'"),
			==, 0);
	assert_stints(f, "1 a forwarded feedback environment 1 2026-03-01 - 2026-03-10 - -\n"
			 "2 b closed feedback environment 1 2026-03-10 2026-03-12 2026-04-02 "
			 "2026-04-02 upheld\n");
}

/* An appeal: the first stint stays decided with its outcome; the second instance is a new one. */
static void
test_appeal(struct fx *f, gconstpointer unused)
{
	(void)unused;
	g_assert_cmpint(exec(f, "UPDATE cases SET status = 'accepted', stage_started_on = "
				"'2026-03-02', updated_at = '2026-03-02T08:00:00+07:00' WHERE id = "
				"'c1'"),
			==, 0);
	g_assert_cmpint(exec(f, "UPDATE cases SET status = 'decided', outcome = 'rejected', "
				"decided_on = '2026-03-20', updated_at = "
				"'2026-03-20T08:00:00+07:00' WHERE id = 'c1'"),
			==, 0);
	g_assert_cmpint(exec(f, "UPDATE cases SET status = 'received', instance = 2, agency_id = "
				"'b', first_resolver_id = 'a', stage_started_on = '2026-04-01', "
				"outcome = NULL, decided_on = NULL, updated_at = "
				"'2026-04-01T08:00:00+07:00' WHERE id = 'c1'"),
			==, 0);
	assert_stints(f, "1 a decided feedback land 0 2026-03-01 2026-03-02 2026-03-20 2026-03-20 "
			 "rejected\n"
			 "2 b received feedback land 0 2026-04-01 - - - -\n");
	g_autoptr(StoreStmt) st = store_stmt(store_reader(f->s),
					     "SELECT instance FROM report_stints ORDER BY stint");
	g_assert_nonnull(st);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
	g_assert_cmpint(sqlite3_column_int(st, 0), ==, 1);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
	g_assert_cmpint(sqlite3_column_int(st, 0), ==, 2);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	td_log_set_level(TD_LOG_ERROR);
	g_test_add_func("/reports/periods", test_periods);
	g_test_add_func("/reports/day-numbers", test_day_numbers);
	g_test_add("/reports/schema/stints", struct fx, NULL, fx_setup, test_stints, fx_teardown);
	g_test_add("/reports/schema/appeal", struct fx, NULL, fx_setup, test_appeal, fx_teardown);
	return g_test_run();
}
