/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Working days and deadlines. Every expected date below was counted by hand
 * on a paper calendar (the counting is written next to each case), never
 * derived from the code under test.
 *
 * Weekdays used: 2026-02-06 Fri, 2026-02-17 Tue (Tết), 2026-04-24 Fri,
 * 2026-04-26 Sun, 2026-08-28 Fri, 2026-09-02 Wed, 2026-12-24 Thu,
 * 2027-01-01 Fri, 2026-01-30 Fri, 2026-03-01 Sun, 2026-01-18 Sun,
 * 2026-06-01 Mon, 2026-07-11 Sat, 2026-07-15 Wed, 2026-09-13 Sun,
 * 2029-02-13 Tue (Tết), 2029-09-02 Sun, 2030-02-02 Sat (Tết), 2028-04-30 Sun.
 */
#include "tiepdan/calendar.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static GDate
D(const char *s)
{
	GDate d;
	g_assert_cmpint(td_calendar_date_parse(s, &d), ==, 0);
	return d;
}

static struct td_calendar *
shipped(void)
{
	char *path =
	    g_test_build_filename(G_TEST_DIST, "..", "portal", "data", "holidays.ini", NULL);
	GError *error = NULL;
	struct td_calendar *cal = td_calendar_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cal);
	g_free(path);
	return cal;
}

static char *
write_ini(const char *text)
{
	GError *err = NULL;
	char *path = NULL;
	int fd = g_file_open_tmp("tiepdan-holidays-XXXXXX.ini", &path, &err);
	g_assert_no_error(err);
	close(fd);
	g_assert_true(g_file_set_contents(path, text, -1, &err));
	g_assert_no_error(err);
	return path;
}

static struct td_calendar *
load_text(const char *text)
{
	char *path = write_ini(text);
	GError *error = NULL;
	struct td_calendar *cal = td_calendar_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cal);
	g_unlink(path);
	g_free(path);
	return cal;
}

static bool
working(struct td_calendar *cal, const char *s)
{
	GDate d = D(s);
	return td_calendar_is_working_day(cal, &d);
}

static void
assert_off(struct td_calendar *cal, const char *s, const char *name)
{
	GDate d = D(s);
	struct td_day_info info;
	g_assert_cmpint(td_calendar_day_info(cal, &d, &info), ==, 0);
	if (info.kind == TD_DAY_WORKING) {
		g_error("%s should be a day off", s);
	}
	if (name) {
		g_assert_cmpstr(info.name, ==, name);
	}
}

static void
assert_working(struct td_calendar *cal, const char *s)
{
	if (!working(cal, s)) {
		g_error("%s should be a working day", s);
	}
}

/* Deadline as "YYYY-MM-DD"; explanation kept when ex is not NULL. */
static char *
deadline(struct td_calendar *cal, const char *event, enum td_deadline_unit unit, int days,
         const struct td_extension *ext, size_t n_ext, const struct td_date_range *susp,
         size_t n_susp, json_t **ex)
{
	struct td_deadline_spec spec = {
	    .event_on = D(event),
	    .unit = unit,
	    .days = days,
	    .extensions = ext,
	    .n_extensions = n_ext,
	    .suspended = susp,
	    .n_suspended = n_susp,
	};
	GDate out;
	json_t *e = NULL;
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, &e), ==, 0);
	g_assert_nonnull(e);
	char buf[11];
	td_calendar_date_format(&out, buf);
	/* the explanation always agrees with the result */
	g_assert_cmpstr(json_string_value(json_object_get(e, "last_day")), ==, buf);
	if (ex) {
		*ex = e;
	} else {
		json_decref(e);
	}
	return g_strdup(buf);
}

#define assert_deadline(want, ...)                                                                 \
	do {                                                                                       \
		char *got_ = deadline(__VA_ARGS__);                                                \
		g_assert_cmpstr(got_, ==, want);                                                   \
		g_free(got_);                                                                      \
	} while (0)

static void
test_dates(void)
{
	GDate d;
	char buf[11];
	g_assert_cmpint(td_calendar_date_parse("2026-02-17", &d), ==, 0);
	g_assert_cmpstr(td_calendar_date_format(&d, buf), ==, "2026-02-17");
	g_assert_cmpint(td_calendar_date_parse("2026-02-29", &d), ==, -EINVAL);
	g_assert_cmpint(td_calendar_date_parse("2026-2-17", &d), ==, -EINVAL);
	g_assert_cmpint(td_calendar_date_parse("2026-02-17x", &d), ==, -EINVAL);
	g_assert_cmpint(td_calendar_date_parse("", &d), ==, -EINVAL);
	g_assert_cmpint(td_calendar_date_parse(NULL, &d), ==, -EINVAL);
}

/* The announced years of the shipped file (DOMAIN.md §8). */
static void
test_announced_years(void)
{
	struct td_calendar *cal = shipped();
	/* 2026: 1 Jan; Tết 14–22 Feb; 27 Apr; 30 Apr; 1 May; 1–2 Sep */
	assert_off(cal, "2026-01-01", "Tết Dương lịch");
	assert_working(cal, "2026-01-02");
	assert_working(cal, "2026-02-13");
	assert_off(cal, "2026-02-14", "Tết Nguyên đán");
	assert_off(cal, "2026-02-16", "Tết Nguyên đán");
	assert_off(cal, "2026-02-20", "Tết Nguyên đán");
	assert_off(cal, "2026-02-22", "Tết Nguyên đán");
	assert_working(cal, "2026-02-23");
	assert_off(cal, "2026-04-27", NULL);
	assert_working(cal, "2026-04-28");
	assert_working(cal, "2026-04-29");
	assert_off(cal, "2026-04-30", "Ngày Chiến thắng");
	assert_off(cal, "2026-05-01", "Ngày Quốc tế Lao động");
	assert_working(cal, "2026-05-04");
	assert_working(cal, "2026-08-31");
	assert_off(cal, "2026-09-01", NULL);
	assert_off(cal, "2026-09-02", "Quốc khánh");
	assert_working(cal, "2026-09-03");

	/* 2024: Tết 8–14 Feb; Mon 29 Apr swapped for Sat 4 May */
	assert_working(cal, "2024-02-07");
	assert_off(cal, "2024-02-08", "Tết Nguyên đán");
	assert_off(cal, "2024-02-14", "Tết Nguyên đán");
	assert_working(cal, "2024-02-15");
	assert_off(cal, "2024-04-18", "Giỗ Tổ Hùng Vương");
	assert_off(cal, "2024-04-29", NULL);
	assert_working(cal, "2024-05-04");
	GDate sat = D("2024-05-04");
	struct td_day_info info;
	g_assert_cmpint(td_calendar_day_info(cal, &sat, &info), ==, 0);
	g_assert_true(info.working_weekend);
	assert_working(cal, "2024-05-10");
	assert_off(cal, "2024-05-11", NULL); /* an ordinary Saturday */

	/* 2025: Tết 25 Jan–2 Feb; 7 Apr; 30 Apr, 1 May; 1–2 Sep */
	assert_working(cal, "2025-01-24");
	assert_off(cal, "2025-01-27", "Tết Nguyên đán");
	assert_off(cal, "2025-01-31", "Tết Nguyên đán");
	assert_working(cal, "2025-02-03");
	assert_off(cal, "2025-04-07", "Giỗ Tổ Hùng Vương");
	assert_off(cal, "2025-04-30", NULL);
	assert_off(cal, "2025-05-01", NULL);
	assert_off(cal, "2025-09-01", NULL);
	assert_off(cal, "2025-09-02", NULL);
	assert_working(cal, "2025-09-03");
	td_calendar_destroy(cal);
}

/*
 * 2027 comes from the rules with Tết set in the file to the 5 days from
 * Fri 5 Feb: Sat 6 and Sun 7 are made up on Wed 10 and Thu 11. 1 Jan is a
 * Friday; Hùng Kings Fri 16 Apr; 1 May is a Saturday, made up Mon 3 May;
 * 2 Sep is a Thursday, so the adjacent day is Fri 3 Sep.
 */
static void
test_2027(void)
{
	struct td_calendar *cal = shipped();
	assert_off(cal, "2027-01-01", "Tết Dương lịch");
	assert_working(cal, "2027-02-04");
	assert_off(cal, "2027-02-05", "Tết Nguyên đán");
	assert_off(cal, "2027-02-08", "Tết Nguyên đán");
	assert_off(cal, "2027-02-09", "Tết Nguyên đán");
	assert_off(cal, "2027-02-10", "Nghỉ bù Tết Nguyên đán");
	assert_off(cal, "2027-02-11", "Nghỉ bù Tết Nguyên đán");
	assert_working(cal, "2027-02-12");
	assert_off(cal, "2027-04-16", "Giỗ Tổ Hùng Vương");
	assert_off(cal, "2027-04-30", "Ngày Chiến thắng");
	assert_off(cal, "2027-05-03", "Nghỉ bù Ngày Quốc tế Lao động");
	assert_working(cal, "2027-05-04");
	assert_working(cal, "2027-09-01");
	assert_off(cal, "2027-09-02", "Quốc khánh");
	assert_off(cal, "2027-09-03", "Quốc khánh (ngày liền kề)");

	json_t *y = NULL;
	g_assert_cmpint(td_calendar_year_json(cal, 2027, &y), ==, 0);
	g_assert_cmpstr(json_string_value(json_object_get(y, "source")), ==, "rules");
	/* 1 Jan, 5 Tết days, 2 make-ups, 16 Apr, 30 Apr, 1 May, 3 May, 2 and 3 Sep */
	g_assert_cmpuint(json_array_size(json_object_get(y, "days_off")), ==, 14);
	json_t *feb10 = json_array_get(json_object_get(y, "days_off"), 6);
	g_assert_cmpstr(json_string_value(json_object_get(feb10, "date")), ==, "2027-02-10");
	g_assert_true(json_is_true(json_object_get(feb10, "make_up")));
	json_decref(y);
	g_assert_cmpint(td_calendar_year_json(cal, 2026, &y), ==, 0);
	g_assert_cmpstr(json_string_value(json_object_get(y, "source")), ==, "announced");
	json_decref(y);
	td_calendar_destroy(cal);
}

/*
 * Years with nothing in the file: the rules.
 * 2028: Tết Wed 26 Jan, eve Tue 25 → 25–29 Jan, Sat 29 made up Mon 31 Jan;
 *       Hùng Kings Tue 4 Apr; 30 Apr is a Sunday and Mon 1 May a holiday, so
 *       it is made up Tue 2 May; 2 Sep is a Saturday: the adjacent day is
 *       Fri 1 Sep and 2 Sep is made up Mon 4 Sep.
 * 2029: Tết Tue 13 Feb, eve Mon 12 → 12–16 Feb, no weekend among them;
 *       Hùng Kings Mon 23 Apr; 2 Sep is a Sunday: the adjacent day is Sat
 *       1 Sep; both made up in order, Sat 1 → Mon 3, Sun 2 → Tue 4 Sep.
 * 2030: Tết Sat 2 Feb (not 3 Feb: see test-lunar.c), eve Fri 1 → 1–5 Feb;
 *       Sat 2 → Wed 6, Sun 3 → Thu 7; Hùng Kings Fri 12 Apr; 2 Sep is a
 *       Monday: the adjacent day is Tue 3.
 */
static void
test_default_rules(void)
{
	struct td_calendar *cal = shipped();
	assert_working(cal, "2028-01-24");
	assert_off(cal, "2028-01-25", "Tết Nguyên đán");
	assert_off(cal, "2028-01-28", "Tết Nguyên đán");
	assert_off(cal, "2028-01-31", "Nghỉ bù Tết Nguyên đán");
	assert_working(cal, "2028-02-01");
	assert_off(cal, "2028-04-04", "Giỗ Tổ Hùng Vương");
	assert_off(cal, "2028-05-01", "Ngày Quốc tế Lao động");
	assert_off(cal, "2028-05-02", "Nghỉ bù Ngày Chiến thắng");
	assert_working(cal, "2028-05-03");
	assert_working(cal, "2028-08-31");
	assert_off(cal, "2028-09-01", "Quốc khánh (ngày liền kề)");
	assert_off(cal, "2028-09-04", "Nghỉ bù Quốc khánh");
	assert_working(cal, "2028-09-05");

	assert_off(cal, "2029-01-01", "Tết Dương lịch");
	assert_working(cal, "2029-02-09");
	assert_off(cal, "2029-02-12", "Tết Nguyên đán");
	assert_off(cal, "2029-02-13", "Tết Nguyên đán");
	assert_off(cal, "2029-02-14", "Tết Nguyên đán");
	assert_off(cal, "2029-02-15", "Tết Nguyên đán");
	assert_off(cal, "2029-02-16", "Tết Nguyên đán");
	assert_working(cal, "2029-02-19");
	assert_off(cal, "2029-04-23", "Giỗ Tổ Hùng Vương");
	assert_off(cal, "2029-04-30", NULL);
	assert_off(cal, "2029-05-01", NULL);
	assert_working(cal, "2029-05-02");
	assert_working(cal, "2029-08-31");
	assert_off(cal, "2029-09-03", "Nghỉ bù Quốc khánh (ngày liền kề)");
	assert_off(cal, "2029-09-04", "Nghỉ bù Quốc khánh");
	assert_working(cal, "2029-09-05");

	assert_working(cal, "2030-01-31");
	assert_off(cal, "2030-02-01", "Tết Nguyên đán");
	assert_off(cal, "2030-02-04", "Tết Nguyên đán");
	assert_off(cal, "2030-02-05", "Tết Nguyên đán");
	assert_off(cal, "2030-02-06", "Nghỉ bù Tết Nguyên đán");
	assert_off(cal, "2030-02-07", "Nghỉ bù Tết Nguyên đán");
	assert_working(cal, "2030-02-08");
	assert_off(cal, "2030-04-12", "Giỗ Tổ Hùng Vương");
	assert_working(cal, "2030-08-30");
	assert_off(cal, "2030-09-02", "Quốc khánh");
	assert_off(cal, "2030-09-03", "Quốc khánh (ngày liền kề)");
	assert_working(cal, "2030-09-04");

	/* a Tết day on a weekend is reported as weekend, with its name */
	GDate sat = D("2030-02-02");
	struct td_day_info info;
	g_assert_cmpint(td_calendar_day_info(cal, &sat, &info), ==, 0);
	g_assert_cmpint(info.kind, ==, TD_DAY_WEEKEND);
	g_assert_cmpstr(info.name, ==, "Tết Nguyên đán");
	td_calendar_destroy(cal);
}

/*
 * 10 working days from Fri 6 Feb 2026, across Tết (14–22 Feb off):
 * counting starts Sat 7. Sat 7, Sun 8 skipped; Mon 9 (1), Tue 10 (2),
 * Wed 11 (3), Thu 12 (4), Fri 13 (5); 14–22 off (Sat 14, Sun 15 weekend;
 * Mon 16–Fri 20 Tết; Sat 21, Sun 22 weekend); Mon 23 (6), Tue 24 (7),
 * Wed 25 (8), Thu 26 (9), Fri 27 (10). Skipped: 6 weekend days, 5 holidays.
 */
static void
test_deadline_tet_2026(void)
{
	struct td_calendar *cal = shipped();
	json_t *ex = NULL;
	assert_deadline("2026-02-27", cal, "2026-02-06", TD_UNIT_WORKING_DAYS, 10, NULL, 0, NULL, 0,
	                &ex);
	g_assert_cmpstr(json_string_value(json_object_get(ex, "event_on")), ==, "2026-02-06");
	g_assert_cmpstr(json_string_value(json_object_get(ex, "counting_from")), ==, "2026-02-07");
	g_assert_cmpstr(json_string_value(json_object_get(ex, "unit")), ==, "working_days");
	g_assert_cmpint(json_integer_value(json_object_get(ex, "days")), ==, 10);
	g_assert_cmpint(json_integer_value(json_object_get(ex, "total_days")), ==, 10);
	g_assert_true(json_is_null(json_object_get(ex, "moved_from")));
	json_t *sk = json_object_get(ex, "non_working_days_skipped");
	g_assert_cmpuint(json_array_size(sk), ==, 11);
	const char *want_dates[] = {"2026-02-07", "2026-02-08", "2026-02-14", "2026-02-15",
	                            "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
	                            "2026-02-20", "2026-02-21", "2026-02-22"};
	const char *want_why[] = {"weekend", "weekend", "weekend", "weekend", "holiday", "holiday",
	                          "holiday", "holiday", "holiday", "weekend", "weekend"};
	for (size_t i = 0; i < 11; i++) {
		json_t *o = json_array_get(sk, i);
		g_assert_cmpstr(json_string_value(json_object_get(o, "date")), ==, want_dates[i]);
		g_assert_cmpstr(json_string_value(json_object_get(o, "why")), ==, want_why[i]);
	}
	g_assert_null(json_object_get(json_array_get(sk, 0), "name"));
	g_assert_cmpstr(json_string_value(json_object_get(json_array_get(sk, 4), "name")), ==,
	                "Tết Nguyên đán");
	g_assert_cmpstr(json_string_value(json_object_get(json_array_get(sk, 2), "name")), ==,
	                "Tết Nguyên đán");
	const char *vi = json_string_value(json_object_get(ex, "text_vi"));
	const char *en = json_string_value(json_object_get(ex, "text_en"));
	g_assert_nonnull(strstr(vi, "27/02/2026"));
	g_assert_nonnull(strstr(vi, "6 ngày nghỉ cuối tuần"));
	g_assert_nonnull(strstr(vi, "5 ngày nghỉ lễ"));
	g_assert_nonnull(strstr(en, "last day 2026-02-27"));
	g_assert_nonnull(strstr(en, "10 working days"));
	json_decref(ex);

	int n = 0;
	GDate a = D("2026-02-06"), b = D("2026-02-27");
	g_assert_cmpint(td_calendar_working_days_between(cal, &a, &b, &n), ==, 0);
	g_assert_cmpint(n, ==, 10);
	g_assert_cmpint(td_calendar_working_days_between(cal, &b, &a, &n), ==, 0);
	g_assert_cmpint(n, ==, -10);
	g_assert_cmpint(td_calendar_working_days_between(cal, &a, &a, &n), ==, 0);
	g_assert_cmpint(n, ==, 0);
	td_calendar_destroy(cal);
}

/*
 * 10 working days from Fri 24 Apr 2026: Sat 25, Sun 26 weekend; Mon 27 off
 * (Hùng Kings made up); Tue 28 (1), Wed 29 (2); Thu 30 Apr, Fri 1 May off;
 * Sat 2, Sun 3; Mon 4 (3) … Fri 8 (7); Sat 9, Sun 10; Mon 11 (8), Tue 12 (9),
 * Wed 13 (10).
 */
static void
test_deadline_may_2026(void)
{
	struct td_calendar *cal = shipped();
	assert_deadline("2026-05-13", cal, "2026-04-24", TD_UNIT_WORKING_DAYS, 10, NULL, 0, NULL, 0,
	                NULL);
	/* Thu 30 Apr → Mon 4 May: 1 May off, 2–3 weekend, 4 May works: 1 day */
	int n = 0;
	GDate a = D("2026-04-30"), b = D("2026-05-04");
	g_assert_cmpint(td_calendar_working_days_between(cal, &a, &b, &n), ==, 0);
	g_assert_cmpint(n, ==, 1);
	td_calendar_destroy(cal);
}

/*
 * 5 working days from Fri 28 Aug 2026: Sat 29, Sun 30; Mon 31 (1); Tue 1,
 * Wed 2 Sep off; Thu 3 (2), Fri 4 (3); Sat 5, Sun 6; Mon 7 (4), Tue 8 (5).
 * With 2 more working days by extension: Wed 9 (6), Thu 10 (7).
 */
static void
test_deadline_sep_2026(void)
{
	struct td_calendar *cal = shipped();
	assert_deadline("2026-09-08", cal, "2026-08-28", TD_UNIT_WORKING_DAYS, 5, NULL, 0, NULL, 0,
	                NULL);
	struct td_extension ext[] = {{2, "nhiều nơi xác minh"}};
	assert_deadline("2026-09-10", cal, "2026-08-28", TD_UNIT_WORKING_DAYS, 5, ext, 1, NULL, 0,
	                NULL);
	td_calendar_destroy(cal);
}

/*
 * 10 working days from Thu 24 Dec 2026: Fri 25 (1); Sat 26, Sun 27; Mon 28 (2),
 * Tue 29 (3), Wed 30 (4), Thu 31 (5); Fri 1 Jan 2027 off; Sat 2, Sun 3;
 * Mon 4 (6), Tue 5 (7), Wed 6 (8), Thu 7 (9), Fri 8 (10).
 */
static void
test_deadline_year_end(void)
{
	struct td_calendar *cal = shipped();
	assert_deadline("2027-01-08", cal, "2026-12-24", TD_UNIT_WORKING_DAYS, 10, NULL, 0, NULL, 0,
	                NULL);
	td_calendar_destroy(cal);
}

/*
 * Calendar days. From Fri 30 Jan 2026: day 1 is Sat 31 Jan, day 29 Sat 28 Feb,
 * day 30 Sun 1 Mar → the next working day, Mon 2 Mar.
 * From Sun 18 Jan 2026: day 1 is Mon 19 Jan, day 13 Sat 31 Jan, day 30 Tue
 * 17 Feb, inside Tết (off until Sun 22) → Mon 23 Feb.
 */
static void
test_deadline_calendar_days(void)
{
	struct td_calendar *cal = shipped();
	json_t *ex = NULL;
	assert_deadline("2026-03-02", cal, "2026-01-30", TD_UNIT_CALENDAR_DAYS, 30, NULL, 0, NULL,
	                0, &ex);
	g_assert_cmpstr(json_string_value(json_object_get(ex, "unit")), ==, "calendar_days");
	g_assert_cmpstr(json_string_value(json_object_get(ex, "moved_from")), ==, "2026-03-01");
	json_t *sk = json_object_get(ex, "non_working_days_skipped");
	g_assert_cmpuint(json_array_size(sk), ==, 1);
	g_assert_cmpstr(json_string_value(json_object_get(json_array_get(sk, 0), "date")), ==,
	                "2026-03-01");
	g_assert_nonnull(strstr(json_string_value(json_object_get(ex, "text_vi")), "01/03/2026"));
	json_decref(ex);

	assert_deadline("2026-02-23", cal, "2026-01-18", TD_UNIT_CALENDAR_DAYS, 30, NULL, 0, NULL,
	                0, &ex);
	g_assert_cmpstr(json_string_value(json_object_get(ex, "moved_from")), ==, "2026-02-17");
	/* 17–20 Feb Tết, 21–22 weekend */
	g_assert_cmpuint(json_array_size(json_object_get(ex, "non_working_days_skipped")), ==, 6);
	json_decref(ex);

	/* ending on a working day: no move */
	assert_deadline("2026-02-13", cal, "2026-01-14", TD_UNIT_CALENDAR_DAYS, 30, NULL, 0, NULL,
	                0, &ex);
	g_assert_true(json_is_null(json_object_get(ex, "moved_from")));
	g_assert_cmpuint(json_array_size(json_object_get(ex, "non_working_days_skipped")), ==, 0);
	json_decref(ex);
	td_calendar_destroy(cal);
}

/*
 * Settling a denunciation: 30 days from Wed 15 Jul 2026: day 16 is Fri 31 Jul,
 * day 30 Fri 14 Aug. Extended by 30 (complex): day 47 is Mon 31 Aug, day 60
 * Sun 13 Sep → Mon 14 Sep (2 Sep is long past).
 */
static void
test_deadline_extension(void)
{
	struct td_calendar *cal = shipped();
	assert_deadline("2026-08-14", cal, "2026-07-15", TD_UNIT_CALENDAR_DAYS, 30, NULL, 0, NULL,
	                0, NULL);
	struct td_extension ext[] = {{30, "vụ việc phức tạp"}};
	json_t *ex = NULL;
	assert_deadline("2026-09-14", cal, "2026-07-15", TD_UNIT_CALENDAR_DAYS, 30, ext, 1, NULL, 0,
	                &ex);
	g_assert_cmpint(json_integer_value(json_object_get(ex, "total_days")), ==, 60);
	json_t *e0 = json_array_get(json_object_get(ex, "extensions"), 0);
	g_assert_cmpint(json_integer_value(json_object_get(e0, "days")), ==, 30);
	g_assert_cmpstr(json_string_value(json_object_get(e0, "reason")), ==, "vụ việc phức tạp");
	g_assert_cmpstr(json_string_value(json_object_get(ex, "moved_from")), ==, "2026-09-13");
	g_assert_nonnull(strstr(json_string_value(json_object_get(ex, "text_vi")), "gia hạn"));
	json_decref(ex);
	td_calendar_destroy(cal);
}

/*
 * 10 working days from Mon 1 Jun 2026 (no holiday in June): without a
 * suspension Tue 2 (1) … Fri 5 (4), Mon 8 (5) … Fri 12 (9), Mon 15 (10).
 * Suspended Thu 4 – Wed 10 (7 days): Tue 2 (1), Wed 3 (2), Thu 11 (3),
 * Fri 12 (4), Mon 15 (5) … Fri 19 (9), Mon 22 (10). Weekends skipped outside
 * the suspension: 13, 14, 20, 21.
 * 30 calendar days from Mon 1 Jun: day 30 is Wed 1 Jul; suspended 10–19 Jun
 * (10 days) pushes it to Sat 11 Jul → Mon 13 Jul.
 */
static void
test_deadline_suspension(void)
{
	struct td_calendar *cal = shipped();
	assert_deadline("2026-06-15", cal, "2026-06-01", TD_UNIT_WORKING_DAYS, 10, NULL, 0, NULL, 0,
	                NULL);
	struct td_date_range s1[] = {{D("2026-06-04"), D("2026-06-10")}};
	json_t *ex = NULL;
	assert_deadline("2026-06-22", cal, "2026-06-01", TD_UNIT_WORKING_DAYS, 10, NULL, 0, s1, 1,
	                &ex);
	json_t *susp = json_array_get(json_object_get(ex, "suspended"), 0);
	g_assert_cmpstr(json_string_value(json_object_get(susp, "from")), ==, "2026-06-04");
	g_assert_cmpstr(json_string_value(json_object_get(susp, "to")), ==, "2026-06-10");
	g_assert_cmpint(json_integer_value(json_object_get(susp, "days_not_counted")), ==, 7);
	g_assert_cmpuint(json_array_size(json_object_get(ex, "non_working_days_skipped")), ==, 4);
	g_assert_nonnull(strstr(json_string_value(json_object_get(ex, "text_vi")), "tạm đình chỉ"));
	json_decref(ex);

	assert_deadline("2026-07-01", cal, "2026-06-01", TD_UNIT_CALENDAR_DAYS, 30, NULL, 0, NULL,
	                0, NULL);
	struct td_date_range s2[] = {{D("2026-06-10"), D("2026-06-19")}};
	assert_deadline("2026-07-13", cal, "2026-06-01", TD_UNIT_CALENDAR_DAYS, 30, NULL, 0, s2, 1,
	                NULL);
	/* a suspension entirely before the event changes nothing */
	struct td_date_range s3[] = {{D("2026-05-01"), D("2026-05-20")}};
	assert_deadline("2026-06-15", cal, "2026-06-01", TD_UNIT_WORKING_DAYS, 10, NULL, 0, s3, 1,
	                NULL);
	td_calendar_destroy(cal);
}

/*
 * 2029 from the rules: 5 working days from Fri 9 Feb 2029: Sat 10, Sun 11;
 * Mon 12–Fri 16 Tết; Sat 17, Sun 18; Mon 19 (1) … Fri 23 (5).
 */
static void
test_deadline_2029(void)
{
	struct td_calendar *cal = shipped();
	assert_deadline("2029-02-23", cal, "2029-02-09", TD_UNIT_WORKING_DAYS, 5, NULL, 0, NULL, 0,
	                NULL);
	td_calendar_destroy(cal);
}

static const char test_rules[] =
    "[rules]\n"
    "weekend = sat;sun\n"
    "make_up = next_working_day\n"
    "new_year = 01-01 | Tết Dương lịch | New Year's Day\n"
    "tet = lunar 12-30..01-04 | Tết Nguyên đán | Lunar New Year\n"
    "hung_kings = lunar 03-10 | Giỗ Tổ Hùng Vương\n"
    "reunification = 04-30 | Ngày Chiến thắng\n"
    "labour_day = 05-01 | Ngày Quốc tế Lao động\n"
    "national_day = 09-02 | Quốc khánh\n"
    "national_day_adjacent = 09-02 adjacent after:mon,thu | Quốc khánh (liền kề)\n";

/*
 * A year's complete list in the file replaces the rules: in this test file
 * 2029 has only 1 Jan, a Tết of Fri 9 – Sun 18 Feb and 30 Apr (unnamed: the
 * rules name it), and Sat 24 Feb is a working day. So Fri 9 Feb is off,
 * Hùng Kings' day (Mon 23 Apr) and 1 May (Tue) are working days.
 * 2030 overrides only Tết, to Thu 31 Jan – Fri 8 Feb: the make-up rule still
 * applies to its weekend days (2, 3 Feb → Mon 11, Tue 12 Feb) and the other
 * rules still give Hùng Kings' day (Fri 12 Apr).
 */
static void
test_file_overrides(void)
{
	char *text = g_strconcat(test_rules,
	                         "[2029]\n"
	                         "2029-01-01 = Tết Dương lịch\n"
	                         "2029-02-09..2029-02-18 = Tết (thử) | Tết (test)\n"
	                         "2029-04-30 =\n"
	                         "working_days = 2029-02-24\n"
	                         "[2030]\n"
	                         "tet = 2030-01-31..2030-02-08\n",
	                         NULL);
	struct td_calendar *cal = load_text(text);
	g_free(text);
	assert_working(cal, "2029-02-08");
	assert_off(cal, "2029-02-09", "Tết (thử)");
	assert_off(cal, "2029-02-16", "Tết (thử)");
	assert_working(cal, "2029-02-19");
	assert_working(cal, "2029-04-23");
	assert_off(cal, "2029-04-30", "Ngày Chiến thắng");
	assert_working(cal, "2029-05-01");
	assert_working(cal, "2029-09-03");

	/* the make-up working Saturday, 24 Feb 2029: 1 working day from Fri 23 is Sat 24 */
	assert_working(cal, "2029-02-24");
	assert_off(cal, "2029-03-03", NULL);
	assert_deadline("2029-02-24", cal, "2029-02-23", TD_UNIT_WORKING_DAYS, 1, NULL, 0, NULL, 0,
	                NULL);
	/* and 3 working days from Thu 22: Fri 23 (1), Sat 24 (2), Mon 26 (3) */
	assert_deadline("2029-02-26", cal, "2029-02-22", TD_UNIT_WORKING_DAYS, 3, NULL, 0, NULL, 0,
	                NULL);

	assert_working(cal, "2030-01-30");
	assert_off(cal, "2030-01-31", "Tết Nguyên đán");
	assert_off(cal, "2030-02-08", "Tết Nguyên đán");
	assert_off(cal, "2030-02-11", "Nghỉ bù Tết Nguyên đán");
	assert_off(cal, "2030-02-12", "Nghỉ bù Tết Nguyên đán");
	assert_working(cal, "2030-02-13");
	assert_off(cal, "2030-04-12", "Giỗ Tổ Hùng Vương");

	json_t *y = NULL;
	g_assert_cmpint(td_calendar_year_json(cal, 2029, &y), ==, 0);
	g_assert_cmpstr(json_string_value(json_object_get(y, "source")), ==, "announced");
	g_assert_cmpuint(json_array_size(json_object_get(y, "days_off")), ==, 12);
	g_assert_cmpuint(json_array_size(json_object_get(y, "working_days")), ==, 1);
	json_decref(y);
	td_calendar_destroy(cal);
}

/* make_up = none and another weekend: both are configuration, not code. */
static void
test_rule_settings(void)
{
	struct td_calendar *cal = load_text("[rules]\n"
	                                    "weekend = fri;sat\n"
	                                    "make_up = none\n"
	                                    "labour_day = 05-01 | Lao động\n");
	/* 2027-05-01 is a Saturday: no make-up; Sunday is a working day here */
	assert_off(cal, "2027-04-30", NULL); /* Friday: weekend */
	assert_off(cal, "2027-05-01", "Lao động");
	assert_working(cal, "2027-05-02");
	assert_working(cal, "2027-05-03");
	td_calendar_destroy(cal);
}

static void
test_load_errors(void)
{
	static const char *const bad[] = {
	    "[2026]\n2026-01-01 = x\n",                                     /* no [rules] */
	    "[rules]\nx = 13-01 | X\n",                                     /* month 13 */
	    "[rules]\nx = lunar 01-31 | X\n",                               /* lunar day 31 */
	    "[rules]\nx = 01-01\n",                                         /* no name */
	    "[rules]\nx = 01-01 foo | X\n",                                 /* junk */
	    "[rules]\nx = 01-01 adjacent after:xyz | X\n",                  /* weekday */
	    "[rules]\nx = 05-01..04-30 | X\n",                              /* backwards */
	    "[rules]\nx = 01-01..03-01 | X\n",                              /* too long */
	    "[rules]\nx = lunar 01-10..01-05 | X\n",                        /* a year long */
	    "[rules]\nBad-Key = 01-01 | X\n",                               /* key */
	    "[rules]\nmake_up = sometimes\n",                               /* setting */
	    "[rules]\nweekend = funday\n",                                  /* setting */
	    "[rules]\n[holidays]\n",                                        /* group */
	    "[rules]\n[2500]\n",                                            /* year range */
	    "[rules]\n[2026]\n2026-02-30 = X\n",                            /* date */
	    "[rules]\n[2026]\n2027-01-01 = X\n",                            /* other year */
	    "[rules]\n[2026]\n2026-01-01..2026-03-01 = X\n",                /* span too long */
	    "[rules]\n[2026]\nfoo = 2026-01-01\n",                          /* unknown key */
	    "[rules]\n[2026]\n2026-01-03 = X\nworking_days = 2026-01-03\n", /* both */
	    "[rules]\ntet = 01-01 | T\n[2026]\n2026-01-01 = X\ntet = 2026-01-02\n", /* mixed */
	    "[rules]\n[2026]\nworking_days = 2026-01-03..2026-01-04\n",             /* span */
	    "not an ini file",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *path = write_ini(bad[i]);
		GError *error = NULL;
		errno = 0;
		struct td_calendar *cal = td_calendar_load(path, &error);
		if (cal) {
			g_error("case %zu loaded: %s", i, bad[i]);
		}
		g_assert_nonnull(error);
		g_assert_cmpint(errno, !=, 0);
		g_test_message("case %zu: %s", i, error->message);
		g_error_free(error);
		g_unlink(path);
		g_free(path);
	}
	GError *error = NULL;
	g_assert_null(td_calendar_load("/nonexistent/holidays.ini", &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_cmpint(errno, ==, ENOENT);
	g_error_free(error);
}

static void
test_bad_specs(void)
{
	struct td_calendar *cal = shipped();
	GDate out;
	struct td_deadline_spec spec = {.event_on = D("2026-06-01"), .days = -1};
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, -EINVAL);
	spec.days = 0;
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, -EINVAL);
	spec.days = TD_CALENDAR_MAX_DAYS + 1;
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, -EINVAL);
	spec.days = 10;
	struct td_extension ext[] = {{0, NULL}};
	spec.extensions = ext;
	spec.n_extensions = 1;
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, -EINVAL);
	spec.n_extensions = 0;
	struct td_date_range back[] = {{D("2026-06-10"), D("2026-06-04")}};
	spec.suspended = back;
	spec.n_suspended = 1;
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, -EINVAL);
	spec.n_suspended = 0;
	g_date_clear(&spec.event_on, 1);
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, -EINVAL);

	/* days 0 with an extension is a valid total */
	spec.event_on = D("2026-06-01");
	spec.days = 0;
	struct td_extension one[] = {{1, NULL}};
	spec.extensions = one;
	spec.n_extensions = 1;
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, 0);
	char buf[11];
	g_assert_cmpstr(td_calendar_date_format(&out, buf), ==, "2026-06-02");

	/* out of the supported years */
	spec = (struct td_deadline_spec){.event_on = D("2199-12-30"), .days = 10};
	g_assert_cmpint(td_calendar_deadline(cal, &spec, &out, NULL), ==, -ERANGE);
	GDate far = D("2300-01-01");
	struct td_day_info info;
	g_assert_cmpint(td_calendar_day_info(cal, &far, &info), ==, -ERANGE);
	g_assert_true(td_calendar_is_working_day(cal, &far)); /* a Monday; weekends only */
	json_t *y = NULL;
	g_assert_cmpint(td_calendar_year_json(cal, 1800, &y), ==, -ERANGE);
	g_assert_null(y);
	td_calendar_destroy(cal);
}

static void
test_default_path(void)
{
	GError *error = NULL;
	struct td_calendar *cal = td_calendar_load(NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cal);
	g_assert_true(g_str_has_suffix(td_calendar_path(cal), "holidays.ini"));
	td_calendar_destroy(cal);
	td_calendar_destroy(NULL);

	/* an admin's copy in the data directory wins */
	char *dir = g_dir_make_tmp("tiepdan-cal-XXXXXX", &error);
	g_assert_no_error(error);
	char *own = g_build_filename(dir, "holidays.ini", NULL);
	char *p = td_calendar_default_path(dir);
	g_assert_cmpstr(p, !=, own);
	g_free(p);
	g_assert_true(g_file_set_contents(own, test_rules, -1, &error));
	p = td_calendar_default_path(dir);
	g_assert_cmpstr(p, ==, own);
	g_free(p);
	g_unlink(own);
	g_rmdir(dir);
	g_free(own);
	g_free(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/calendar/dates", test_dates);
	g_test_add_func("/calendar/announced-years", test_announced_years);
	g_test_add_func("/calendar/2027", test_2027);
	g_test_add_func("/calendar/default-rules", test_default_rules);
	g_test_add_func("/calendar/deadline/tet-2026", test_deadline_tet_2026);
	g_test_add_func("/calendar/deadline/may-2026", test_deadline_may_2026);
	g_test_add_func("/calendar/deadline/sep-2026", test_deadline_sep_2026);
	g_test_add_func("/calendar/deadline/year-end", test_deadline_year_end);
	g_test_add_func("/calendar/deadline/calendar-days", test_deadline_calendar_days);
	g_test_add_func("/calendar/deadline/extension", test_deadline_extension);
	g_test_add_func("/calendar/deadline/suspension", test_deadline_suspension);
	g_test_add_func("/calendar/deadline/2029", test_deadline_2029);
	g_test_add_func("/calendar/file-overrides", test_file_overrides);
	g_test_add_func("/calendar/rule-settings", test_rule_settings);
	g_test_add_func("/calendar/load-errors", test_load_errors);
	g_test_add_func("/calendar/bad-specs", test_bad_specs);
	g_test_add_func("/calendar/default-path", test_default_path);
	return g_test_run();
}
