/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * The Vietnamese lunar calendar: the anchor dates of DOMAIN.md §8, a few
 * dates known from history (where Vietnam at UTC+7 and China at UTC+8
 * differ), and the calendar's invariants checked on every day of 1900–2100.
 */
#include "portal/lunar.h"

#include <errno.h>
#include <glib.h>

struct ymd {
	int y, m, d;
};

static void
assert_solar(int ly, int lm, int ld, bool leap, struct ymd want)
{
	struct lunar_date l = {.day = ld, .month = lm, .year = ly, .leap = leap};
	struct ymd got;
	g_assert_cmpint(lunar_to_solar(&l, &got.y, &got.m, &got.d), ==, 0);
	char *w = g_strdup_printf("%04d-%02d-%02d", want.y, want.m, want.d);
	char *g = g_strdup_printf("%04d-%02d-%02d", got.y, got.m, got.d);
	g_assert_cmpstr(g, ==, w);
	g_free(w);
	g_free(g);

	struct lunar_date back;
	g_assert_cmpint(lunar_from_solar(want.y, want.m, want.d, &back), ==, 0);
	g_assert_cmpint(back.day, ==, ld);
	g_assert_cmpint(back.month, ==, lm);
	g_assert_cmpint(back.year, ==, ly);
	g_assert_cmpint(back.leap, ==, leap);
}

static void
test_jdn(void)
{
	g_assert_cmpint(lunar_jdn(2000, 1, 1), ==, 2451545);
	g_assert_cmpint(lunar_jdn(1970, 1, 1), ==, 2440588);
	g_assert_cmpint(lunar_jdn(1900, 1, 1), ==, 2415021);
	int y, m, d;
	lunar_jdn_to_date(2451545 + 59, &y, &m, &d); /* 2000 is a leap year */
	g_assert_cmpint(y, ==, 2000);
	g_assert_cmpint(m, ==, 2);
	g_assert_cmpint(d, ==, 29);
	/* agrees with GDate, which calendar.c relies on: JDN = julian + 1721425 */
	GDate *g = g_date_new_dmy(17, G_DATE_FEBRUARY, 2026);
	g_assert_cmpint(lunar_jdn(2026, 2, 17), ==, (long)g_date_get_julian(g) + 1721425);
	g_date_free(g);
}

/*
 * DOMAIN.md §8: the first day of Tết, 2024–2030, except 2030: DOMAIN.md gives
 * 3 February, China's date. The new moon is on 2 February 2030 at 16:07 UT,
 * 23:07 at UTC+7 but 00:07 on the 3rd at UTC+8, so Vietnam's Tết is on
 * Saturday 2 February, a day before China's (one of the known divergences,
 * like 1968, 1985 and 2007; Vietnamese sources name 2030 and 2053 as the
 * next ones).
 */
static void
test_tet_anchors(void)
{
	assert_solar(2024, 1, 1, false, (struct ymd){2024, 2, 10});
	assert_solar(2025, 1, 1, false, (struct ymd){2025, 1, 29});
	assert_solar(2026, 1, 1, false, (struct ymd){2026, 2, 17});
	assert_solar(2027, 1, 1, false, (struct ymd){2027, 2, 6});
	assert_solar(2028, 1, 1, false, (struct ymd){2028, 1, 26});
	assert_solar(2029, 1, 1, false, (struct ymd){2029, 2, 13});
	assert_solar(2030, 1, 1, false, (struct ymd){2030, 2, 2});
}

/* DOMAIN.md §8: Hùng Kings' day, the 10th of the 3rd lunar month, 2024–2030. */
static void
test_hung_kings_anchors(void)
{
	assert_solar(2024, 3, 10, false, (struct ymd){2024, 4, 18});
	assert_solar(2025, 3, 10, false, (struct ymd){2025, 4, 7});
	assert_solar(2026, 3, 10, false, (struct ymd){2026, 4, 26});
	assert_solar(2027, 3, 10, false, (struct ymd){2027, 4, 16});
	assert_solar(2028, 3, 10, false, (struct ymd){2028, 4, 4});
	assert_solar(2029, 3, 10, false, (struct ymd){2029, 4, 23});
	assert_solar(2030, 3, 10, false, (struct ymd){2030, 4, 12});
}

/*
 * Dates from history and the published calendars: Tết Mậu Thân 1968 was on
 * 29 January in the North (UTC+7) and 30 January in the South and in China;
 * Tết 1985 on 21 January in Vietnam (20 February in China); Tết 2007 on
 * 17 February (18 in China); Mid-Autumn 2024 on 17 September; the leap
 * months of 2020 (4th, from 23 May), 2023 (2nd, from 22 March) and 2025
 * (6th, from 25 July).
 */
static void
test_history(void)
{
	assert_solar(1968, 1, 1, false, (struct ymd){1968, 1, 29});
	assert_solar(1985, 1, 1, false, (struct ymd){1985, 1, 21});
	assert_solar(2007, 1, 1, false, (struct ymd){2007, 2, 17});
	assert_solar(2024, 8, 15, false, (struct ymd){2024, 9, 17});
	assert_solar(2020, 4, 1, true, (struct ymd){2020, 5, 23});
	assert_solar(2023, 2, 1, true, (struct ymd){2023, 3, 22});
	assert_solar(2025, 6, 1, true, (struct ymd){2025, 7, 25});
	g_assert_cmpint(lunar_leap_month(2020), ==, 4);
	g_assert_cmpint(lunar_leap_month(2023), ==, 2);
	g_assert_cmpint(lunar_leap_month(2025), ==, 6);
	g_assert_cmpint(lunar_leap_month(2024), ==, 0);
	g_assert_cmpint(lunar_leap_month(2026), ==, 0);
}

static void
test_errors(void)
{
	struct lunar_date l;
	int y, m, d;
	g_assert_cmpint(lunar_from_solar(2026, 2, 29, &l), ==, -EINVAL);
	g_assert_cmpint(lunar_from_solar(2026, 13, 1, &l), ==, -EINVAL);
	g_assert_cmpint(lunar_from_solar(1899, 12, 31, &l), ==, -ERANGE);
	g_assert_cmpint(lunar_from_solar(2200, 1, 1, &l), ==, -ERANGE);

	/* 2026 has no leap month */
	l = (struct lunar_date){.day = 1, .month = 4, .year = 2026, .leap = true};
	g_assert_cmpint(lunar_to_solar(&l, &y, &m, &d), ==, -EINVAL);
	/* 2025's leap month is the 6th, not the 5th */
	l = (struct lunar_date){.day = 1, .month = 5, .year = 2025, .leap = true};
	g_assert_cmpint(lunar_to_solar(&l, &y, &m, &d), ==, -EINVAL);
	l = (struct lunar_date){.day = 31, .month = 1, .year = 2026};
	g_assert_cmpint(lunar_to_solar(&l, &y, &m, &d), ==, -EINVAL);
	l = (struct lunar_date){.day = 1, .month = 0, .year = 2026};
	g_assert_cmpint(lunar_to_solar(&l, &y, &m, &d), ==, -EINVAL);
	l = (struct lunar_date){.day = 1, .month = 1, .year = 2300};
	g_assert_cmpint(lunar_to_solar(&l, &y, &m, &d), ==, -ERANGE);

	/* day 30 exists only in a 30-day month: find a 29-day month and try it */
	int found = 0;
	for (int month = 1; month <= 12 && !found; month++) {
		if (lunar_month_days(2026, month, false) == 29) {
			l = (struct lunar_date){.day = 30, .month = month, .year = 2026};
			g_assert_cmpint(lunar_to_solar(&l, &y, &m, &d), ==, -EINVAL);
			l.day = 29;
			g_assert_cmpint(lunar_to_solar(&l, &y, &m, &d), ==, 0);
			found = month;
		}
	}
	g_assert_cmpint(found, >, 0);
}

/*
 * Every day of 1900–2100: solar → lunar → solar gives the day back; the lunar
 * day runs 1, 2, … and a month ends after 29 or 30 days, as lunar_month_days()
 * says; months follow 1..12, a leap month repeats the number of the month
 * before it; the year changes at month 1; every lunar year has one leap month
 * when it has 13 months, as lunar_leap_month() says; Tết falls between
 * 21 January and 20 February.
 */
static void
test_invariants(void)
{
	long first = lunar_jdn(1900, 1, 1);
	long last = lunar_jdn(2100, 12, 31);
	struct lunar_date prev = {0};
	int months_in_year = 0;
	int leaps_in_year = 0;
	int leap_month_seen = 0;
	int years_checked = 0;
	for (long j = first; j <= last; j++) {
		int y, m, d;
		lunar_jdn_to_date(j, &y, &m, &d);
		struct lunar_date l;
		g_assert_cmpint(lunar_from_solar(y, m, d, &l), ==, 0);
		g_assert_cmpint(l.day, >=, 1);
		g_assert_cmpint(l.day, <=, 30);
		g_assert_cmpint(l.month, >=, 1);
		g_assert_cmpint(l.month, <=, 12);

		int by, bm, bd;
		g_assert_cmpint(lunar_to_solar(&l, &by, &bm, &bd), ==, 0);
		if (by != y || bm != m || bd != d) {
			g_error("%04d-%02d-%02d → %d/%d/%d%s → %04d-%02d-%02d", y, m, d, l.day,
			        l.month, l.year, l.leap ? " leap" : "", by, bm, bd);
		}

		if (j == first) {
			prev = l;
			continue;
		}
		if (l.day != 1) {
			g_assert_cmpint(l.day, ==, prev.day + 1);
			g_assert_cmpint(l.month, ==, prev.month);
			g_assert_cmpint(l.year, ==, prev.year);
			g_assert_cmpint(l.leap, ==, prev.leap);
			prev = l;
			continue;
		}
		/* a new month */
		g_assert_true(prev.day == 29 || prev.day == 30);
		g_assert_cmpint(lunar_month_days(prev.year, prev.month, prev.leap), ==, prev.day);
		if (l.leap) {
			g_assert_false(prev.leap);
			g_assert_cmpint(l.month, ==, prev.month);
			g_assert_cmpint(l.year, ==, prev.year);
		} else {
			g_assert_cmpint(l.month, ==, prev.month % 12 + 1);
			g_assert_cmpint(l.year, ==, prev.year + (l.month == 1));
		}
		if (l.month == 1 && !l.leap) {
			/* Tết: close the year before (when fully seen) */
			if (months_in_year && prev.year > 1900) {
				g_assert_true(months_in_year == 12 || months_in_year == 13);
				g_assert_cmpint(leaps_in_year, ==, months_in_year - 12);
				g_assert_cmpint(lunar_leap_month(prev.year), ==, leap_month_seen);
				years_checked++;
			}
			months_in_year = 0;
			leaps_in_year = 0;
			leap_month_seen = 0;
			g_assert_true((m == 1 && d >= 21) || (m == 2 && d <= 20));
		}
		months_in_year++;
		if (l.leap) {
			leaps_in_year++;
			leap_month_seen = l.month;
		}
		prev = l;
	}
	g_assert_cmpint(years_checked, ==, 2099 - 1901 + 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/lunar/jdn", test_jdn);
	g_test_add_func("/lunar/tet-anchors", test_tet_anchors);
	g_test_add_func("/lunar/hung-kings-anchors", test_hung_kings_anchors);
	g_test_add_func("/lunar/history", test_history);
	g_test_add_func("/lunar/errors", test_errors);
	g_test_add_func("/lunar/invariants-1900-2100", test_invariants);
	return g_test_run();
}
