/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/calendar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portal/lunar.h"
#include "td-config.h"
#include "tiepdan/log.h"

#define MOD "calendar"

/* GDate's julian day 1 is 1 January of year 1, Julian day number 1721426. */
#define GDATE_TO_JDN 1721425L

/* Sanity bound on one span in the file (Tết with its bridges is about ten days). */
#define MAX_SPAN_DAYS 31

#define GENERIC_NAME "Ngày nghỉ"
#define GENERIC_NAME_EN "Day off"

/*
 * The file is parsed once into rules and per-year announcements; the holidays
 * of a year are computed the first time one of its days is asked for and kept
 * in `days` (GDate julian → struct day_entry), so a deadline crossing a year
 * pays the lunar computation once.
 */

struct rule {
	const char *key; /* interned */
	const char *name;
	const char *name_en; /* (nullable) */
	bool lunar;
	int m1, d1;
	int m2, d2; /* m2 == 0: a single date */
	bool adjacent;
	unsigned after_mask; /* adjacent: weekdays (bit GDateWeekday) of the date that take the day
	                        after */
};

struct announced_day {
	guint32 day;         /* GDate julian */
	const char *name;    /* (nullable) interned */
	const char *name_en; /* (nullable) interned */
};

struct year_conf {
	GArray *days_off;      /* (nullable) struct announced_day: the complete list for the year */
	GHashTable *overrides; /* (nullable) rule key → GArray of guint32 */
	GArray *working;       /* guint32: weekend days that are working days */
};

struct day_entry {
	const char *name; /* (nullable) interned */
	const char *name_en;
	bool make_up;
	bool working;
};

enum year_source {
	SOURCE_RULES = 1,
	SOURCE_ANNOUNCED = 2,
};

struct td_calendar {
	char *path;
	GStringChunk *strings;
	GPtrArray *rules; /* struct rule * */
	unsigned weekend_mask;
	bool make_up;
	GHashTable *years;    /* GINT_TO_POINTER(year) → struct year_conf * */
	GHashTable *computed; /* GINT_TO_POINTER(year) → GINT_TO_POINTER(enum year_source) */
	GHashTable *days;     /* GUINT_TO_POINTER(julian) → struct day_entry * */
};

/* ---- small helpers ------------------------------------------------------ */

static const char *
intern(struct td_calendar *cal, const char *s)
{
	return s ? g_string_chunk_insert_const(cal->strings, s) : NULL;
}

static int
year_of(guint32 julian)
{
	GDate d;
	g_date_clear(&d, 1);
	g_date_set_julian(&d, julian);
	return g_date_get_year(&d);
}

static GDateWeekday
weekday_of(guint32 julian)
{
	/* julian day 1 (1 January of year 1) was a Monday */
	return (GDateWeekday)((julian - 1) % 7 + 1);
}

static bool
is_weekend(const struct td_calendar *cal, guint32 julian)
{
	return cal->weekend_mask & (1u << weekday_of(julian));
}

static bool
in_range(int year)
{
	return year >= TD_CALENDAR_MIN_YEAR && year <= TD_CALENDAR_MAX_YEAR;
}

static void
format_julian(guint32 julian, char *buf)
{
	GDate d;
	g_date_clear(&d, 1);
	g_date_set_julian(&d, julian);
	td_calendar_date_format(&d, buf);
}

/* "dd/mm/yyyy", as Vietnamese documents write dates. */
static void
format_julian_vi(guint32 julian, char *buf, size_t size)
{
	GDate d;
	g_date_clear(&d, 1);
	g_date_set_julian(&d, julian);
	snprintf(buf, size, "%02d/%02d/%04d", g_date_get_day(&d), g_date_get_month(&d),
	         g_date_get_year(&d));
}

int
td_calendar_date_parse(const char *s, GDate *out)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
		return -EINVAL;
	}
	for (int i = 0; i < 10; i++) {
		if (i != 4 && i != 7 && !g_ascii_isdigit(s[i])) {
			return -EINVAL;
		}
	}
	int y = atoi(s);
	int m = atoi(s + 5);
	int d = atoi(s + 8);
	if (y < 1 || !g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y)) {
		return -EINVAL;
	}
	g_date_clear(out, 1);
	g_date_set_dmy(out, (GDateDay)d, (GDateMonth)m, (GDateYear)y);
	return 0;
}

char *
td_calendar_date_format(const GDate *d, char *buf)
{
	unsigned v[3] = {g_date_get_year(d) % 10000u, g_date_get_month(d), g_date_get_day(d)};
	static const int width[3] = {4, 2, 2};
	char *p = buf;
	for (int i = 0; i < 3; i++) {
		for (int k = width[i] - 1; k >= 0; k--) {
			p[k] = (char)('0' + v[i] % 10);
			v[i] /= 10;
		}
		p += width[i];
		*p++ = i < 2 ? '-' : '\0';
	}
	return buf;
}

/* ---- parsing the file ---------------------------------------------------- */

static void
year_conf_free(gpointer p)
{
	struct year_conf *yc = p;
	if (!yc) {
		return;
	}
	if (yc->days_off) {
		g_array_free(yc->days_off, TRUE);
	}
	if (yc->overrides) {
		g_hash_table_destroy(yc->overrides);
	}
	g_array_free(yc->working, TRUE);
	g_free(yc);
}

static void
array_free(gpointer p)
{
	g_array_free(p, TRUE);
}

static gboolean G_GNUC_PRINTF(5, 6) bad_value(GError **error, const char *path, const char *group,
                                              const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (key) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
		            "%s: [%s] %s: %s", path, group, key, why);
	} else {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "%s: [%s]: %s",
		            path, group, why);
	}
	g_free(why);
	return FALSE;
}

/* Strict "MM-DD"; lunar days go to 30, solar ones must exist in a leap year. */
static bool
parse_month_day(const char *s, size_t len, bool lunar, int *m, int *d)
{
	if (len != 5 || s[2] != '-' || !g_ascii_isdigit(s[0]) || !g_ascii_isdigit(s[1]) ||
	    !g_ascii_isdigit(s[3]) || !g_ascii_isdigit(s[4])) {
		return false;
	}
	*m = (s[0] - '0') * 10 + (s[1] - '0');
	*d = (s[3] - '0') * 10 + (s[4] - '0');
	if (lunar) {
		return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 30;
	}
	return g_date_valid_dmy((GDateDay)*d, (GDateMonth)*m, 2000);
}

static int
parse_weekday(const char *s)
{
	static const char *const names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	for (int i = 0; i < 7; i++) {
		if (g_ascii_strcasecmp(s, names[i]) == 0) {
			return i + 1;
		}
	}
	return 0;
}

/* "mon,thu" or "sat;sun" → a mask of GDateWeekday bits; false on a bad name. */
static bool
parse_weekdays(const char *s, const char *seps, unsigned *mask)
{
	*mask = 0;
	char **parts = g_strsplit_set(s, seps, -1);
	bool ok = true;
	for (char **p = parts; *p; p++) {
		g_strstrip(*p);
		if (!**p) {
			continue;
		}
		int w = parse_weekday(*p);
		if (!w) {
			ok = false;
			break;
		}
		*mask |= 1u << w;
	}
	g_strfreev(parts);
	return ok;
}

static bool
valid_rule_key(const char *key)
{
	if (!*key) {
		return false;
	}
	for (const char *p = key; *p; p++) {
		if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '_') {
			return false;
		}
	}
	return true;
}

/*
 * A rule's span is short and runs forward; a lunar one may cross the lunar
 * new year (12-30..01-04). Lunar months are taken as 30 days here: the exact
 * length depends on the year.
 */
static bool
span_ok(const struct rule *r)
{
	int len;
	if (r->lunar) {
		len = ((r->m2 - r->m1 + 12) % 12) * 30 + r->d2 - r->d1;
	} else {
		GDate a, b;
		g_date_clear(&a, 1);
		g_date_clear(&b, 1);
		g_date_set_dmy(&a, (GDateDay)r->d1, (GDateMonth)r->m1, 2000);
		g_date_set_dmy(&b, (GDateDay)r->d2, (GDateMonth)r->m2, 2000);
		len = g_date_days_between(&a, &b);
	}
	return len >= 0 && len < MAX_SPAN_DAYS;
}

/* KEY = WHEN | NAME [| NAME_EN]; the grammar of WHEN is in portal/data/holidays.ini. */
static bool
parse_rule(struct td_calendar *cal, const char *key, const char *value, GError **error)
{
	const char *path = cal->path;
	if (!valid_rule_key(key)) {
		return bad_value(error, path, "rules", key,
		                 "a rule's key is made of a-z, 0-9 and _");
	}
	bool ok = false;
	char **parts = g_strsplit(value, "|", 3);
	char **words = NULL;
	guint nparts = g_strv_length(parts);
	for (guint i = 0; i < nparts; i++) {
		g_strstrip(parts[i]);
	}
	if (nparts < 2 || !*parts[1]) {
		bad_value(error, path, "rules", key, "expected WHEN | NAME [| NAME_EN], got \"%s\"",
		          value);
		goto out;
	}
	struct rule r = {0};
	words = g_strsplit_set(parts[0], " \t", -1);
	char **w = words;
	while (*w && !**w) {
		w++;
	}
	if (*w && strcmp(*w, "lunar") == 0) {
		r.lunar = true;
		w++;
		while (*w && !**w) {
			w++;
		}
	}
	if (!*w) {
		bad_value(error, path, "rules", key, "no date in \"%s\"", parts[0]);
		goto out;
	}
	const char *dots = strstr(*w, "..");
	size_t first_len = dots ? (size_t)(dots - *w) : strlen(*w);
	if (!parse_month_day(*w, first_len, r.lunar, &r.m1, &r.d1) ||
	    (dots && !parse_month_day(dots + 2, strlen(dots + 2), r.lunar, &r.m2, &r.d2))) {
		bad_value(error, path, "rules", key, "\"%s\" is not MM-DD or MM-DD..MM-DD (%s)", *w,
		          r.lunar ? "lunar" : "solar");
		goto out;
	}
	if (dots && !span_ok(&r)) {
		bad_value(error, path, "rules", key,
		          "a span runs forward and lasts at most %d days", MAX_SPAN_DAYS);
		goto out;
	}
	for (w++; *w; w++) {
		if (!**w) {
			continue;
		}
		if (strcmp(*w, "adjacent") == 0 && !r.lunar && !dots) {
			r.adjacent = true;
		} else if (r.adjacent && g_str_has_prefix(*w, "after:") &&
		           parse_weekdays(*w + 6, ",", &r.after_mask)) {
			continue;
		} else {
			bad_value(error, path, "rules", key, "unexpected \"%s\"", *w);
			goto out;
		}
	}
	r.key = intern(cal, key);
	r.name = intern(cal, parts[1]);
	r.name_en = nparts > 2 && *parts[2] ? intern(cal, parts[2]) : NULL;
	g_ptr_array_add(cal->rules, g_memdup2(&r, sizeof(r)));
	ok = true;
out:
	g_strfreev(words);
	g_strfreev(parts);
	return ok;
}

static bool
parse_rules(struct td_calendar *cal, GKeyFile *kf, GError **error)
{
	gsize n = 0;
	char **keys = g_key_file_get_keys(kf, "rules", &n, NULL);
	bool ok = true;
	for (gsize i = 0; ok && i < n; i++) {
		GError *e = NULL;
		char *v = g_key_file_get_string(kf, "rules", keys[i], &e);
		if (!v) {
			g_propagate_error(error, e);
			ok = false;
			break;
		}
		g_strstrip(v);
		if (strcmp(keys[i], "weekend") == 0) {
			ok = parse_weekdays(v, ";,", &cal->weekend_mask) && cal->weekend_mask;
			if (!ok) {
				bad_value(error, cal->path, "rules", keys[i],
				          "expected weekdays like sat;sun");
			}
		} else if (strcmp(keys[i], "make_up") == 0) {
			if (strcmp(v, "next_working_day") == 0) {
				cal->make_up = true;
			} else if (strcmp(v, "none") == 0) {
				cal->make_up = false;
			} else {
				ok = bad_value(error, cal->path, "rules", keys[i],
				               "expected next_working_day or none");
			}
		} else {
			ok = parse_rule(cal, keys[i], v, error);
		}
		g_free(v);
	}
	g_strfreev(keys);
	return ok;
}

/* "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD" inside `year` → [*from, *to] julian. */
static bool
parse_span(const char *s, int year, guint32 *from, guint32 *to)
{
	GDate a, b;
	const char *dots = strstr(s, "..");
	if (dots) {
		char first[16];
		if (dots - s >= (ptrdiff_t)sizeof(first)) {
			return false;
		}
		memcpy(first, s, (size_t)(dots - s));
		first[dots - s] = '\0';
		if (td_calendar_date_parse(first, &a) < 0 ||
		    td_calendar_date_parse(dots + 2, &b) < 0) {
			return false;
		}
	} else {
		if (td_calendar_date_parse(s, &a) < 0) {
			return false;
		}
		b = a;
	}
	*from = g_date_get_julian(&a);
	*to = g_date_get_julian(&b);
	return g_date_get_year(&a) == year && g_date_get_year(&b) == year && *from <= *to &&
	       *to - *from < MAX_SPAN_DAYS;
}

static const struct rule *
find_rule(const struct td_calendar *cal, const char *key)
{
	for (guint i = 0; i < cal->rules->len; i++) {
		const struct rule *r = cal->rules->pdata[i];
		if (strcmp(r->key, key) == 0) {
			return r;
		}
	}
	return NULL;
}

static bool
announced_has(const GArray *a, guint32 day)
{
	for (guint i = 0; a && i < a->len; i++) {
		if (g_array_index(a, struct announced_day, i).day == day) {
			return true;
		}
	}
	return false;
}

static bool
parse_year(struct td_calendar *cal, GKeyFile *kf, const char *group, int year, GError **error)
{
	const char *path = cal->path;
	struct year_conf *yc = g_new0(struct year_conf, 1);
	yc->working = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_hash_table_insert(cal->years, GINT_TO_POINTER(year), yc);

	gsize n = 0;
	char **keys = g_key_file_get_keys(kf, group, &n, NULL);
	bool ok = false;
	for (gsize i = 0; i < n; i++) {
		const char *key = keys[i];
		GError *e = NULL;
		char *v = g_key_file_get_string(kf, group, key, &e);
		if (!v) {
			g_propagate_error(error, e);
			goto out;
		}
		g_strstrip(v);
		guint32 from, to;
		const struct rule *r = NULL;
		bool key_ok = true;
		if (strcmp(key, "working_days") == 0 || (r = find_rule(cal, key))) {
			bool working = strcmp(key, "working_days") == 0;
			GArray *list =
			    working ? yc->working : g_array_new(FALSE, FALSE, sizeof(guint32));
			if (!working) {
				if (!yc->overrides) {
					yc->overrides = g_hash_table_new_full(
					    g_str_hash, g_str_equal, NULL, array_free);
				}
				g_hash_table_insert(yc->overrides, (gpointer)r->key, list);
			}
			char **items = g_strsplit(v, ";", -1);
			for (char **p = items; key_ok && *p; p++) {
				g_strstrip(*p);
				if (!**p) {
					continue;
				}
				if (!parse_span(*p, year, &from, &to) || (working && from != to)) {
					key_ok = bad_value(
					    error, path, group, key, "\"%s\" is not a date%s of %d",
					    *p, working ? "" : " or a span (…..…)", year);
					break;
				}
				for (guint32 d = from; d <= to; d++) {
					g_array_append_val(list, d);
				}
			}
			g_strfreev(items);
		} else if (g_ascii_isdigit(key[0])) {
			if (!parse_span(key, year, &from, &to)) {
				key_ok =
				    bad_value(error, path, group, key,
				              "not a date or a span of at most %d days within %d",
				              MAX_SPAN_DAYS, year);
			} else {
				if (!yc->days_off) {
					yc->days_off =
					    g_array_new(FALSE, FALSE, sizeof(struct announced_day));
				}
				char **names = g_strsplit(v, "|", 2);
				const char *name = names[0] ? g_strstrip(names[0]) : "";
				const char *name_en =
				    names[0] && names[1] ? g_strstrip(names[1]) : "";
				for (guint32 d = from; d <= to; d++) {
					struct announced_day a = {
					    .day = d,
					    .name = *name ? intern(cal, name) : NULL,
					    .name_en = *name_en ? intern(cal, name_en) : NULL,
					};
					g_array_append_val(yc->days_off, a);
				}
				g_strfreev(names);
			}
		} else {
			key_ok =
			    bad_value(error, path, group, key,
			              "expected a date, a span, working_days or a rule of [rules]");
		}
		g_free(v);
		if (!key_ok) {
			goto out;
		}
	}
	if (yc->days_off && yc->overrides) {
		bad_value(
		    error, path, group, NULL,
		    "either the year's complete list of days off or overrides of rules, not both");
		goto out;
	}
	for (guint i = 0; i < yc->working->len; i++) {
		guint32 d = g_array_index(yc->working, guint32, i);
		if (announced_has(yc->days_off, d)) {
			char buf[11];
			format_julian(d, buf);
			bad_value(error, path, group, "working_days", "%s is also a day off", buf);
			goto out;
		}
	}
	ok = true;
out:
	g_strfreev(keys);
	return ok;
}

static bool
parse_year_group(const char *group, int *year)
{
	if (strlen(group) != 4) {
		return false;
	}
	for (int i = 0; i < 4; i++) {
		if (!g_ascii_isdigit(group[i])) {
			return false;
		}
	}
	*year = atoi(group);
	return true;
}

char *
td_calendar_default_path(const char *data_dir)
{
	if (data_dir) {
		char *p = g_build_filename(data_dir, "holidays.ini", NULL);
		if (g_file_test(p, G_FILE_TEST_IS_REGULAR)) {
			return p;
		}
		g_free(p);
	}
	char *p = g_build_filename(TD_DEFAULT_SHARE_DIR, "holidays.ini", NULL);
	if (g_file_test(p, G_FILE_TEST_IS_REGULAR)) {
		return p;
	}
	g_free(p);
	return g_build_filename(TD_SOURCE_DATA_DIR, "holidays.ini", NULL);
}

struct td_calendar *
td_calendar_load(const char *path, GError **error)
{
	struct td_calendar *cal = g_new0(struct td_calendar, 1);
	cal->path = path ? g_strdup(path) : td_calendar_default_path(NULL);
	cal->strings = g_string_chunk_new(1024);
	cal->rules = g_ptr_array_new_with_free_func(g_free);
	cal->weekend_mask = 1u << G_DATE_SATURDAY | 1u << G_DATE_SUNDAY;
	cal->make_up = true;
	cal->years = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, year_conf_free);
	cal->computed = g_hash_table_new(g_direct_hash, g_direct_equal);
	cal->days = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);

	GKeyFile *kf = g_key_file_new();
	int err = EINVAL;
	GError *e = NULL;
	if (!g_key_file_load_from_file(kf, cal->path, G_KEY_FILE_NONE, &e)) {
		if (e->domain == G_FILE_ERROR) {
			/* the message names the file already */
			err = e->code == G_FILE_ERROR_NOENT   ? ENOENT
			      : e->code == G_FILE_ERROR_ACCES ? EACCES
			                                      : EIO;
			g_propagate_error(error, e);
		} else {
			g_propagate_prefixed_error(error, e, "%s: ", cal->path);
		}
		goto fail_kf;
	}
	if (!g_key_file_has_group(kf, "rules")) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
		            "%s: no [rules] group", cal->path);
		goto fail_kf;
	}
	if (!parse_rules(cal, kf, error)) {
		goto fail_kf;
	}
	char **groups = g_key_file_get_groups(kf, NULL);
	for (char **g = groups; *g; g++) {
		int year;
		if (strcmp(*g, "rules") == 0) {
			continue;
		}
		if (!parse_year_group(*g, &year) || !in_range(year)) {
			bad_value(error, cal->path, *g, NULL,
			          "a group is [rules] or a year from %d to %d",
			          TD_CALENDAR_MIN_YEAR, TD_CALENDAR_MAX_YEAR);
			g_strfreev(groups);
			goto fail_kf;
		}
		if (!parse_year(cal, kf, *g, year, error)) {
			g_strfreev(groups);
			goto fail_kf;
		}
	}
	g_strfreev(groups);
	g_key_file_free(kf);
	return cal;

fail_kf:
	g_key_file_free(kf);
	td_calendar_destroy(cal);
	errno = err;
	return NULL;
}

void
td_calendar_destroy(struct td_calendar *cal)
{
	if (!cal) {
		return;
	}
	g_hash_table_destroy(cal->days);
	g_hash_table_destroy(cal->computed);
	g_hash_table_destroy(cal->years);
	g_ptr_array_free(cal->rules, TRUE);
	g_string_chunk_free(cal->strings);
	g_free(cal->path);
	g_free(cal);
}

const char *
td_calendar_path(const struct td_calendar *cal)
{
	return cal->path;
}

/* ---- computing a year ----------------------------------------------------- */

/* Julian (GDate) of a lunar date; a day past the end of a 29-day month is its last day. */
static int
lunar_julian(int lunar_year, int month, int day, guint32 *out)
{
	int len = lunar_month_days(lunar_year, month, false);
	if (len < 0) {
		return len;
	}
	struct lunar_date ld = {.day = MIN(day, len), .month = month, .year = lunar_year};
	int y, m, d;
	int r = lunar_to_solar(&ld, &y, &m, &d);
	if (r < 0) {
		return r;
	}
	*out = (guint32)(lunar_jdn(y, m, d) - GDATE_TO_JDN);
	return 0;
}

static void
append_span_in_year(GArray *out, guint32 from, guint32 to, int year)
{
	for (guint32 d = from; d <= to; d++) {
		if (year_of(d) == year) {
			g_array_append_val(out, d);
		}
	}
}

/*
 * The dates (GDate julian) of one rule in solar year `year`. A lunar date is
 * looked for in the lunar years `year - 1` and `year` and kept where it falls
 * in `year`, so one that falls in January of the next solar year counts there
 * and nowhere else. A lunar span whose first date comes after its last
 * (12-30..01-04) starts in the lunar year before its end.
 */
static void
rule_days(const struct rule *r, int year, const struct year_conf *yc, GArray *out)
{
	GArray *ov = yc && yc->overrides ? g_hash_table_lookup(yc->overrides, r->key) : NULL;
	if (ov) {
		g_array_append_vals(out, ov->data, ov->len);
		return;
	}
	if (!r->lunar) {
		if (!g_date_valid_dmy((GDateDay)r->d1, (GDateMonth)r->m1, (GDateYear)year)) {
			return; /* 02-29 of a common year */
		}
		GDate a;
		g_date_clear(&a, 1);
		g_date_set_dmy(&a, (GDateDay)r->d1, (GDateMonth)r->m1, (GDateYear)year);
		guint32 from = g_date_get_julian(&a);
		guint32 to = from;
		if (r->adjacent) {
			bool after = r->after_mask & (1u << g_date_get_weekday(&a));
			from = to = after ? from + 1 : from - 1;
		} else if (r->m2) {
			GDate b;
			g_date_clear(&b, 1);
			int d2 = MIN(r->d2,
			             g_date_get_days_in_month((GDateMonth)r->m2, (GDateYear)year));
			g_date_set_dmy(&b, (GDateDay)d2, (GDateMonth)r->m2, (GDateYear)year);
			to = g_date_get_julian(&b);
		}
		append_span_in_year(out, from, to, year);
		return;
	}
	for (int ly = year - 1; ly <= year; ly++) {
		guint32 from, to;
		bool prev = r->m2 && r->m1 * 100 + r->d1 > r->m2 * 100 + r->d2;
		if (lunar_julian(prev ? ly - 1 : ly, r->m1, r->d1, &from) < 0) {
			continue;
		}
		to = from;
		if (r->m2 && lunar_julian(ly, r->m2, r->d2, &to) < 0) {
			continue;
		}
		if (to >= from && to - from < MAX_SPAN_DAYS * 2) {
			append_span_in_year(out, from, to, year);
		}
	}
}

static int
cmp_julian(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a;
	guint32 y = *(const guint32 *)b;
	return x < y ? -1 : x > y;
}

static struct day_entry *
put_entry(GHashTable *days, guint32 day)
{
	struct day_entry *e = g_hash_table_lookup(days, GUINT_TO_POINTER(day));
	if (!e) {
		e = g_new0(struct day_entry, 1);
		g_hash_table_insert(days, GUINT_TO_POINTER(day), e);
	}
	return e;
}

/*
 * The holidays the rules give in `year` into `days`: every rule's dates (the
 * first rule naming a date names it), then, in date order, each one on a
 * weekend gives the next day that is neither a weekend day nor a holiday nor
 * already given. A make-up day that would leave the year is dropped with a
 * warning (the rules of this file never produce one; list it in the file).
 */
static void
compute_rules(struct td_calendar *cal, int year, const struct year_conf *yc, GHashTable *days)
{
	GArray *base = g_array_new(FALSE, FALSE, sizeof(guint32));
	for (guint i = 0; i < cal->rules->len; i++) {
		const struct rule *r = cal->rules->pdata[i];
		GArray *dates = g_array_new(FALSE, FALSE, sizeof(guint32));
		rule_days(r, year, yc, dates);
		for (guint j = 0; j < dates->len; j++) {
			guint32 d = g_array_index(dates, guint32, j);
			struct day_entry *e = g_hash_table_lookup(days, GUINT_TO_POINTER(d));
			if (e) {
				continue;
			}
			e = put_entry(days, d);
			e->name = r->name;
			e->name_en = r->name_en;
			g_array_append_val(base, d);
		}
		g_array_free(dates, TRUE);
	}
	g_array_sort(base, cmp_julian);
	for (guint i = 0; cal->make_up && i < base->len; i++) {
		guint32 d = g_array_index(base, guint32, i);
		if (!is_weekend(cal, d)) {
			continue;
		}
		const struct day_entry *h = g_hash_table_lookup(days, GUINT_TO_POINTER(d));
		guint32 m = d + 1;
		while (is_weekend(cal, m) || g_hash_table_contains(days, GUINT_TO_POINTER(m))) {
			m++;
		}
		if (year_of(m) != year) {
			char buf[11];
			format_julian(d, buf);
			td_warn(MOD, "make-up day falls in the next year: dropped", "holiday=%s",
			        buf);
			continue;
		}
		char *name = g_strconcat("Nghỉ bù ", h->name, NULL);
		char *name_en =
		    h->name_en ? g_strconcat(h->name_en, " (make-up day off)", NULL) : NULL;
		struct day_entry *e = put_entry(days, m);
		e->name = intern(cal, name);
		e->name_en = intern(cal, name_en);
		e->make_up = true;
		g_free(name);
		g_free(name_en);
	}
	g_array_free(base, TRUE);
}

static int
ensure_year(struct td_calendar *cal, int year)
{
	if (!in_range(year)) {
		return -ERANGE;
	}
	if (g_hash_table_contains(cal->computed, GINT_TO_POINTER(year))) {
		return 0;
	}
	const struct year_conf *yc = g_hash_table_lookup(cal->years, GINT_TO_POINTER(year));
	enum year_source source = SOURCE_RULES;
	if (yc && yc->days_off) {
		/* the announced list; the rules only lend names to unnamed days */
		GHashTable *ruled =
		    g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
		compute_rules(cal, year, yc, ruled);
		for (guint i = 0; i < yc->days_off->len; i++) {
			const struct announced_day *a =
			    &g_array_index(yc->days_off, struct announced_day, i);
			const struct day_entry *r =
			    g_hash_table_lookup(ruled, GUINT_TO_POINTER(a->day));
			struct day_entry *e = put_entry(cal->days, a->day);
			if (a->name) {
				e->name = a->name;
				e->name_en = a->name_en;
			} else if (r) {
				e->name = r->name;
				e->name_en = r->name_en;
				e->make_up = r->make_up;
			} else {
				e->name = GENERIC_NAME;
				e->name_en = GENERIC_NAME_EN;
			}
		}
		g_hash_table_destroy(ruled);
		source = SOURCE_ANNOUNCED;
	} else {
		compute_rules(cal, year, yc, cal->days);
	}
	for (guint i = 0; yc && i < yc->working->len; i++) {
		put_entry(cal->days, g_array_index(yc->working, guint32, i))->working = true;
	}
	g_hash_table_insert(cal->computed, GINT_TO_POINTER(year), GINT_TO_POINTER(source));
	return 0;
}

/* ---- lookups ---------------------------------------------------------------- */

static int
julian_info(struct td_calendar *cal, guint32 day, struct td_day_info *info)
{
	memset(info, 0, sizeof(*info));
	bool weekend = is_weekend(cal, day);
	info->kind = weekend ? TD_DAY_WEEKEND : TD_DAY_WORKING;
	int r = ensure_year(cal, year_of(day));
	if (r < 0) {
		return r;
	}
	const struct day_entry *e = g_hash_table_lookup(cal->days, GUINT_TO_POINTER(day));
	if (!e) {
		return 0;
	}
	if (e->working) {
		info->kind = TD_DAY_WORKING;
		info->working_weekend = weekend;
		return 0;
	}
	info->name = e->name;
	info->name_en = e->name_en;
	info->make_up = e->make_up;
	if (!weekend) {
		info->kind = TD_DAY_HOLIDAY;
	}
	return 0;
}

int
td_calendar_day_info(struct td_calendar *cal, const GDate *d, struct td_day_info *info)
{
	if (!d || !g_date_valid(d)) {
		memset(info, 0, sizeof(*info));
		return -EINVAL;
	}
	return julian_info(cal, g_date_get_julian(d), info);
}

bool
td_calendar_is_working_day(struct td_calendar *cal, const GDate *d)
{
	struct td_day_info info;
	if (td_calendar_day_info(cal, d, &info) == -EINVAL) {
		return false;
	}
	return info.kind == TD_DAY_WORKING;
}

int
td_calendar_working_days_between(struct td_calendar *cal, const GDate *a, const GDate *b, int *out)
{
	if (!a || !b || !g_date_valid(a) || !g_date_valid(b)) {
		return -EINVAL;
	}
	guint32 ja = g_date_get_julian(a);
	guint32 jb = g_date_get_julian(b);
	guint32 lo = MIN(ja, jb);
	guint32 hi = MAX(ja, jb);
	int n = 0;
	for (guint32 d = lo + 1; d <= hi; d++) {
		struct td_day_info info;
		int r = julian_info(cal, d, &info);
		if (r < 0) {
			return r;
		}
		n += info.kind == TD_DAY_WORKING;
	}
	*out = jb >= ja ? n : -n;
	return 0;
}

int
td_calendar_year_json(struct td_calendar *cal, int year, json_t **out)
{
	int r = ensure_year(cal, year);
	if (r < 0) {
		return r;
	}
	GDate d;
	g_date_clear(&d, 1);
	g_date_set_dmy(&d, 1, G_DATE_JANUARY, (GDateYear)year);
	guint32 first = g_date_get_julian(&d);
	guint32 last = first + (g_date_is_leap_year((GDateYear)year) ? 366u : 365u) - 1;
	json_t *off = json_array();
	json_t *working = json_array();
	for (guint32 j = first; j <= last; j++) {
		const struct day_entry *e = g_hash_table_lookup(cal->days, GUINT_TO_POINTER(j));
		if (!e) {
			continue;
		}
		char buf[11];
		format_julian(j, buf);
		if (e->working) {
			json_array_append_new(working, json_string(buf));
			continue;
		}
		json_t *o = json_pack("{s:s, s:s, s:b}", "date", buf, "name", e->name, "make_up",
		                      e->make_up);
		if (e->name_en) {
			json_object_set_new(o, "name_en", json_string(e->name_en));
		}
		json_array_append_new(off, o);
	}
	int source = GPOINTER_TO_INT(g_hash_table_lookup(cal->computed, GINT_TO_POINTER(year)));
	*out = json_pack("{s:i, s:s, s:o, s:o}", "year", year, "source",
	                 source == SOURCE_ANNOUNCED ? "announced" : "rules", "days_off", off,
	                 "working_days", working);
	return 0;
}

/* ---- deadlines ---------------------------------------------------------------- */

struct counting {
	struct td_calendar *cal;
	const struct td_deadline_spec *spec;
	int *suspended_days; /* per range: days of it inside the count */
	json_t *skipped;     /* (nullable) */
	int weekend_days;
	int holidays;
	int suspended_total;
};

/* Index of the first suspension holding julian day d, or -1. */
static int
suspension_of(const struct td_deadline_spec *spec, guint32 d)
{
	for (size_t i = 0; i < spec->n_suspended; i++) {
		if (d >= g_date_get_julian(&spec->suspended[i].from) &&
		    d <= g_date_get_julian(&spec->suspended[i].to)) {
			return (int)i;
		}
	}
	return -1;
}

/*
 * Looks at day d for the count: *counts tells whether it counts (or, when
 * moving a calendar deadline, whether it can be the last day). A suspended day
 * never counts; a non-working day counts only for calendar days outside a
 * move. Returns 0 or -ERANGE.
 */
static int
visit(struct counting *c, guint32 d, bool need_working, bool *counts)
{
	*counts = false;
	int s = suspension_of(c->spec, d);
	if (s >= 0) {
		c->suspended_days[s]++;
		c->suspended_total++;
		/* a day of the range outside the supported years still needs checking */
		return in_range(year_of(d)) ? 0 : -ERANGE;
	}
	struct td_day_info info;
	int r = julian_info(c->cal, d, &info);
	if (r < 0) {
		return r;
	}
	if (info.kind == TD_DAY_WORKING || !need_working) {
		*counts = true;
		return 0;
	}
	if (info.kind == TD_DAY_WEEKEND) {
		c->weekend_days++;
	} else {
		c->holidays++;
	}
	if (c->skipped) {
		char buf[11];
		format_julian(d, buf);
		json_t *o = json_pack("{s:s, s:s}", "date", buf, "why",
		                      info.kind == TD_DAY_WEEKEND ? "weekend" : "holiday");
		if (info.name) {
			json_object_set_new(o, "name", json_string(info.name));
		}
		if (info.name_en) {
			json_object_set_new(o, "name_en", json_string(info.name_en));
		}
		json_array_append_new(c->skipped, o);
	}
	return 0;
}

static int
check_spec(const struct td_deadline_spec *spec, int *total)
{
	if (!g_date_valid(&spec->event_on) || spec->days < 0 ||
	    (spec->unit != TD_UNIT_WORKING_DAYS && spec->unit != TD_UNIT_CALENDAR_DAYS) ||
	    (spec->n_extensions && !spec->extensions) || (spec->n_suspended && !spec->suspended)) {
		return -EINVAL;
	}
	long sum = spec->days;
	for (size_t i = 0; i < spec->n_extensions; i++) {
		if (spec->extensions[i].days < 1 ||
		    spec->extensions[i].days > TD_CALENDAR_MAX_DAYS) {
			return -EINVAL;
		}
		sum += spec->extensions[i].days;
		if (sum > TD_CALENDAR_MAX_DAYS) {
			return -EINVAL;
		}
	}
	if (sum < 1 || sum > TD_CALENDAR_MAX_DAYS) {
		return -EINVAL;
	}
	for (size_t i = 0; i < spec->n_suspended; i++) {
		const struct td_date_range *s = &spec->suspended[i];
		if (!g_date_valid(&s->from) || !g_date_valid(&s->to) ||
		    g_date_compare(&s->from, &s->to) > 0) {
			return -EINVAL;
		}
	}
	*total = (int)sum;
	return 0;
}

static void
explain(const struct counting *c, int total, guint32 last, guint32 moved_from, json_t *o)
{
	const struct td_deadline_spec *spec = c->spec;
	bool working = spec->unit == TD_UNIT_WORKING_DAYS;
	guint32 event = g_date_get_julian(&spec->event_on);
	char ev[11], from[11], end[11], moved[11];
	char ev_vi[16], from_vi[16], end_vi[16], moved_vi[16];
	format_julian(event, ev);
	format_julian(event + 1, from);
	format_julian(last, end);
	format_julian_vi(event, ev_vi, sizeof(ev_vi));
	format_julian_vi(event + 1, from_vi, sizeof(from_vi));
	format_julian_vi(last, end_vi, sizeof(end_vi));
	if (moved_from) {
		format_julian(moved_from, moved);
		format_julian_vi(moved_from, moved_vi, sizeof(moved_vi));
	}

	json_t *ext = json_array();
	for (size_t i = 0; i < spec->n_extensions; i++) {
		const struct td_extension *x = &spec->extensions[i];
		json_array_append_new(
		    ext, json_pack("{s:i, s:s?}", "days", x->days, "reason", x->reason));
	}
	json_t *susp = json_array();
	for (size_t i = 0; i < spec->n_suspended; i++) {
		char a[11], b[11];
		td_calendar_date_format(&spec->suspended[i].from, a);
		td_calendar_date_format(&spec->suspended[i].to, b);
		json_array_append_new(susp, json_pack("{s:s, s:s, s:i}", "from", a, "to", b,
		                                      "days_not_counted", c->suspended_days[i]));
	}

	GString *vi = g_string_new(NULL);
	GString *en = g_string_new(NULL);
	g_string_append_printf(vi, "Sự kiện ngày %s; thời hạn tính từ ngày %s: %d %s", ev_vi,
	                       from_vi, spec->days, working ? "ngày làm việc" : "ngày");
	g_string_append_printf(en, "Event on %s; counted from %s: %d %s%s", ev, from, spec->days,
	                       working ? "working day" : "calendar day",
	                       spec->days == 1 ? "" : "s");
	if (total != spec->days) {
		g_string_append_printf(vi, ", gia hạn thêm %d %s", total - spec->days,
		                       working ? "ngày làm việc" : "ngày");
		g_string_append_printf(en, " + %d by extension", total - spec->days);
	}
	if (working && (c->weekend_days || c->holidays)) {
		g_string_append(vi, "; không tính");
		g_string_append(en, "; not counted:");
		if (c->weekend_days) {
			g_string_append_printf(vi, " %d ngày nghỉ cuối tuần", c->weekend_days);
			g_string_append_printf(en, " %d weekend day%s", c->weekend_days,
			                       c->weekend_days == 1 ? "" : "s");
		}
		if (c->weekend_days && c->holidays) {
			g_string_append(vi, " và");
			g_string_append(en, " and");
		}
		if (c->holidays) {
			g_string_append_printf(vi, " %d ngày nghỉ lễ, tết", c->holidays);
			g_string_append_printf(en, " %d public holiday%s", c->holidays,
			                       c->holidays == 1 ? "" : "s");
		}
	}
	if (c->suspended_total) {
		g_string_append_printf(vi, "; không tính %d ngày tạm đình chỉ", c->suspended_total);
		g_string_append_printf(en, "; %d day%s suspended", c->suspended_total,
		                       c->suspended_total == 1 ? "" : "s");
	}
	g_string_append_printf(vi, "; ngày cuối cùng của thời hạn: %s", end_vi);
	g_string_append_printf(en, "; last day %s", end);
	if (moved_from) {
		g_string_append_printf(vi,
		                       " (thời hạn kết thúc ngày %s là ngày nghỉ nên chuyển sang "
		                       "ngày làm việc tiếp theo)",
		                       moved_vi);
		g_string_append_printf(
		    en,
		    " (the period ended on %s, not a working day, so it moves to "
		    "the next working day)",
		    moved);
	}
	g_string_append_c(vi, '.');
	g_string_append_c(en, '.');

	json_object_set_new(o, "event_on", json_string(ev));
	json_object_set_new(o, "counting_from", json_string(from));
	json_object_set_new(o, "unit", json_string(working ? "working_days" : "calendar_days"));
	json_object_set_new(o, "days", json_integer(spec->days));
	json_object_set_new(o, "extensions", ext);
	json_object_set_new(o, "total_days", json_integer(total));
	json_object_set_new(o, "suspended", susp);
	json_object_set_new(o, "non_working_days_skipped", json_incref(c->skipped));
	json_object_set_new(o, "last_day", json_string(end));
	json_object_set_new(o, "moved_from", moved_from ? json_string(moved) : json_null());
	json_object_set_new(o, "text_vi", json_string(vi->str));
	json_object_set_new(o, "text_en", json_string(en->str));
	g_string_free(vi, TRUE);
	g_string_free(en, TRUE);
}

/*
 * Counting starts the day after the event. Working days: the total-th working
 * day not suspended. Calendar days: the total-th day not suspended, then, when
 * that day is not a working day, the next working day not suspended (Civil Code
 * art. 148). The days the move passes are listed as skipped, the original last
 * day first.
 */
int
td_calendar_deadline(struct td_calendar *cal, const struct td_deadline_spec *spec, GDate *out,
                     json_t **explanation)
{
	int total;
	int r = check_spec(spec, &total);
	if (r < 0) {
		return r;
	}
	struct counting c = {
	    .cal = cal,
	    .spec = spec,
	    .suspended_days = g_new0(int, spec->n_suspended + 1),
	    .skipped = explanation ? json_array() : NULL,
	};
	bool working = spec->unit == TD_UNIT_WORKING_DAYS;
	guint32 d = g_date_get_julian(&spec->event_on);
	guint32 moved_from = 0;
	bool counts;
	for (int n = 0; n < total;) {
		d++;
		r = visit(&c, d, working, &counts);
		if (r < 0) {
			goto fail;
		}
		n += counts;
	}
	if (!working) {
		/* the last day itself is checked like the days after it */
		for (guint32 m = d;; m++) {
			r = visit(&c, m, true, &counts);
			if (r < 0) {
				goto fail;
			}
			if (counts) {
				moved_from = m == d ? 0 : d;
				d = m;
				break;
			}
		}
	}
	g_date_clear(out, 1);
	g_date_set_julian(out, d);
	if (explanation) {
		*explanation = json_object();
		explain(&c, total, d, moved_from, *explanation);
	}
	json_decref(c.skipped);
	g_free(c.suspended_days);
	return 0;

fail:
	json_decref(c.skipped);
	g_free(c.suspended_days);
	return r;
}
