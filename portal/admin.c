/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * tiepdan-admin: database set-up and accounts from the command line
 * (PROTOCOL.md §0). It opens the same database as a running server, without
 * a commit thread: reads go through the store's reader, writes through
 * store_write_sync() (BEGIN IMMEDIATE waits for the server's group commit
 * through the busy timeout), and costly work such as password hashing happens
 * before a transaction starts, so the server's writer is never held up for
 * long.
 */
#include "td-config.h"
#include "auth/token.h"
#include "tiepdan/demo.h"
#include "tiepdan/timeline.h"
#include "tiepdan/log.h"
#include "tiepdan/password.h"
#include "tiepdan/seal.h"
#include "tiepdan/store.h"

#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	/* parse_opts(): --help was printed */
	PARSE_HELP = -1,
};

#define PROG "tiepdan-admin"

static const char usage_text[] =
    "Usage: " PROG " [--data-dir DIR] COMMAND [ARGS]\n"
    "\n"
    "Prepares and inspects the database of a tiepdan portal. Safe to run while the\n"
    "server runs on the same data directory.\n"
    "\n"
    "Commands:\n"
    "  init                 create the database or bring its schema up to date;\n"
    "                       prints the schema version\n"
    "  agencies             list the agencies, one a line:\n"
    "                       code<TAB>id<TAB>level<TAB>parent_code<TAB>name\n"
    "  user add --role ROLE [--agency CODE] --login LOGIN --password PW --name NAME\n"
    "           [--national-id ID] [--phone PHONE] [--email EMAIL] [--address ADDR]\n"
    "                       create a user holding ROLE (citizen, official, leader,\n"
    "                       staff, inspector, admin); prints the new user id.\n"
    "                       citizen and admin hold no agency, every other role needs\n"
    "                       --agency; an inspector belongs to an inspectorate. For a\n"
    "                       citizen, LOGIN is the phone number and --national-id\n"
    "                       (12 digits) is required. PW has at least 10 characters.\n"
    "  user grant --login LOGIN --role ROLE [--agency CODE]\n"
    "                       give an existing user another role\n"
    "  verify               check the database (integrity, foreign keys, case\n"
    "                       timelines) and every sealed recording (its bytes hash\n"
    "                       to the timeline's SHA-256, its signature is the\n"
    "                       server's); prints each check\n"
    "  backup FILE          write a consistent copy of the database to FILE\n"
    "  demo                 load the demo city and demo accounts into a database\n"
    "                       without agencies; prints one account a line:\n"
    "                       role login password agency (agency '-' when none)\n"
    "  keys list            list the access-token keys (kid), one a line; the one that\n"
    "                       signs is marked with a '*'\n"
    "  keys rotate          add a new HS key that signs from the next server start\n"
    "                       or SIGHUP; tokens signed by older keys stay valid until\n"
    "                       their keys' files are deleted\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR       the data directory (default: $TIEPDAN_DATA_DIR, else ./data)\n"
    "  -h, --help           show this help (also after a command)\n"
    "  -V, --version        show the version\n"
    "\n"
    "Environment:\n"
    "  TIEPDAN_DATA_DIR     default data directory\n"
    "  TIEPDAN_LOG_LEVEL    debug, info, warn (default) or error\n"
    "\n"
    "Exit status:\n"
    "  0  success (verify: every check holds)\n"
    "  1  failure: bad value, duplicate, unknown agency or user, failed check,\n"
    "     database error\n"
    "  2  usage error: unknown command or option, missing argument\n";

struct ctx {
	const char *data_dir;
};

static void fail_msg(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void
fail_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry '" PROG " --help'.\n", stderr);
	va_end(ap);
	return EXIT_USAGE;
}

/* ---- option parsing ---- */

struct opt {
	const char *name; /* without the leading "--" */
	const char **value;
};

/*
 * Parses "--name VALUE" and "--name=VALUE" for the names in opts, plus
 * --data-dir and --help anywhere. Positional arguments are collected in
 * pos (up to max_pos). Returns 0, EXIT_USAGE or PARSE_HELP.
 */
static int
parse_opts(struct ctx *c, int argc, char **argv, const struct opt *opts, size_t n_opts,
           const char **pos, size_t max_pos, size_t *n_pos)
{
	*n_pos = 0;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage_text, stdout);
			return PARSE_HELP;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (*n_pos == max_pos) {
				return usage_error("unexpected argument '%s'", arg);
			}
			pos[(*n_pos)++] = arg;
			continue;
		}
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		const char **dest = NULL;
		if (len == strlen("data-dir") && strncmp(name, "data-dir", len) == 0) {
			dest = &c->data_dir;
		}
		for (size_t k = 0; !dest && k < n_opts; k++) {
			if (strlen(opts[k].name) == len && strncmp(name, opts[k].name, len) == 0) {
				dest = opts[k].value;
				if (*dest) {
					return usage_error("option '%s' given twice", arg);
				}
			}
		}
		if (!dest) {
			return usage_error("unknown option '%s'", arg);
		}
		if (eq) {
			*dest = eq + 1;
		} else if (i + 1 < argc) {
			*dest = argv[++i];
		} else {
			return usage_error("option '%s' needs a value", arg);
		}
	}
	return 0;
}

/* ---- validation of values ---- */

static const char *const roles[] = {"citizen", "official", "leader", "staff", "inspector", "admin"};

static bool
role_known(const char *role)
{
	for (size_t i = 0; i < G_N_ELEMENTS(roles); i++) {
		if (strcmp(roles[i], role) == 0) {
			return true;
		}
	}
	return false;
}

static bool
role_in_agency(const char *role)
{
	return strcmp(role, "citizen") != 0 && strcmp(role, "admin") != 0;
}

/* Valid UTF-8 without control characters (tabs and newlines would break listings). */
static bool
clean_text(const char *s)
{
	if (!g_utf8_validate(s, -1, NULL)) {
		return false;
	}
	for (const char *p = s; *p; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p))) {
			return false;
		}
	}
	return true;
}

static bool
all_digits(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!g_ascii_isdigit(s[i])) {
			return false;
		}
	}
	return true;
}

/* A phone number: an optional '+' and 8 to 15 digits (E.164 length). */
static bool
valid_phone(const char *s)
{
	return all_digits(s[0] == '+' ? s + 1 : s, 8, 15);
}

static bool
valid_email(const char *s)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || at[1] == '\0' || strchr(at + 1, '@') || strlen(s) > 254) {
		return false;
	}
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p <= ' ') {
			return false;
		}
	}
	return true;
}

static bool
valid_login(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || !clean_text(s)) {
		return false;
	}
	for (const char *p = s; *p; p = g_utf8_next_char(p)) {
		if (g_unichar_isspace(g_utf8_get_char(p))) {
			return false;
		}
	}
	return true;
}

/* ---- store access ---- */

static char *
db_path(const char *dir)
{
	return g_build_filename(dir, "tiepdan.db", NULL);
}

/*
 * Opens the store without a commit thread. Commands other than init and demo
 * need an existing database: creating an empty one in a mistyped directory
 * would hide the mistake.
 */
/* --data-dir, else $TIEPDAN_DATA_DIR, else ./data */
static const char *
data_dir(const struct ctx *c)
{
	const char *env = g_getenv("TIEPDAN_DATA_DIR");
	return c->data_dir ? c->data_dir : env && *env ? env : "./data";
}

static struct store *
open_store(const struct ctx *c, bool create)
{
	const char *dir = data_dir(c);
	char *path = db_path(dir);
	bool exists = g_file_test(path, G_FILE_TEST_EXISTS);
	g_free(path);
	if (!create && !exists) {
		fail_msg("no database in %s (create it with: " PROG " --data-dir %s init)", dir,
		         dir);
		return NULL;
	}
	struct store_options o;
	store_options_init(&o);
	o.async = false;
	struct store *s = store_open(dir, &o);
	if (!s) {
		fail_msg("cannot open the database in %s: %s", dir, g_strerror(errno));
	}
	return s;
}

struct agency {
	char *id;
	char *level;
};

/* Looks an agency up by code on the reader. 0, -ENOENT or -EIO. */
static int
find_agency(struct store *s, const char *code, struct agency *out)
{
	sqlite3_stmt *st = NULL;
	int err = -EIO;
	if (sqlite3_prepare_v2(store_reader(s), "SELECT id, level FROM agencies WHERE code = ?1",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			out->id = g_strdup((const char *)sqlite3_column_text(st, 0));
			out->level = g_strdup((const char *)sqlite3_column_text(st, 1));
			err = 0;
		} else if (rc == SQLITE_DONE) {
			err = -ENOENT;
		}
	}
	sqlite3_finalize(st);
	return err;
}

static void
agency_clear(struct agency *a)
{
	g_free(a->id);
	g_free(a->level);
	*a = (struct agency){0};
}

/*
 * Checks the role against --agency and resolves the agency. Prints the
 * reason and returns false when they do not fit.
 */
static bool
check_role(const char *role)
{
	if (!role_known(role)) {
		fail_msg("unknown role '%s' (one of: citizen, official, leader, staff, inspector, "
		         "admin)",
		         role);
		return false;
	}
	return true;
}

static bool
resolve_role_agency(struct store *s, const char *role, const char *code, struct agency *out)
{
	if (!role_in_agency(role)) {
		if (code) {
			fail_msg("the role %s is not held in an agency: drop --agency", role);
			return false;
		}
		return true;
	}
	if (!code) {
		fail_msg("the role %s is held in an agency: give --agency CODE (see " PROG
		         " agencies)",
		         role);
		return false;
	}
	int err = find_agency(s, code, out);
	if (err == -ENOENT) {
		fail_msg("unknown agency code '%s' (see " PROG " agencies)", code);
		return false;
	}
	if (err < 0) {
		fail_msg("cannot read the agencies: %s", g_strerror(-err));
		return false;
	}
	if (strcmp(role, "inspector") == 0 && strcmp(out->level, "inspectorate") != 0) {
		fail_msg("an inspector belongs to an inspectorate; '%s' is a %s", code, out->level);
		agency_clear(out);
		return false;
	}
	return true;
}

/* ---- init ---- */

static int
cmd_init(struct ctx *c, int argc, char **argv)
{
	size_t n_pos;
	int r = parse_opts(c, argc, argv, NULL, 0, NULL, 0, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	struct store *s = open_store(c, true);
	if (!s) {
		return EXIT_FAIL;
	}
	printf("schema version %d\n", store_schema_version(s));
	store_destroy(s);
	return EXIT_OK;
}

/* ---- agencies ---- */

static int
cmd_agencies(struct ctx *c, int argc, char **argv)
{
	size_t n_pos;
	int r = parse_opts(c, argc, argv, NULL, 0, NULL, 0, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	struct store *s = open_store(c, false);
	if (!s) {
		return EXIT_FAIL;
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(store_reader(s),
	                            "SELECT a.code, a.id, a.level, ifnull(p.code, ''), a.name "
	                            "FROM agencies a LEFT JOIN agencies p ON p.id = a.parent_id "
	                            "ORDER BY a.code",
	                            -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		printf("%s\t%s\t%s\t%s\t%s\n", sqlite3_column_text(st, 0),
		       sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		       sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	int status = EXIT_OK;
	if (rc != SQLITE_DONE) {
		fail_msg("cannot list the agencies: %s", sqlite3_errmsg(store_reader(s)));
		status = EXIT_FAIL;
	}
	store_destroy(s);
	return status;
}

/* ---- user add / user grant ---- */

struct new_user {
	const char *role;
	const char *login;
	const char *password;
	char *name; /* NFC */
	const char *national_id;
	const char *phone;
	const char *email;
	const char *address;
	struct agency agency;
	char hash[crypto_pwhash_STRBYTES];
	char id[23];
	char *error; /* why the transaction refused, for the user */
};

static bool
user_exists(sqlite3 *db, const char *sql, const char *value)
{
	sqlite3_stmt *st = NULL;
	bool found = false;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

static char *
grant_hint(const char *login, const char *role)
{
	return g_strdup_printf("a user with login '%s' already exists; to give them another role "
	                       "use: " PROG " user grant --login %s --role %s%s",
	                       login, login, role, role_in_agency(role) ? " --agency CODE" : "");
}

/*
 * Inside the transaction: every identifier a user can log in with (login,
 * phone, email, national id) must be unused by every other account, in any
 * of those columns, or a login could name two people.
 */
static int
insert_user(sqlite3 *db, void *data)
{
	struct new_user *u = data;
	/* column = ?1, not ?1 IN (...): each comparison then uses the column's collation. */
	static const char any_column[] = "SELECT 1 FROM users WHERE login = ?1 OR phone = ?1 OR "
	                                 "email = ?1 OR national_id = ?1";
	const struct {
		const char *what;
		const char *value;
	} ids[] = {
	    {"login", u->login},
	    {"phone", u->phone},
	    {"email", u->email},
	    {"national id", u->national_id},
	};

	if (user_exists(db, "SELECT 1 FROM users WHERE login = ?1", u->login)) {
		u->error = grant_hint(u->login, u->role);
		return -EEXIST;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
		if (ids[i].value && user_exists(db, any_column, ids[i].value)) {
			u->error = g_strdup_printf("this %s is already used by another account",
			                           ids[i].what);
			return -EEXIST;
		}
	}

	char now[STORE_TIME_SIZE];
	store_time_now(now);
	store_new_id(u->id);
	const char *p[] = {u->id,      u->login, u->name, u->national_id, u->phone, u->email,
	                   u->address, u->hash,  now};
	int err = store_exec_text(db,
	                          "INSERT INTO users (id, login, full_name, national_id, phone, "
	                          "email, address, password_hash, created_at) "
	                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	                          p, G_N_ELEMENTS(p));
	if (!err) {
		const char *r[] = {u->id, u->role, u->agency.id};
		err = store_exec_text(
		    db, "INSERT INTO user_roles (user_id, role, agency_id) VALUES (?1, ?2, ?3)", r,
		    G_N_ELEMENTS(r));
	}
	if (err) {
		u->error = g_strdup_printf("the database refused the user: %s", sqlite3_errmsg(db));
	}
	return err;
}

/* Value checks of user add; prints the first problem. */
static bool
validate_new_user(struct new_user *u)
{
	const struct {
		const char *opt;
		const char *value;
	} texts[] = {
	    {"--login", u->login},     {"--password", u->password},
	    {"--name", u->name},       {"--national-id", u->national_id},
	    {"--phone", u->phone},     {"--email", u->email},
	    {"--address", u->address},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
		if (texts[i].value && !clean_text(texts[i].value)) {
			fail_msg("%s must be UTF-8 text without control characters", texts[i].opt);
			return false;
		}
	}
	if (!valid_login(u->login)) {
		fail_msg("--login must be 1 to 128 bytes without spaces");
		return false;
	}
	if (u->name[0] == '\0' || strlen(u->name) > 200) {
		fail_msg("--name must not be empty (at most 200 bytes)");
		return false;
	}
	if (g_utf8_strlen(u->password, -1) < 10 || strlen(u->password) > AUTH_PASSWORD_MAX_BYTES) {
		fail_msg("--password must have at least 10 characters (at most %d bytes)",
		         AUTH_PASSWORD_MAX_BYTES);
		return false;
	}
	if (u->national_id && !all_digits(u->national_id, 12, 12)) {
		fail_msg("--national-id must be 12 digits");
		return false;
	}
	if (u->phone && !valid_phone(u->phone)) {
		fail_msg("--phone must be 8 to 15 digits, optionally after '+'");
		return false;
	}
	if (u->email && !valid_email(u->email)) {
		fail_msg("--email is not an e-mail address");
		return false;
	}
	if (strcmp(u->role, "citizen") == 0) {
		if (!u->national_id) {
			fail_msg("a citizen needs --national-id (12 digits)");
			return false;
		}
		if (!valid_phone(u->login)) {
			fail_msg("a citizen's --login is their phone number (8 to 15 digits, "
			         "optionally after '+')");
			return false;
		}
		if (u->phone && strcmp(u->phone, u->login) != 0) {
			fail_msg("a citizen's --phone, when given, equals --login");
			return false;
		}
		u->phone = u->login;
	}
	return true;
}

static int
cmd_user_add(struct ctx *c, int argc, char **argv)
{
	struct new_user u = {0};
	const char *name = NULL;
	const char *agency_code = NULL;
	const struct opt opts[] = {
	    {"role", &u.role},         {"agency", &agency_code}, {"login", &u.login},
	    {"password", &u.password}, {"name", &name},          {"national-id", &u.national_id},
	    {"phone", &u.phone},       {"email", &u.email},      {"address", &u.address},
	};
	size_t n_pos;
	int r = parse_opts(c, argc, argv, opts, G_N_ELEMENTS(opts), NULL, 0, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	const struct {
		const char *opt;
		const char *value;
	} required[] = {
	    {"--role", u.role},
	    {"--login", u.login},
	    {"--password", u.password},
	    {"--name", name},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
		if (!required[i].value) {
			return usage_error("user add needs %s", required[i].opt);
		}
	}

	int status = EXIT_FAIL;
	struct store *s = NULL;
	if (g_utf8_validate(name, -1, NULL)) {
		char *nfc = g_utf8_normalize(name, -1, G_NORMALIZE_NFC);
		u.name = g_strdup(g_strstrip(nfc));
		g_free(nfc);
	} else {
		u.name = g_strdup(name);
	}
	if (!check_role(u.role) || !validate_new_user(&u) || !(s = open_store(c, false)) ||
	    !resolve_role_agency(s, u.role, agency_code, &u.agency)) {
		goto out;
	}
	/* A clear answer before spending 0.1 s on the hash; insert_user checks again. */
	if (user_exists(store_reader(s), "SELECT 1 FROM users WHERE login = ?1", u.login)) {
		u.error = grant_hint(u.login, u.role);
		fail_msg("%s", u.error);
		goto out;
	}
	int err = auth_password_hash(u.password, u.hash);
	if (err < 0) {
		fail_msg("cannot hash the password: %s", g_strerror(-err));
		goto out;
	}
	err = store_write_sync(s, insert_user, &u);
	if (err < 0) {
		fail_msg("%s", u.error ? u.error : g_strerror(-err));
		goto out;
	}
	td_info("admin", "user added", "user=%s role=%s", u.id, u.role);
	printf("%s\n", u.id);
	status = EXIT_OK;

out:
	sodium_memzero(u.hash, sizeof(u.hash));
	store_destroy(s);
	agency_clear(&u.agency);
	g_free(u.error);
	g_free(u.name);
	return status;
}

struct grant {
	const char *login;
	const char *role;
	struct agency agency;
	char *error;
};

static int
insert_grant(sqlite3 *db, void *data)
{
	struct grant *g = data;
	sqlite3_stmt *st = NULL;
	char *user_id = NULL;
	bool has_national_id = false;
	int err = -EIO;

	if (sqlite3_prepare_v2(db, "SELECT id, national_id IS NOT NULL FROM users WHERE login = ?1",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, g->login, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			user_id = g_strdup((const char *)sqlite3_column_text(st, 0));
			has_national_id = sqlite3_column_int(st, 1);
		}
		err = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	sqlite3_finalize(st);
	if (err == -ENOENT) {
		g->error = g_strdup_printf("no user with login '%s'", g->login);
	} else if (!err && strcmp(g->role, "citizen") == 0 && !has_national_id) {
		g->error = g_strdup("a citizen needs a national id, and this user has none");
		err = -EINVAL;
	} else if (!err) {
		const char *p[] = {user_id, g->role, g->agency.id};
		err = store_exec_text(
		    db, "INSERT INTO user_roles (user_id, role, agency_id) VALUES (?1, ?2, ?3)", p,
		    G_N_ELEMENTS(p));
		if (err == -EEXIST) {
			g->error = g_strdup_printf("'%s' already holds the role %s%s", g->login,
			                           g->role, g->agency.id ? " in this agency" : "");
		} else if (err) {
			g->error = g_strdup_printf("the database refused the role: %s",
			                           sqlite3_errmsg(db));
		}
	}
	g_free(user_id);
	return err;
}

static int
cmd_user_grant(struct ctx *c, int argc, char **argv)
{
	struct grant g = {0};
	const char *agency_code = NULL;
	const struct opt opts[] = {
	    {"login", &g.login},
	    {"role", &g.role},
	    {"agency", &agency_code},
	};
	size_t n_pos;
	int r = parse_opts(c, argc, argv, opts, G_N_ELEMENTS(opts), NULL, 0, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	if (!g.login || !g.role) {
		return usage_error("user grant needs %s", g.login ? "--role" : "--login");
	}
	int status = EXIT_FAIL;
	struct store *s = NULL;
	if (!check_role(g.role) || !(s = open_store(c, false)) ||
	    !resolve_role_agency(s, g.role, agency_code, &g.agency)) {
		goto out;
	}
	int err = store_write_sync(s, insert_grant, &g);
	if (err < 0) {
		fail_msg("%s", g.error ? g.error : g_strerror(-err));
		goto out;
	}
	printf("granted %s%s%s to %s\n", g.role, agency_code ? " in " : "",
	       agency_code ? agency_code : "", g.login);
	status = EXIT_OK;

out:
	store_destroy(s);
	agency_clear(&g.agency);
	g_free(g.error);
	return status;
}

static int
cmd_user(struct ctx *c, int argc, char **argv)
{
	if (argc < 1) {
		return usage_error("user needs a subcommand: add or grant");
	}
	if (strcmp(argv[0], "add") == 0) {
		return cmd_user_add(c, argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "grant") == 0) {
		return cmd_user_grant(c, argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	return usage_error("unknown user subcommand '%s' (add or grant)", argv[0]);
}

/* ---- verify ---- */

/*
 * A check reads the database through db and appends one line per problem
 * to problems. It returns the number of problems, or -1 when it could not
 * run. Later checks (case timeline chains) are one more row in checks[].
 */
struct check {
	const char *name;
	int (*run)(struct ctx *c, sqlite3 *db, GString *problems);
};

static int
check_integrity(struct ctx *c, sqlite3 *db, GString *problems)
{
	sqlite3_stmt *st = NULL;
	int n = 0;
	int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (g_strcmp0(line, "ok") != 0) {
			g_string_append_printf(problems, "  %s\n", line ? line : "(null)");
			n++;
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}

/* Every case's hash chain (PROTOCOL.md §0: exit 0 only when all hold). */
static int
check_timelines(struct ctx *c, sqlite3 *db, GString *problems)
{
	sqlite3_stmt *st = NULL;
	int n = 0, cases = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT id, tracking_code FROM cases ORDER BY rowid", -1,
	                            &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct timeline_check chk;
		const char *id = (const char *)sqlite3_column_text(st, 0);
		cases++;
		if (timeline_verify(db, id, &chk) < 0) {
			g_string_append_printf(problems, "  case %s: the timeline cannot be read\n", id);
			n++;
		} else if (!chk.ok) {
			g_string_append_printf(problems,
			                       "  case %s (%s): the chain breaks at event %lld of %lld\n",
			                       id, sqlite3_column_text(st, 1),
			                       (long long)chk.first_bad_seq, (long long)chk.length);
			n++;
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && n == 0) {
		g_string_append_printf(problems, "  %d case chains hold\n", cases);
	}
	return rc == SQLITE_DONE ? n : -1;
}

static int
check_foreign_keys(struct ctx *c, sqlite3 *db, GString *problems)
{
	sqlite3_stmt *st = NULL;
	int n = 0;
	int rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		g_string_append_printf(problems, "  %s row %lld references a missing %s row\n",
		                       sqlite3_column_text(st, 0),
		                       (long long)sqlite3_column_int64(st, 1),
		                       sqlite3_column_text(st, 2));
		n++;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}

/* The SHA-256 of a stored file, lowercase hex (NULL when it cannot be read). */
static char *
file_sha256(const char *path)
{
	GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
	FILE *f = fopen(path, "rb");
	char *hex = NULL;
	if (f) {
		guchar buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			g_checksum_update(sum, buf, n);
		}
		hex = ferror(f) ? NULL : g_strdup(g_checksum_get_string(sum));
		fclose(f);
	}
	g_checksum_free(sum);
	return hex;
}

/*
 * Every recording a `reception_session` event names: the stored file's bytes
 * still hash to the recorded SHA-256, and a signature is the server's
 * (Ed25519, the key derived from keys/identity.key; PROTOCOL.md §6).
 */
static int
check_recordings(struct ctx *c, sqlite3 *db, GString *problems)
{
	GError *err = NULL;
	struct seal *seal = seal_create(c->data_dir, &err);
	if (!seal) {
		g_string_append_printf(problems, "  the key: %s\n", err->message);
		g_error_free(err);
		return -1;
	}
	sqlite3_stmt *st = NULL;
	int n = 0, seen = 0;
	int rc = sqlite3_prepare_v2(
		db,
		"SELECT case_id, seq, json_extract(data, '$.recording.sha256'), "
		"json_extract(data, '$.recording.signature') FROM timeline WHERE action = "
		"'reception_session' AND json_extract(data, '$.recording.file_id') IS NOT NULL",
		-1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *case_id = (const char *)sqlite3_column_text(st, 0);
		long long seq = (long long)sqlite3_column_int64(st, 1);
		const char *sha = (const char *)sqlite3_column_text(st, 2);
		const char *sig = (const char *)sqlite3_column_text(st, 3);
		seen++;
		char sub[3] = {sha && strlen(sha) == 64 ? sha[0] : '_', sha ? sha[1] : '_', '\0'};
		char *path = g_build_filename(c->data_dir, "files", sub, sha ? sha : "-", NULL);
		char *actual = file_sha256(path);
		if (!actual || g_strcmp0(actual, sha) != 0) {
			g_string_append_printf(problems, "  case %s event %lld: the recording %s\n",
					       case_id, seq, actual ? "does not hash to its SHA-256"
								    : "is missing");
			n++;
		} else if (sig && !seal_verify(seal, sha, sig)) {
			g_string_append_printf(problems,
					       "  case %s event %lld: the signature is not the server's\n",
					       case_id, seq);
			n++;
		}
		g_free(actual);
		g_free(path);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	seal_destroy(seal);
	if (rc == SQLITE_DONE && n == 0) {
		g_string_append_printf(problems, "  %d recordings hold\n", seen);
	}
	return rc == SQLITE_DONE ? n : -1;
}

static const struct check checks[] = {
    {"integrity_check", check_integrity},
    {"foreign_key_check", check_foreign_keys},
    {"case_timelines", check_timelines},
    {"recordings", check_recordings},
};

static int
cmd_verify(struct ctx *c, int argc, char **argv)
{
	size_t n_pos;
	int r = parse_opts(c, argc, argv, NULL, 0, NULL, 0, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	struct store *s = open_store(c, false);
	if (!s) {
		return EXIT_FAIL;
	}
	size_t failed = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(checks); i++) {
		GString *problems = g_string_new(NULL);
		int n = checks[i].run(c, store_reader(s), problems);
		if (n == 0) {
			printf("%s: ok\n", checks[i].name);
		} else if (n > 0) {
			printf("%s: FAILED (%d problem%s)\n%s", checks[i].name, n,
			       n == 1 ? "" : "s", problems->str);
			failed++;
		} else {
			printf("%s: FAILED (could not run: %s)\n", checks[i].name,
			       sqlite3_errmsg(store_reader(s)));
			failed++;
		}
		g_string_free(problems, TRUE);
	}
	if (failed) {
		printf("verify: %zu of %zu checks failed\n", failed, G_N_ELEMENTS(checks));
	} else {
		printf("verify: all %zu checks hold\n", G_N_ELEMENTS(checks));
	}
	store_destroy(s);
	return failed ? EXIT_FAIL : EXIT_OK;
}

/* ---- backup ---- */

static int
cmd_backup(struct ctx *c, int argc, char **argv)
{
	const char *file = NULL;
	size_t n_pos;
	int r = parse_opts(c, argc, argv, NULL, 0, &file, 1, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	if (n_pos != 1) {
		return usage_error("backup needs a FILE");
	}
	struct store *s = open_store(c, false);
	if (!s) {
		return EXIT_FAIL;
	}
	int err = store_backup(s, file);
	if (err < 0) {
		fail_msg("backup to %s failed: %s", file, g_strerror(-err));
	} else {
		printf("backup of %s written to %s\n", store_path(s), file);
	}
	store_destroy(s);
	return err < 0 ? EXIT_FAIL : EXIT_OK;
}

/* ---- demo ---- */

static int
cmd_demo(struct ctx *c, int argc, char **argv)
{
	size_t n_pos;
	int r = parse_opts(c, argc, argv, NULL, 0, NULL, 0, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	struct store *s = open_store(c, true);
	if (!s) {
		return EXIT_FAIL;
	}
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
	int err = demo_load(s, lines);
	if (err == -EEXIST) {
		fail_msg("the database already has agencies; demo data loads only into an empty "
		         "database");
	} else if (err < 0) {
		fail_msg("cannot load the demo data: %s", g_strerror(-err));
	}
	for (guint i = 0; i < lines->len; i++) {
		/* role \t login \t password \t agency \t name → "role login password agency" */
		char **f = g_strsplit(lines->pdata[i], "\t", 5);
		printf("%s %s %s %s\n", f[0], f[1], f[2], f[3][0] ? f[3] : "-");
		g_strfreev(f);
	}
	g_ptr_array_unref(lines);
	store_destroy(s);
	return err < 0 ? EXIT_FAIL : EXIT_OK;
}

/* ---- keys ---- */

static void
print_kid(const char *kid, void *data)
{
	printf("%s%s\n", kid, strcmp(kid, data) == 0 ? " *" : "");
}

static int
cmd_keys(struct ctx *c, int argc, char **argv)
{
	const char *what = NULL;
	size_t n_pos;
	int r = parse_opts(c, argc, argv, NULL, 0, &what, 1, &n_pos);
	if (r) {
		return r == PARSE_HELP ? EXIT_OK : r;
	}
	if (n_pos != 1 || (strcmp(what, "list") != 0 && strcmp(what, "rotate") != 0)) {
		return usage_error("keys needs list or rotate");
	}
	GError *error = NULL;
	struct token_options o = {.alg = "HS256"};
	struct token_keys *k = token_keys_load(c->data_dir, &o, &error);
	if (!k) {
		fail_msg("cannot read the keys: %s", error->message);
		g_error_free(error);
		return EXIT_FAIL;
	}
	int rc = EXIT_OK;
	if (strcmp(what, "rotate") == 0) {
		char *kid = token_keys_rotate(k, &error);
		if (!kid) {
			fail_msg("cannot add a key: %s", error->message);
			g_error_free(error);
			rc = EXIT_FAIL;
		} else {
			printf("new key %s; it signs after the server's next start or SIGHUP\n", kid);
			g_free(kid);
		}
	} else {
		token_keys_foreach(k, print_kid, (void *)token_keys_signing_kid(k));
	}
	token_keys_destroy(k);
	return rc;
}

/* ---- main ---- */

static const struct {
	const char *name;
	int (*run)(struct ctx *c, int argc, char **argv);
} commands[] = {
    {"init", cmd_init},     {"agencies", cmd_agencies}, {"user", cmd_user},
    {"verify", cmd_verify}, {"backup", cmd_backup},     {"demo", cmd_demo},
    {"keys", cmd_keys},
};

int
main(int argc, char **argv)
{
	struct ctx c = {0};
	enum td_log_level level = TD_LOG_WARN;
	const char *env_level = g_getenv("TIEPDAN_LOG_LEVEL");
	if (env_level && td_log_parse_level(env_level, &level) < 0) {
		level = TD_LOG_WARN;
	}
	td_log_set_level(level);

	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		}
		if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
			printf(PROG " %s (protocol %s)\n", TD_VERSION, TD_PROTOCOL);
			return EXIT_OK;
		}
		if (strcmp(arg, "--data-dir") == 0 && i + 1 < argc) {
			c.data_dir = argv[++i];
		} else if (strncmp(arg, "--data-dir=", 11) == 0) {
			c.data_dir = arg + 11;
		} else if (strcmp(arg, "--data-dir") == 0) {
			return usage_error("option '%s' needs a value", arg);
		} else {
			return usage_error("unknown option '%s'", arg);
		}
	}
	if (i == argc) {
		return usage_error("missing COMMAND");
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	for (size_t k = 0; k < G_N_ELEMENTS(commands); k++) {
		if (strcmp(commands[k].name, cmd) == 0) {
			int status = commands[k].run(&c, argc - i - 1, argv + i + 1);
			return status;
		}
	}
	return usage_error("unknown command '%s'", cmd);
}
