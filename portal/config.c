/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td-config.h"

/*
 * One table lists every setting once: its flag, its place in the INI file,
 * its environment variable (derived: TIEPDAN_ + upper-case key), its default
 * and its help. Values are first collected as strings in precedence order
 * (flag, environment, file, default) and then parsed into struct td_config,
 * so that a bad value is reported with where it came from.
 */

enum setting_id {
	S_LISTEN,
	S_DATA_DIR,
	S_WEB_ROOT,
	S_ALLOWED_ORIGINS,
	S_MAX_MESSAGE_SIZE,
	S_MAX_UPLOAD_SIZE,
	S_PING_INTERVAL,
	S_QUEUE_LIMIT,
	S_MAX_BATCH,
	S_MAX_CONNECTIONS,
	S_TLS_CERT,
	S_TLS_KEY,
	S_LOG_LEVEL,
	S_SYNCHRONOUS,
	S_CACHE_MB,
	S_TIMEZONE,
	S_ACCESS_TTL,
	S_REFRESH_TTL,
	S_JWT_ALG,
	S_JWT_PRIVATE_KEY,
	S_JWT_PUBLIC_KEY,
	S_LOGIN_MAX_FAILURES,
	S_ADDRESS_MAX_FAILURES,
	S_PASSWORD_QUEUE,
	S_SWEEP_INTERVAL,
	S_MAX_ACTIVE_BOOKINGS,
	S_CANCEL_BEFORE_MINUTES,
	S_REMINDER_OFFSETS,
	S_DIALOGUE_NOTICE_DAYS,
	S_HOTSPOT_COUNT,
	S_HOTSPOT_WINDOW_DAYS,
	S_HOTSPOT_MASS,
	S_PROLONGED_DAYS,
	S_RECONNECT_WINDOW,
	S_MAX_SESSIONS,
	S_STUN_SERVER,
	S_TURN_SERVERS,
	S_ICE_ADDRESSES,
	S_COUNT,
};

struct setting {
	const char *key;   /* flag name and INI key (dashes in the flag, underscores in the file) */
	const char *group; /* INI group */
	const char *ini;   /* (nullable) the INI key when it differs from key */
	const char *def;   /* (nullable) default */
	const char *arg;   /* argument description */
	const char *help;
};

static const struct setting settings[S_COUNT] = {
	[S_LISTEN] = {"listen", "server", NULL, "127.0.0.1:8080", "ADDR:PORT",
		      "address and port to listen on (port 0: an ephemeral port)"},
	[S_DATA_DIR] = {"data_dir", "store", NULL, "./data", "DIR", "data directory (database, keys, files)"},
	[S_WEB_ROOT] = {"web_root", "server", NULL, NULL, "DIR", "folder of static files served at /"},
	[S_ALLOWED_ORIGINS] = {"allowed_origins", "server", NULL, "", "LIST",
			       "comma-separated origins allowed to open /ws besides the server's own"},
	[S_MAX_MESSAGE_SIZE] = {"max_message_size", "server", NULL, "65536", "BYTES",
				"largest WebSocket message; a larger one closes with 1009"},
	[S_MAX_UPLOAD_SIZE] = {"max_upload_size", "server", NULL, "10485760", "BYTES",
			       "largest attachment accepted by POST /api/files"},
	[S_PING_INTERVAL] = {"ping_interval", "server", NULL, "30", "SECONDS",
			     "ping a connection idle this long; drop it after twice as long"},
	[S_QUEUE_LIMIT] = {"queue_limit", "server", NULL, "1048576", "BYTES",
			   "outgoing bytes queued per connection before it is dropped"},
	[S_MAX_BATCH] = {"max_batch", "server", NULL, "100", "N", "most requests in one JSON-RPC batch"},
	[S_MAX_CONNECTIONS] = {"max_connections", "server", NULL, "10000", "N",
			       "most simultaneous connections"},
	[S_TLS_CERT] = {"tls_cert", "server", NULL, NULL, "FILE", "TLS certificate (PEM); TLS when set"},
	[S_TLS_KEY] = {"tls_key", "server", NULL, NULL, "FILE", "TLS private key (PEM)"},
	[S_LOG_LEVEL] = {"log_level", "log", "level", "info", "LEVEL", "debug, info, warn or error"},
	[S_SYNCHRONOUS] = {"synchronous", "store", NULL, "full", "MODE",
			   "SQLite synchronous mode: full (durable on power loss) or normal"},
	[S_CACHE_MB] = {"cache_mb", "store", NULL, "64", "MIB",
			"SQLite page cache of each of the server's two connections"},
	[S_TIMEZONE] = {"timezone", "server", NULL, "Asia/Ho_Chi_Minh", "ZONE", "the portal's time zone"},
	[S_ACCESS_TTL] = {"access_token_ttl", "auth", NULL, "900", "SECONDS",
			  "lifetime of an access token"},
	[S_REFRESH_TTL] = {"refresh_token_ttl", "auth", NULL, "2592000", "SECONDS",
			   "lifetime of a refresh token"},
	[S_JWT_ALG] = {"jwt_alg", "auth", NULL, "HS256", "ALG",
		       "access token algorithm: HS256, HS384, HS512 (key generated in the data "
		       "directory), RS256…, ES256… (key files below)"},
	[S_JWT_PRIVATE_KEY] = {"jwt_private_key", "auth", NULL, NULL, "FILE",
			       "PEM private key for RS and ES algorithms"},
	[S_JWT_PUBLIC_KEY] = {"jwt_public_key", "auth", NULL, NULL, "FILE",
			      "PEM public key for RS and ES algorithms"},
	[S_LOGIN_MAX_FAILURES] = {"login_max_failures", "auth", NULL, "5", "N",
				  "failed logins of one account before it is throttled"},
	[S_ADDRESS_MAX_FAILURES] = {"address_max_failures", "auth", NULL, "20", "N",
				    "failed logins from one address before it is throttled"},
	[S_PASSWORD_QUEUE] = {"password_queue", "auth", NULL, "32", "N",
			      "password hashing jobs waiting before callers get -32029"},
	[S_SWEEP_INTERVAL] = {"sweep_interval", "cases", NULL, "3600", "SECONDS",
			      "how often deadlines are checked and overdue cases announced"},
	[S_MAX_ACTIVE_BOOKINGS] = {"max_active_bookings", "schedule", NULL, "3", "N",
				   "active appointments one citizen may hold at once"},
	[S_CANCEL_BEFORE_MINUTES] = {"cancel_before_minutes", "schedule", NULL, "60", "MINUTES",
				     "a citizen may cancel or reschedule up to this long before "
				     "the slot"},
	[S_REMINDER_OFFSETS] = {"reminder_offsets", "schedule", NULL, "1440,60", "LIST",
				"minutes before a slot at which reminders are sent, "
				"comma-separated (empty: none)"},
	[S_DIALOGUE_NOTICE_DAYS] = {"dialogue_notice_days", "schedule", NULL, "5", "DAYS",
				    "a dialogue is scheduled at least this many days (of 24 hours) "
				    "ahead: the written notice"},
	[S_HOTSPOT_COUNT] = {"hotspot_count", "reports", NULL, "5", "N",
			     "petitions on the same locality and field, or against the same "
			     "respondent, that make a hot spot"},
	[S_HOTSPOT_WINDOW_DAYS] = {"hotspot_window_days", "reports", NULL, "30", "DAYS",
				   "the window (days of receipt, today included) in which "
				   "hotspot_count petitions make a hot spot"},
	[S_HOTSPOT_MASS] = {"hotspot_mass", "reports", NULL, "true", "BOOL",
			    "whether every mass (group) petition is a hot spot of its own"},
	[S_PROLONGED_DAYS] = {"prolonged_days", "reports", NULL, "90", "DAYS",
			      "a case pending longer than this at the end of a report's period is "
			      "prolonged (kéo dài)"},
	[S_RECONNECT_WINDOW] = {"reconnect_window", "session", NULL, "30", "SECONDS",
				"a live-session participant whose connection drops may rejoin "
				"this long"},
	[S_MAX_SESSIONS] = {"max_sessions", "session", NULL, "20", "N",
			    "live sessions at once; session.start beyond it gets -32009"},
	[S_STUN_SERVER] = {"stun_server", "session", NULL, "", "URL",
			   "stun://host:port for the server's and the browsers' ICE (empty: none)"},
	[S_TURN_SERVERS] = {"turn_servers", "session", NULL, "", "LIST",
			    "comma-separated turn(s)://user:password@host:port (empty: none)"},
	[S_ICE_ADDRESSES] = {"ice_addresses", "session", NULL, "", "LIST",
			     "comma-separated IP addresses the server's ICE gathers on (empty: "
			     "every interface; tests use 127.0.0.1)"},
};

static const char *
ini_key(const struct setting *st)
{
	return st->ini ? st->ini : st->key;
}

static char *
flag_name(const char *key)
{
	char *s = g_strdup(key);
	g_strdelimit(s, "_", '-');
	return s;
}

static char *
env_name(const char *key)
{
	char *up = g_ascii_strup(key, -1);
	char *s = g_strconcat("TIEPDAN_", up, NULL);
	g_free(up);
	return s;
}

char *
td_config_help(void)
{
	GString *s = g_string_new("Usage: tiepdan [OPTION...]\n\n"
				  "Runs the tiepdan citizen reception portal.\n\n"
				  "Options (flag > environment > config file > default):\n");
	g_string_append(s, "  --config FILE                INI configuration file "
			   "(env TIEPDAN_CONFIG)\n");
	g_string_append(s, "  --demo                       load the demo city and demo accounts "
			   "into an empty database (env TIEPDAN_DEMO=1)\n");
	for (int i = 0; i < S_COUNT; i++) {
		const struct setting *st = &settings[i];
		char *flag = flag_name(st->key);
		char *env = env_name(st->key);
		char *left = g_strdup_printf("--%s %s", flag, st->arg);
		const char *def = st->def ? st->def : "";
		if (i == S_WEB_ROOT) {
			def = "web/ of the installation or the source tree";
		}
		g_string_append_printf(s, "  %-28s %s\n  %-28s [%s] %s, env %s, default: %s\n", left,
				       st->help, "", st->group, ini_key(st), env,
				       *def ? def : "(none)");
		g_free(left);
		g_free(env);
		g_free(flag);
	}
	g_string_append(s, "  --help                       show this help\n  --version"
			   "                    show the version\n");
	return g_string_free(s, FALSE);
}

static int
parse_uint(const char *value, guint64 min, guint64 max, guint64 *out)
{
	guint64 v;
	if (!value || !g_ascii_string_to_unsigned(value, 10, min, max, &v, NULL)) {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
parse_listen(const char *value, char **addr, int *port)
{
	const char *colon = value ? strrchr(value, ':') : NULL;
	guint64 p;
	if (!colon || colon == value || parse_uint(colon + 1, 0, 65535, &p) < 0) {
		return -EINVAL;
	}
	char *host = g_strndup(value, (gsize)(colon - value));
	/* [::1]:8080 */
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 3 || host[n - 1] != ']') {
			g_free(host);
			return -EINVAL;
		}
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (!g_hostname_is_ip_address(host) && g_strcmp0(host, "localhost") != 0) {
		g_free(host);
		return -EINVAL;
	}
	*addr = host;
	*port = (int)p;
	return 0;
}

static gboolean truthy(const char *v);

static int
apply(struct td_config *cfg, enum setting_id id, const char *value)
{
	guint64 v;
	switch (id) {
	case S_LISTEN:
		return parse_listen(value, &cfg->listen_addr, &cfg->listen_port);
	case S_DATA_DIR:
		if (!value || !*value) {
			return -EINVAL;
		}
		cfg->data_dir = g_strdup(value);
		return 0;
	case S_WEB_ROOT:
		if (value && *value) {
			cfg->web_root = g_strdup(value);
		} else if (g_file_test(TD_DEFAULT_WEB_ROOT, G_FILE_TEST_IS_DIR)) {
			cfg->web_root = g_strdup(TD_DEFAULT_WEB_ROOT);
		} else {
			cfg->web_root = g_strdup(TD_SOURCE_WEB_ROOT);
		}
		return 0;
	case S_ALLOWED_ORIGINS: {
		char **parts = g_strsplit(value ? value : "", ",", -1);
		GPtrArray *a = g_ptr_array_new();
		for (char **p = parts; *p; p++) {
			char *o = g_strstrip(*p);
			if (!*o) {
				continue;
			}
			if (!g_str_has_prefix(o, "http://") && !g_str_has_prefix(o, "https://")) {
				g_strfreev(parts);
				g_ptr_array_set_free_func(a, g_free);
				g_ptr_array_free(a, TRUE);
				return -EINVAL;
			}
			g_ptr_array_add(a, g_strdup(o));
		}
		g_ptr_array_add(a, NULL);
		g_strfreev(parts);
		cfg->allowed_origins = (char **)g_ptr_array_free(a, FALSE);
		return 0;
	}
	case S_MAX_MESSAGE_SIZE:
		if (parse_uint(value, 256, 64 * 1024 * 1024, &v) < 0) {
			return -EINVAL;
		}
		cfg->max_message_size = (size_t)v;
		return 0;
	case S_MAX_UPLOAD_SIZE:
		if (parse_uint(value, 1024, G_GUINT64_CONSTANT(1) << 32, &v) < 0) {
			return -EINVAL;
		}
		cfg->max_upload_size = (size_t)v;
		return 0;
	case S_PING_INTERVAL:
		if (parse_uint(value, 1, 3600, &v) < 0) {
			return -EINVAL;
		}
		cfg->ping_interval = (unsigned)v;
		return 0;
	case S_QUEUE_LIMIT:
		if (parse_uint(value, 4096, G_GUINT64_CONSTANT(1) << 32, &v) < 0) {
			return -EINVAL;
		}
		cfg->queue_limit = (size_t)v;
		return 0;
	case S_MAX_BATCH:
		if (parse_uint(value, 1, 100000, &v) < 0) {
			return -EINVAL;
		}
		cfg->max_batch = (unsigned)v;
		return 0;
	case S_MAX_CONNECTIONS:
		if (parse_uint(value, 1, 1000000, &v) < 0) {
			return -EINVAL;
		}
		cfg->max_connections = (unsigned)v;
		return 0;
	case S_TLS_CERT:
		cfg->tls_cert = value && *value ? g_strdup(value) : NULL;
		return 0;
	case S_TLS_KEY:
		cfg->tls_key = value && *value ? g_strdup(value) : NULL;
		return 0;
	case S_LOG_LEVEL:
		return td_log_parse_level(value, &cfg->log_level);
	case S_SYNCHRONOUS:
		if (g_strcmp0(value, "full") == 0) {
			cfg->db_sync_full = true;
		} else if (g_strcmp0(value, "normal") == 0) {
			cfg->db_sync_full = false;
		} else {
			return -EINVAL;
		}
		return 0;
	case S_CACHE_MB:
		if (parse_uint(value, 1, 65536, &v) < 0) {
			return -EINVAL;
		}
		cfg->db_cache_mb = (unsigned)v;
		return 0;
	case S_TIMEZONE: {
		GTimeZone *tz = value ? g_time_zone_new_identifier(value) : NULL;
		if (!tz) {
			return -EINVAL;
		}
		g_time_zone_unref(tz);
		cfg->timezone = g_strdup(value);
		return 0;
	}
	case S_ACCESS_TTL:
		if (parse_uint(value, 1, 86400, &v) < 0) {
			return -EINVAL;
		}
		cfg->access_token_ttl = (unsigned)v;
		return 0;
	case S_REFRESH_TTL:
		if (parse_uint(value, 60, 366u * 86400u, &v) < 0) {
			return -EINVAL;
		}
		cfg->refresh_token_ttl = (unsigned)v;
		return 0;
	case S_JWT_ALG: {
		static const char *const algs[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
						   "RS512", "ES256", "ES384", "ES512"};
		for (size_t i = 0; i < G_N_ELEMENTS(algs); i++) {
			if (g_strcmp0(value, algs[i]) == 0) {
				cfg->jwt_alg = g_strdup(value);
				return 0;
			}
		}
		return -EINVAL;
	}
	case S_JWT_PRIVATE_KEY:
		cfg->jwt_private_key = value && *value ? g_strdup(value) : NULL;
		return 0;
	case S_JWT_PUBLIC_KEY:
		cfg->jwt_public_key = value && *value ? g_strdup(value) : NULL;
		return 0;
	case S_LOGIN_MAX_FAILURES:
		if (parse_uint(value, 1, 1000, &v) < 0) {
			return -EINVAL;
		}
		cfg->login_max_failures = (unsigned)v;
		return 0;
	case S_ADDRESS_MAX_FAILURES:
		if (parse_uint(value, 1, 100000, &v) < 0) {
			return -EINVAL;
		}
		cfg->address_max_failures = (unsigned)v;
		return 0;
	case S_PASSWORD_QUEUE:
		if (parse_uint(value, 1, 100000, &v) < 0) {
			return -EINVAL;
		}
		cfg->password_queue = (unsigned)v;
		return 0;
	case S_SWEEP_INTERVAL:
		if (parse_uint(value, 1, 86400, &v) < 0) {
			return -EINVAL;
		}
		cfg->sweep_interval = (unsigned)v;
		return 0;
	case S_MAX_ACTIVE_BOOKINGS:
		if (parse_uint(value, 1, 1000, &v) < 0) {
			return -EINVAL;
		}
		cfg->max_active_bookings = (unsigned)v;
		return 0;
	case S_CANCEL_BEFORE_MINUTES:
		if (parse_uint(value, 0, 525600, &v) < 0) {
			return -EINVAL;
		}
		cfg->cancel_before_minutes = (unsigned)v;
		return 0;
	case S_REMINDER_OFFSETS: {
		/* At most 8 offsets of 1 minute to 30 days. */
		char **parts = g_strsplit(value ? value : "", ",", -1);
		int n = 0;
		for (char **p = parts; *p; p++) {
			g_strstrip(*p);
			if (!**p && !parts[1]) {
				break; /* an empty list */
			}
			if (parse_uint(*p, 1, 43200, &v) < 0 || ++n > 8) {
				g_strfreev(parts);
				return -EINVAL;
			}
		}
		g_strfreev(parts);
		cfg->reminder_offsets = g_strdup(value ? value : "");
		return 0;
	}
	case S_DIALOGUE_NOTICE_DAYS:
		if (parse_uint(value, 1, 365, &v) < 0) {
			return -EINVAL;
		}
		cfg->dialogue_notice_days = (unsigned)v;
		return 0;
	case S_HOTSPOT_COUNT:
		if (parse_uint(value, 2, 100000, &v) < 0) {
			return -EINVAL;
		}
		cfg->hotspot_count = (unsigned)v;
		return 0;
	case S_HOTSPOT_WINDOW_DAYS:
		if (parse_uint(value, 1, 3660, &v) < 0) {
			return -EINVAL;
		}
		cfg->hotspot_window_days = (unsigned)v;
		return 0;
	case S_HOTSPOT_MASS:
		if (!value || (!truthy(value) && g_ascii_strcasecmp(value, "false") != 0 &&
			       g_ascii_strcasecmp(value, "no") != 0 && strcmp(value, "0") != 0)) {
			return -EINVAL;
		}
		cfg->hotspot_mass = truthy(value);
		return 0;
	case S_PROLONGED_DAYS:
		if (parse_uint(value, 1, 3660, &v) < 0) {
			return -EINVAL;
		}
		cfg->prolonged_days = (unsigned)v;
		return 0;
	case S_RECONNECT_WINDOW:
		if (parse_uint(value, 1, 3600, &v) < 0) {
			return -EINVAL;
		}
		cfg->reconnect_window = (unsigned)v;
		return 0;
	case S_MAX_SESSIONS:
		if (parse_uint(value, 1, 1000, &v) < 0) {
			return -EINVAL;
		}
		cfg->max_sessions = (unsigned)v;
		return 0;
	case S_STUN_SERVER:
		if (value && *value && !g_str_has_prefix(value, "stun://")) {
			return -EINVAL;
		}
		g_free(cfg->stun_server);
		cfg->stun_server = value && *value ? g_strdup(value) : NULL;
		return 0;
	case S_TURN_SERVERS:
	case S_ICE_ADDRESSES: {
		char **parts = g_strsplit(value ? value : "", ",", -1);
		GPtrArray *a = g_ptr_array_new();
		for (char **p = parts; *p; p++) {
			char *o = g_strstrip(*p);
			if (*o) {
				g_ptr_array_add(a, g_strdup(o));
			}
		}
		g_ptr_array_add(a, NULL);
		g_strfreev(parts);
		char ***dst = id == S_TURN_SERVERS ? &cfg->turn_servers : &cfg->ice_addresses;
		g_strfreev(*dst);
		*dst = (char **)g_ptr_array_free(a, FALSE);
		for (char **p = *dst; *p; p++) {
			bool ok = id == S_TURN_SERVERS ? g_str_has_prefix(*p, "turn://") ||
							      g_str_has_prefix(*p, "turns://")
						       : g_hostname_is_ip_address(*p);
			if (!ok) {
				return -EINVAL;
			}
		}
		return 0;
	}
	case S_COUNT:
		break;
	}
	return -EINVAL;
}

static const char *
env_get(char **envp, const char *name)
{
	return envp ? g_environ_getenv(envp, name) : g_getenv(name);
}

static gboolean
truthy(const char *v)
{
	return v && (g_ascii_strcasecmp(v, "1") == 0 || g_ascii_strcasecmp(v, "true") == 0 ||
		     g_ascii_strcasecmp(v, "yes") == 0);
}

int
td_config_load(struct td_config *cfg, int *argc, char ***argv, char **envp, bool *help_shown,
	       GError **error)
{
	char *flags[S_COUNT] = {0};
	char *config_file = NULL;
	gboolean demo = FALSE, help = FALSE, version = FALSE;
	char *flag_names[S_COUNT] = {0};
	GOptionEntry entries[S_COUNT + 5];
	GKeyFile *kf = NULL;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	*help_shown = false;

	int n = 0;
	entries[n++] = (GOptionEntry){"config", 0, 0, G_OPTION_ARG_FILENAME, &config_file, NULL,
				      NULL};
	entries[n++] = (GOptionEntry){"demo", 0, 0, G_OPTION_ARG_NONE, &demo, NULL, NULL};
	entries[n++] = (GOptionEntry){"help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL};
	entries[n++] = (GOptionEntry){"version", 0, 0, G_OPTION_ARG_NONE, &version, NULL, NULL};
	for (int i = 0; i < S_COUNT; i++) {
		flag_names[i] = flag_name(settings[i].key);
		entries[n++] = (GOptionEntry){flag_names[i], 0, 0, G_OPTION_ARG_STRING, &flags[i],
					      NULL, NULL};
	}
	entries[n] = (GOptionEntry){NULL, 0, 0, 0, NULL, NULL, NULL};

	GOptionContext *octx = g_option_context_new(NULL);
	g_option_context_set_help_enabled(octx, FALSE);
	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, argc, argv, error)) {
		goto out;
	}
	if (*argc > 1) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
			    "unexpected argument '%s'", (*argv)[1]);
		goto out;
	}
	if (help || version) {
		if (help) {
			char *h = td_config_help();
			fputs(h, stdout);
			g_free(h);
		} else {
			printf("tiepdan %s (protocol %s)\n", TD_VERSION, TD_PROTOCOL);
		}
		*help_shown = true;
		rc = 0;
		goto out;
	}

	if (!config_file && env_get(envp, "TIEPDAN_CONFIG")) {
		config_file = g_strdup(env_get(envp, "TIEPDAN_CONFIG"));
	}
	if (config_file) {
		kf = g_key_file_new();
		if (!g_key_file_load_from_file(kf, config_file, G_KEY_FILE_NONE, error)) {
			g_prefix_error(error, "config file %s: ", config_file);
			goto out;
		}
		/* Unknown groups or keys are mistakes worth stopping for. */
		gchar **groups = g_key_file_get_groups(kf, NULL);
		for (gchar **g = groups; *g; g++) {
			gchar **keys = g_key_file_get_keys(kf, *g, NULL, NULL);
			for (gchar **k = keys; k && *k; k++) {
				bool known = false;
				for (int i = 0; i < S_COUNT && !known; i++) {
					known = strcmp(settings[i].group, *g) == 0 &&
						strcmp(ini_key(&settings[i]), *k) == 0;
				}
				known = known || (strcmp(*g, "server") == 0 && strcmp(*k, "demo") == 0);
				if (!known) {
					g_set_error(error, G_KEY_FILE_ERROR,
						    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
						    "config file %s: unknown setting [%s] %s",
						    config_file, *g, *k);
					g_strfreev(keys);
					g_strfreev(groups);
					goto out;
				}
			}
			g_strfreev(keys);
		}
		g_strfreev(groups);
	}
	cfg->config_file = config_file ? g_strdup(config_file) : NULL;

	for (int i = 0; i < S_COUNT; i++) {
		const struct setting *st = &settings[i];
		char *env = env_name(st->key);
		char *file_value =
			kf ? g_key_file_get_string(kf, st->group, ini_key(st), NULL) : NULL;
		const char *value = st->def;
		const char *from = "default";
		if (file_value) {
			value = g_strstrip(file_value);
			from = "config file";
		}
		if (env_get(envp, env)) {
			value = env_get(envp, env);
			from = "environment";
		}
		if (flags[i]) {
			value = flags[i];
			from = "command line";
		}
		int r = apply(cfg, (enum setting_id)i, value);
		if (r < 0) {
			char *flag = flag_name(st->key);
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "invalid value '%s' for --%s (from the %s)", value ? value : "",
				    flag, from);
			g_free(flag);
		}
		g_free(file_value);
		g_free(env);
		if (r < 0) {
			goto out;
		}
	}
	cfg->demo = demo || truthy(env_get(envp, "TIEPDAN_DEMO")) ||
		    (kf && g_key_file_get_boolean(kf, "server", "demo", NULL));
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "--tls-cert and --tls-key go together");
		goto out;
	}
	rc = 0;

out:
	if (rc < 0 || *help_shown) {
		td_config_finish(cfg);
	}
	if (kf) {
		g_key_file_free(kf);
	}
	g_option_context_free(octx);
	for (int i = 0; i < S_COUNT; i++) {
		g_free(flags[i]);
		g_free(flag_names[i]);
	}
	g_free(config_file);
	return rc;
}

void
td_config_finish(struct td_config *cfg)
{
	g_free(cfg->config_file);
	g_free(cfg->listen_addr);
	g_free(cfg->data_dir);
	g_free(cfg->web_root);
	g_strfreev(cfg->allowed_origins);
	g_free(cfg->tls_cert);
	g_free(cfg->tls_key);
	g_free(cfg->timezone);
	g_free(cfg->jwt_alg);
	g_free(cfg->jwt_private_key);
	g_free(cfg->jwt_public_key);
	g_free(cfg->reminder_offsets);
	g_free(cfg->stun_server);
	g_strfreev(cfg->turn_servers);
	g_strfreev(cfg->ice_addresses);
	memset(cfg, 0, sizeof(*cfg));
}
