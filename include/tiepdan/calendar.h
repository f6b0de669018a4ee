/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Working days and statutory deadlines (DOMAIN.md §3 and §8).
 *
 * The holidays come from an editable GKeyFile, `holidays.ini` (its format is
 * described at the top of portal/data/holidays.ini): rules that compute the public
 * holidays of any year (solar dates, lunar dates through the Vietnamese lunar
 * calendar at UTC+7, the day adjacent to National Day, make-up days for
 * holidays on a weekend) and, per year, the days off and make-up working days
 * the government announced, which always win over the rules.
 *
 * Counting follows the Civil Code art. 145–148: a period starts the day after
 * the event; a limit in working days counts only working days; a limit in
 * calendar days counts every day, and when its last day is not a working day
 * the deadline moves to the next working day. Days inside a suspension do not
 * count. Extensions add days in the limit's unit.
 *
 * Years are supported from TD_CALENDAR_MIN_YEAR to TD_CALENDAR_MAX_YEAR; a
 * computation that reaches outside answers -ERANGE.
 *
 * Not thread-safe: a calendar computes each year's holidays the first time the
 * year is asked for and caches them, so even the lookups write. Use it from the
 * main loop only (as the rest of the portal does).
 */

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#ifndef TD_WUR
#define TD_WUR __attribute__((warn_unused_result))
#endif

#define TD_CALENDAR_MIN_YEAR 1900
#define TD_CALENDAR_MAX_YEAR 2199
/* The longest period td_calendar_deadline() counts (days plus extensions). */
#define TD_CALENDAR_MAX_DAYS 3660

struct td_calendar;

enum td_day_kind {
	TD_DAY_WORKING = 0,
	TD_DAY_WEEKEND,
	TD_DAY_HOLIDAY,
};

struct td_day_info {
	enum td_day_kind kind;
	/* (nullable) (transfer none) the holiday on that date, also when it falls on a weekend;
	 * valid as long as the calendar. */
	const char *name;
	const char *name_en;  /* (nullable) (transfer none) */
	bool make_up;         /* a day off given for a holiday that fell on a weekend */
	bool working_weekend; /* a weekend day announced as a (make-up) working day */
};

enum td_deadline_unit {
	TD_UNIT_WORKING_DAYS = 0,
	TD_UNIT_CALENDAR_DAYS,
};

struct td_extension {
	int days;           /* >= 1, in the unit of the limit */
	const char *reason; /* (nullable) (transfer none) */
};

/* Both ends included: the clock stopped on `from` and restarted the day after `to`.
 * For a suspension still running, pass the day up to which it is known (today). */
struct td_date_range {
	GDate from;
	GDate to;
};

struct td_deadline_spec {
	GDate event_on; /* the event; counting starts the next day */
	enum td_deadline_unit unit;
	int days; /* >= 0; with the extensions at least 1 and at most TD_CALENDAR_MAX_DAYS */
	const struct td_extension *extensions; /* (nullable) (transfer none) n_extensions of them */
	size_t n_extensions;
	const struct td_date_range *suspended; /* (nullable) (transfer none) in any order */
	size_t n_suspended;
};

/**
 * The holidays file to use: DATA_DIR/holidays.ini when it exists (an admin's
 * copy), else the installed copy (TD_DEFAULT_SHARE_DIR), else the source tree's
 * portal/data/holidays.ini (TD_SOURCE_DATA_DIR). data_dir is (nullable).
 * Returns (transfer full) a path; g_free() it.
 */
char *td_calendar_default_path(const char *data_dir);

/**
 * Reads and checks a holidays file; path is (nullable): td_calendar_default_path(NULL).
 * Returns (transfer full) the calendar, or NULL with errno set and *error set
 * (G_FILE_ERROR, G_KEY_FILE_ERROR: the message names the group, key and value).
 */
struct td_calendar *td_calendar_load(const char *path, GError **error) TD_WUR;

/** Releases the calendar. NULL is fine. */
void td_calendar_destroy(struct td_calendar *cal);

/** (transfer none) The file the calendar was read from. */
const char *td_calendar_path(const struct td_calendar *cal);

/**
 * Whether d is a working day: not a Saturday or Sunday unless announced as a
 * working day, and not a holiday. Outside the supported years only weekends are
 * known.
 */
bool td_calendar_is_working_day(struct td_calendar *cal, const GDate *d);

/**
 * Fills *info (kind, and the holiday's name when there is one). Returns 0, or
 * -EINVAL for an invalid date, -ERANGE outside the supported years (info then
 * tells weekends only).
 */
int td_calendar_day_info(struct td_calendar *cal, const GDate *d, struct td_day_info *info);

/**
 * The deadline of spec: *out is the last day on which the act is on time.
 * With explanation (nullable), *explanation receives (transfer full) an object:
 *   {event_on, counting_from, unit: "working_days"|"calendar_days", days,
 *    extensions: [{days, reason}], total_days,
 *    suspended: [{from, to, days_not_counted}],
 *    non_working_days_skipped: [{date, why: "weekend"|"holiday", name?, name_en?}],
 *    last_day, moved_from: date|null, text_vi, text_en}
 * Dates are "YYYY-MM-DD". For calendar days only the days the deadline moved
 * past are "skipped"; a day inside a suspension is listed under the
 * suspension, not as skipped.
 * Returns 0; -EINVAL for a bad spec (invalid dates, days < 0, an extension
 * < 1 day, a range ending before it starts, a total of 0 or above
 * TD_CALENDAR_MAX_DAYS); -ERANGE when the count leaves the supported years.
 */
int td_calendar_deadline(struct td_calendar *cal, const struct td_deadline_spec *spec, GDate *out,
                         json_t **explanation) TD_WUR;

/**
 * *out = the number of working days d with a < d <= b (so the deadline of N
 * working days counted from event a is the first b giving N); negative, the
 * count with a and b swapped, when b is before a. Returns 0, -EINVAL or -ERANGE.
 */
int td_calendar_working_days_between(struct td_calendar *cal, const GDate *a, const GDate *b,
                                     int *out) TD_WUR;

/**
 * *out = (transfer full) the non-working days other than ordinary weekends and
 * the working weekend days of a year, for an admin to check the file:
 *   {year, source: "announced"|"rules", days_off: [{date, name, name_en?, make_up}],
 *    working_days: [date]}
 * (days_off lists holidays also when they fall on a weekend). Returns 0 or -ERANGE.
 */
int td_calendar_year_json(struct td_calendar *cal, int year, json_t **out) TD_WUR;

/** Parses a strict "YYYY-MM-DD" into *out. Returns 0 or -EINVAL. */
int td_calendar_date_parse(const char *s, GDate *out) TD_WUR;

/** Writes d as "YYYY-MM-DD" into buf (at least 11 bytes). Returns buf. */
char *td_calendar_date_format(const GDate *d, char *buf);
