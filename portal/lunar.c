/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "portal/lunar.h"

#include <errno.h>
#include <math.h>

/*
 * The method (Hồ Ngọc Đức, "Thuật toán tính âm lịch"), written anew here from
 * its description:
 *
 * - A lunar month begins on the local day (UTC+7) of a new moon. New moons are
 *   numbered from the one of 1 January 1900 (k = 0) and their instants come
 *   from Meeus' truncated series ("Astronomical Formulae for Calculators"),
 *   corrected by a polynomial Delta T.
 * - The sun's longitude (Meeus' low-precision series) at local midnight tells
 *   which of the twelve 30-degree sectors it is in; a major solar term
 *   (trung khí) starts whenever the sector changes.
 * - Month 11 is the month holding the December solstice (the sun entering
 *   sector 9, 270 degrees).
 * - From one month 11 to the next there are 12 or 13 months. With 13, the
 *   first month after month 11 during which the sun stays in one sector (no
 *   major term begins) is the leap month and takes the number of the month
 *   before it.
 *
 * The lunar year is named after the solar year in which its month 1 begins;
 * months 11 and 12 belong to the year of the solstice that month 11 holds.
 */

#define TZ_HOURS 7.0
#define SYNODIC_MONTH 29.530588853
/* Julian date of new moon number 0 (1 January 1900, 13:52 UT). */
#define NEW_MOON_EPOCH 2415021.076998695
#define DEG (M_PI / 180.0)

long
lunar_jdn(int year, int month, int day)
{
	long a = (14 - month) / 12;
	long y = (long)year + 4800 - a;
	long m = month + 12 * a - 3;
	return day + (153 * m + 2) / 5 + 365 * y + y / 4 - y / 100 + y / 400 - 32045;
}

void
lunar_jdn_to_date(long jdn, int *year, int *month, int *day)
{
	long a = jdn + 32044;
	long b = (4 * a + 3) / 146097;
	long c = a - 146097 * b / 4;
	long d = (4 * c + 3) / 1461;
	long e = c - 1461 * d / 4;
	long m = (5 * e + 2) / 153;
	*day = (int)(e - (153 * m + 2) / 5 + 1);
	*month = (int)(m + 3 - 12 * (m / 10));
	*year = (int)(100 * b + d - 4800 + m / 10);
}

static bool
valid_solar(int year, int month, int day)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (month < 1 || month > 12 || day < 1) {
		return false;
	}
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return day <= days[month - 1] + (month == 2 && leap);
}

/* Julian date (UT) of new moon number k. */
static double
new_moon_instant(long k)
{
	double t = (double)k / 1236.85; /* Julian centuries since 1900 */
	double t2 = t * t;
	double t3 = t2 * t;
	double jd = 2415020.75933 + 29.53058868 * (double)k + 0.0001178 * t2 - 0.000000155 * t3 +
	            0.00033 * sin((166.56 + 132.87 * t - 0.009173 * t2) * DEG);
	/* the sun's and the moon's mean anomalies, the moon's argument of latitude */
	double m = (359.2242 + 29.10535608 * (double)k - 0.0000333 * t2 - 0.00000347 * t3) * DEG;
	double mp = (306.0253 + 385.81691806 * (double)k + 0.0107306 * t2 + 0.00001236 * t3) * DEG;
	double f = (21.2964 + 390.67050646 * (double)k - 0.0016528 * t2 - 0.00000239 * t3) * DEG;
	double c = (0.1734 - 0.000393 * t) * sin(m) + 0.0021 * sin(2 * m) - 0.4068 * sin(mp) +
	           0.0161 * sin(2 * mp) - 0.0004 * sin(3 * mp) + 0.0104 * sin(2 * f) -
	           0.0051 * sin(m + mp) - 0.0074 * sin(m - mp) + 0.0004 * sin(2 * f + m) -
	           0.0004 * sin(2 * f - m) - 0.0006 * sin(2 * f + mp) + 0.0010 * sin(2 * f - mp) +
	           0.0005 * sin(m + 2 * mp);
	double delta_t;
	if (t < -11) {
		delta_t =
		    0.001 + 0.000839 * t + 0.0002261 * t2 - 0.00000845 * t3 - 0.000000081 * t * t3;
	} else {
		delta_t = -0.000278 + 0.000265 * t + 0.000262 * t2;
	}
	return jd + c - delta_t;
}

/* The local (UTC+7) day number of new moon k. */
static long
new_moon_day(long k)
{
	return (long)floor(new_moon_instant(k) + 0.5 + TZ_HOURS / 24.0);
}

/* The sun's true longitude in degrees [0, 360) at Julian date jd. */
static double
sun_longitude(double jd)
{
	double t = (jd - 2451545.0) / 36525.0; /* Julian centuries since J2000.0 */
	double t2 = t * t;
	double m = (357.52910 + 35999.05030 * t - 0.0001559 * t2 - 0.00000048 * t * t2) * DEG;
	double l0 = 280.46645 + 36000.76983 * t + 0.0003032 * t2;
	double c = (1.914600 - 0.004817 * t - 0.000014 * t2) * sin(m) +
	           (0.019993 - 0.000101 * t) * sin(2 * m) + 0.000290 * sin(3 * m);
	double l = fmod(l0 + c, 360.0);
	return l < 0 ? l + 360.0 : l;
}

/* The 30-degree sector (0..11) the sun is in at the local midnight starting day jdn. */
static int
sun_sector(long jdn)
{
	double l = sun_longitude((double)jdn - 0.5 - TZ_HOURS / 24.0);
	int s = (int)floor(l / 30.0);
	return s > 11 ? 11 : s;
}

/* Number of the new moon that begins the lunar month holding day jdn. */
static long
lunation_of(long jdn)
{
	long k = (long)floor(((double)jdn - NEW_MOON_EPOCH) / SYNODIC_MONTH);
	while (new_moon_day(k) > jdn) {
		k--;
	}
	while (new_moon_day(k + 1) <= jdn) {
		k++;
	}
	return k;
}

/*
 * Number of the new moon beginning month 11 of solar year `year`: the month
 * holding the December solstice. The month holding 31 December holds it unless
 * it began after the solstice (the sun already past 270 degrees at its first
 * midnight); then it is the month before.
 */
static long
month11_of(int year)
{
	long k = lunation_of(lunar_jdn(year, 12, 31));
	if (sun_sector(new_moon_day(k)) >= 9) {
		k--;
	}
	return k;
}

/*
 * In the 13-month span starting at month 11 (new moon k11), the offset (1..12)
 * of the first month during which no major term begins: the sector at its
 * start equals the sector at the start of the next month. 0 if none (which
 * cannot happen in a 13-month span).
 */
static int
leap_offset(long k11)
{
	int prev = sun_sector(new_moon_day(k11 + 1));
	for (int i = 1; i <= 12; i++) {
		int next = sun_sector(new_moon_day(k11 + i + 1));
		if (next == prev) {
			return i;
		}
		prev = next;
	}
	return 0;
}

int
lunar_from_solar(int year, int month, int day, struct lunar_date *out)
{
	if (!valid_solar(year, month, day)) {
		return -EINVAL;
	}
	if (year < LUNAR_MIN_YEAR || year > LUNAR_MAX_YEAR) {
		return -ERANGE;
	}
	long jdn = lunar_jdn(year, month, day);
	long k = lunation_of(jdn);
	/* the month-11 span [a, b) holding this month, a beginning in solar year sy */
	int sy = year;
	long a = month11_of(year);
	long b;
	if (a > k) {
		b = a;
		sy = year - 1;
		a = month11_of(sy);
	} else {
		b = month11_of(year + 1);
	}
	int idx = (int)(k - a);
	int leap_at = b - a == 13 ? leap_offset(a) : 0;
	int off = idx;
	out->leap = false;
	if (leap_at > 0 && idx >= leap_at) {
		off = idx - 1;
		out->leap = idx == leap_at;
	}
	/* off 0 is month 11, 1 is month 12, 2 is month 1 of the next lunar year */
	out->month = (off + 10) % 12 + 1;
	out->year = off >= 2 ? sy + 1 : sy;
	out->day = (int)(jdn - new_moon_day(k) + 1);
	return 0;
}

/* The new moon number beginning a lunar month; 0 or -EINVAL. */
static int
month_start(int lunar_year, int month, bool leap, long *k)
{
	if (month < 1 || month > 12) {
		return -EINVAL;
	}
	int sy = month >= 11 ? lunar_year : lunar_year - 1;
	long a = month11_of(sy);
	long b = month11_of(sy + 1);
	int off = (month + 1) % 12; /* month 11 → 0, 12 → 1, 1 → 2, …, 10 → 11 */
	int leap_at = b - a == 13 ? leap_offset(a) : 0;
	int idx;
	if (leap) {
		if (leap_at == 0 || off != leap_at - 1) {
			return -EINVAL;
		}
		idx = leap_at;
	} else {
		idx = off + (leap_at > 0 && off >= leap_at ? 1 : 0);
	}
	*k = a + idx;
	return 0;
}

static bool
lunar_year_in_range(int lunar_year)
{
	/* months 11 and 12 of the year before LUNAR_MIN_YEAR end in it */
	return lunar_year >= LUNAR_MIN_YEAR - 1 && lunar_year <= LUNAR_MAX_YEAR;
}

int
lunar_to_solar(const struct lunar_date *ld, int *year, int *month, int *day)
{
	if (ld->day < 1 || ld->day > 30 || ld->month < 1 || ld->month > 12) {
		return -EINVAL;
	}
	if (!lunar_year_in_range(ld->year)) {
		return -ERANGE;
	}
	long k;
	int r = month_start(ld->year, ld->month, ld->leap, &k);
	if (r < 0) {
		return r;
	}
	long start = new_moon_day(k);
	if (ld->day > new_moon_day(k + 1) - start) {
		return -EINVAL;
	}
	int y, m, d;
	lunar_jdn_to_date(start + ld->day - 1, &y, &m, &d);
	if (y < LUNAR_MIN_YEAR || y > LUNAR_MAX_YEAR) {
		return -ERANGE;
	}
	*year = y;
	*month = m;
	*day = d;
	return 0;
}

int
lunar_month_days(int lunar_year, int month, bool leap)
{
	if (!lunar_year_in_range(lunar_year)) {
		return -ERANGE;
	}
	long k;
	int r = month_start(lunar_year, month, leap, &k);
	if (r < 0) {
		return r;
	}
	return (int)(new_moon_day(k + 1) - new_moon_day(k));
}

int
lunar_leap_month(int lunar_year)
{
	if (lunar_year < LUNAR_MIN_YEAR || lunar_year > LUNAR_MAX_YEAR) {
		return -ERANGE;
	}
	/*
	 * A leap month of lunar year Y lies in the span from month 11 of Y-1 to
	 * month 11 of Y (months 12 of Y-1 … 10 of Y), or in the next span when it
	 * repeats month 11 or 12 of Y.
	 */
	for (int sy = lunar_year - 1; sy <= lunar_year; sy++) {
		long a = month11_of(sy);
		if (month11_of(sy + 1) - a != 13) {
			continue;
		}
		int at = leap_offset(a);
		if (at == 0) {
			continue;
		}
		int m = (at - 1 + 10) % 12 + 1;  /* the month it repeats */
		bool in_next_year = at - 1 >= 2; /* months 1..10 belong to sy + 1 */
		if ((in_next_year ? sy + 1 : sy) == lunar_year) {
			return m;
		}
	}
	return 0;
}
