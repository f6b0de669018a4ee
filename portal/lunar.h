/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * The Vietnamese lunisolar calendar (âm lịch), computed for the meridian of
 * UTC+7 with the astronomical method published by Hồ Ngọc Đức (new moons and
 * the sun's longitude from Jean Meeus' formulas; month 11 is the month holding
 * the winter solstice; a year of 13 months repeats the first month that holds
 * no major solar term). Private to portal/calendar.c and its tests.
 *
 * Dates are proleptic Gregorian; the supported range is LUNAR_MIN_YEAR to
 * LUNAR_MAX_YEAR (solar years), outside of which the functions answer -ERANGE.
 * Pure functions: no state, safe from any thread.
 */

#include <stdbool.h>

#define LUNAR_MIN_YEAR 1900
#define LUNAR_MAX_YEAR 2199

struct lunar_date {
	int day;   /* 1..30 */
	int month; /* 1..12 */
	int year;  /* the lunar year, named after the solar year in which it begins */
	bool leap; /* the repeated (leap) month */
};

/** Julian day number (days since noon UT, 1 January 4713 BC) of a Gregorian date. */
long lunar_jdn(int year, int month, int day);

/** The Gregorian date of a Julian day number. */
void lunar_jdn_to_date(long jdn, int *year, int *month, int *day);

/**
 * Converts a Gregorian date to the lunar calendar. Returns 0, -EINVAL for an
 * impossible date, -ERANGE outside the supported years.
 */
int lunar_from_solar(int year, int month, int day, struct lunar_date *out);

/**
 * Converts a lunar date to Gregorian. Returns 0; -EINVAL when the date does not
 * exist (leap set on a month that is not the leap month of that year, day 30 of
 * a 29-day month, out-of-range fields); -ERANGE outside the supported years.
 */
int lunar_to_solar(const struct lunar_date *ld, int *year, int *month, int *day);

/**
 * Number of days (29 or 30) of a lunar month. Returns it, or -EINVAL / -ERANGE
 * as lunar_to_solar().
 */
int lunar_month_days(int lunar_year, int month, bool leap);

/**
 * The leap month (1..12) of a lunar year, or 0 when the year has 12 months;
 * -ERANGE outside the supported years.
 */
int lunar_leap_month(int lunar_year);
