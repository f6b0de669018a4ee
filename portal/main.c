/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * tiepdan: the portal server. Wires the modules together on one GLib main
 * loop: the store, the dispatcher and its method tables, the transport; and
 * takes them down in order on SIGINT/SIGTERM:
 *
 *   stop accepting → let every queued and in-flight write commit and answer
 *   → flush every connection and close it with 1001 → stop the loop → exit 0.
 */
#include <errno.h>
#include <glib-unix.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "portal.h"
#include "server.h"
#include "sessions.h"
#include "td-config.h"
#include "tiepdan/auth.h"
#include "tiepdan/calendar.h"
#include "tiepdan/cases.h"
#include "tiepdan/seal.h"
#include "tiepdan/config.h"
#include "tiepdan/files.h"
#include "tiepdan/demo.h"
#include "tiepdan/log.h"
#include "tiepdan/reports.h"
#include "tiepdan/schedule.h"
#include "tiepdan/store.h"

#define MOD "main"
/* How long connections get to take their last data at shutdown. */
#define CLOSE_TIMEOUT_MS 5000

struct app {
	struct td_config cfg;
	GMainLoop *loop;
	struct metrics *metrics;
	struct store *store;
	struct rpc *rpc;
	struct server *server;
	struct directory *directory;
	struct routing_methods *routing;
	struct seal *seal;
	struct td_calendar *calendar;
	struct cases *cases;
	struct schedule *schedule;
	struct files *files;
	struct sessions *sessions;
	struct calendar_feed *calendar_feed;
	struct reports *reports;
	struct auth *auth;
	char *password_helper;
	bool stopping;
	int exit_code;
};

static int
check_db(void *data)
{
	struct app *app = data;
	return store_check(app->store);
}

static char *
identify(void *data, const char *token)
{
	struct app *app = data;
	return app->auth ? auth_identify(app->auth, token) : NULL;
}

static char *
calendar(void *data, const char *name)
{
	struct app *app = data;
	return app->calendar_feed ? calendar_feed_render(app->calendar_feed, name) : NULL;
}

static GString *
report(void *data, const char *name, const char **content_type)
{
	struct app *app = data;
	return app->reports ? reports_download(app->reports, name, content_type) : NULL;
}

static void
case_received(void *data, const char *case_id)
{
	struct app *app = data;
	if (app->reports) {
		reports_case_received(app->reports, case_id);
	}
}

static const struct cases_events case_events = {
	.version = CASES_EVENTS_VERSION,
	.received = case_received,
};

/* GET /api/keys: what checks the server's signatures (recordings: Ed25519 of their SHA-256). */
static char *
keys(void *data)
{
	struct app *app = data;
	char *pk = app->seal ? seal_sign_public_key(app->seal) : NULL;
	json_t *j = json_pack("{s:s?, s:s}", "recording_signing_key", pk, "algorithm", "Ed25519");
	char *text = json_dumps(j, JSON_COMPACT);
	char *out = g_strdup(text);
	free(text);
	json_decref(j);
	g_free(pk);
	return out;
}

static const struct server_hooks hooks = {
	.version = SERVER_HOOKS_VERSION,
	.check_db = check_db,
	.check_media = NULL,
	.identify = identify,
	.calendar = calendar,
	.report = report,
	.keys = keys,
};

static void
on_commit(void *data, double seconds, unsigned jobs, bool ok)
{
	struct app *app = data;
	metrics_commit(app->metrics, seconds, jobs, ok);
}

static const struct store_events store_events = {
	.version = STORE_EVENTS_VERSION,
	.commit = on_commit,
};

static void
all_closed(void *data)
{
	struct app *app = data;
	td_info(MOD, "connections closed; stopping", "%s", "");
	g_main_loop_quit(app->loop);
}

static void
writes_drained(void *data)
{
	struct app *app = data;
	td_info(MOD, "writes committed; closing connections", "%s", "");
	server_close_all(app->server, CLOSE_TIMEOUT_MS, all_closed, app);
}

static void
passwords_drained(void *data)
{
	struct app *app = data;
	store_close_writes(app->store, writes_drained, app);
}

/*
 * Password jobs end in writes (a registration, a login's session), so they
 * are drained first, then the writes, then the connections.
 */
static gboolean
on_signal(gpointer data)
{
	struct app *app = data;
	if (app->stopping) {
		return G_SOURCE_CONTINUE;
	}
	app->stopping = true;
	td_info(MOD, "shutdown requested", "pending_writes=%u", store_pending(app->store));
	server_stop_accepting(app->server);
	auth_quiesce(app->auth, passwords_drained, app);
	return G_SOURCE_CONTINUE;
}

static gboolean
on_reload(gpointer data)
{
	struct app *app = data;
	GError *error = NULL;
	if (auth_reload_keys(app->auth, &error) < 0) {
		td_error(MOD, "keys not reloaded", "err=\"%s\"", error->message);
		g_error_free(error);
	} else {
		td_info(MOD, "token keys reloaded", "%s", "");
	}
	return G_SOURCE_CONTINUE;
}

/* tiepdan-pwhash next to this program (a build tree, or both in one folder), else installed. */
static char *
password_helper_path(void)
{
	char *self = g_file_read_link("/proc/self/exe", NULL);
	if (self) {
		char *dir = g_path_get_dirname(self);
		char *p = g_build_filename(dir, "tiepdan-pwhash", NULL);
		g_free(dir);
		g_free(self);
		if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE)) {
			return p;
		}
		g_free(p);
	}
	return g_strdup(TD_PASSWORD_HELPER);
}

static int
load_demo(struct app *app)
{
	GPtrArray *accounts = g_ptr_array_new_with_free_func(g_free);
	int r = demo_load(app->store, accounts);
	if (r == -EEXIST) {
		td_info(MOD, "demo: the database already holds data; nothing loaded", "%s", "");
		demo_accounts(accounts);
		r = 0;
	} else if (r < 0) {
		td_error(MOD, "demo data could not be loaded", "err=%d", r);
		g_ptr_array_free(accounts, TRUE);
		return r;
	} else {
		td_info(MOD, "demo city loaded", "%s", "");
	}
	if (accounts->len > 0) {
		printf("Demo accounts (role, login, password, agency):\n");
		for (guint i = 0; i < accounts->len; i++) {
			char **f = g_strsplit(accounts->pdata[i], "\t", 5);
			guint n = g_strv_length(f);
			printf("  %-10s %-24s %-20s %s\n", n > 0 ? f[0] : "", n > 1 ? f[1] : "",
			       n > 2 ? f[2] : "", n > 3 ? f[3] : "");
			g_strfreev(f);
		}
		fflush(stdout);
	}
	g_ptr_array_free(accounts, TRUE);
	return 0;
}

int
main(int argc, char **argv)
{
	struct app app = {0};
	struct store_options sopts;
	GError *error = NULL;
	bool help = false;

	/*
	 * Keep freed memory in the process: with glibc's defaults every SQLite
	 * statement that builds a temporary b-tree grew the heap, touched fresh
	 * pages and gave them back on free, and the page faults and TLB
	 * shootdowns were a quarter of an intake's CPU.
	 */
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);

	if (td_config_load(&app.cfg, &argc, &argv, NULL, &help, &error) < 0) {
		fprintf(stderr, "tiepdan: %s\nTry 'tiepdan --help'.\n", error->message);
		g_error_free(error);
		return 2;
	}
	if (help) {
		return 0;
	}
	td_log_set_level(app.cfg.log_level);
	if (sodium_init() < 0) {
		td_error(MOD, "libsodium failed to initialise", "%s", "");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	app.exit_code = 1;
	app.loop = g_main_loop_new(NULL, FALSE);
	app.metrics = metrics_create();

	store_options_init(&sopts);
	sopts.sync_full = app.cfg.db_sync_full;
	sopts.cache_mb = app.cfg.db_cache_mb;
	app.store = store_open(app.cfg.data_dir, &sopts);
	if (!app.store) {
		td_error(MOD, "cannot open the store", "data_dir=\"%s\" err=\"%s\"", app.cfg.data_dir,
			 g_strerror(errno));
		goto out;
	}
	store_set_events(app.store, &store_events, &app);
	if (app.cfg.demo && load_demo(&app) < 0) {
		goto out;
	}

	app.server = server_create(&app.cfg, app.loop, app.metrics, &hooks, &app);
	if (!app.server) {
		goto out;
	}
	struct rpc_options ropts = {.max_batch = app.cfg.max_batch, .timezone = app.cfg.timezone};
	app.rpc = rpc_create(&ropts, server_rpc_io(), app.server, app.metrics);
	server_set_rpc(app.server, app.rpc);
	if (portal_system_register(app.rpc) < 0) {
		goto out;
	}
	app.directory = portal_directory_create(app.rpc, app.store);
	if (!app.directory) {
		goto out;
	}
	app.seal = seal_create(app.cfg.data_dir, &error);
	if (!app.seal) {
		td_error(MOD, "cannot open the identity key", "err=\"%s\"", error->message);
		g_error_free(error);
		goto out;
	}
	char *holidays = td_calendar_default_path(app.cfg.data_dir);
	app.calendar = td_calendar_load(holidays, &error);
	if (!app.calendar) {
		td_error(MOD, "cannot read the holiday calendar", "path=\"%s\" err=\"%s\"",
			 holidays, error->message);
		g_free(holidays);
		g_error_free(error);
		goto out;
	}
	g_free(holidays);
	app.files = files_create(app.store, app.cfg.data_dir, app.cfg.max_upload_size, &error);
	if (!app.files) {
		td_error(MOD, "cannot open the file store", "err=\"%s\"", error->message);
		g_error_free(error);
		goto out;
	}
	server_set_files(app.server, app.files);
	struct cases_options copts = {.sweep_interval_s = app.cfg.sweep_interval,
				      .files = app.files,
				      .events = &case_events,
				      .events_data = &app};
	app.cases = cases_create(app.rpc, app.store, app.seal, app.calendar, &copts, &error);
	if (!app.cases) {
		td_error(MOD, "cannot start cases", "err=\"%s\"", error->message);
		g_error_free(error);
		goto out;
	}
	struct schedule_options schopts = {
		.max_active_bookings = app.cfg.max_active_bookings,
		.cancel_before_minutes = app.cfg.cancel_before_minutes,
		.dialogue_notice_days = app.cfg.dialogue_notice_days,
		.timezone = app.cfg.timezone,
	};
	if (schedule_parse_offsets(app.cfg.reminder_offsets, &schopts) < 0) {
		td_error(MOD, "bad reminder offsets", "value=\"%s\"", app.cfg.reminder_offsets);
		goto out;
	}
	app.schedule = schedule_create(app.rpc, app.store, app.calendar, &schopts, &error);
	if (!app.schedule) {
		td_error(MOD, "cannot start schedules", "err=\"%s\"", error->message);
		g_error_free(error);
		goto out;
	}
	struct reports_options report_opts = {
		.hotspot_count = app.cfg.hotspot_count,
		.hotspot_window_days = app.cfg.hotspot_window_days,
		.hotspot_mass = app.cfg.hotspot_mass,
		.prolonged_days = app.cfg.prolonged_days,
		.timezone = app.cfg.timezone,
	};
	app.reports =
		reports_create(app.rpc, app.store, app.calendar, app.cases, &report_opts, &error);
	if (!app.reports) {
		td_error(MOD, "cannot start reports", "err=\"%s\"", error->message);
		g_error_free(error);
		goto out;
	}
	struct sessions_options sessopts = {
		.data_dir = app.cfg.data_dir,
		.reconnect_window_s = app.cfg.reconnect_window,
		.max_sessions = app.cfg.max_sessions,
		.stun_server = app.cfg.stun_server,
		.turn_servers = (const char *const *)app.cfg.turn_servers,
		.ice_addresses = (const char *const *)app.cfg.ice_addresses,
		.metrics = app.metrics,
	};
	app.sessions = sessions_create(app.rpc, app.store, app.seal, app.files, &sessopts, &error);
	if (!app.sessions) {
		td_error(MOD, "cannot start live sessions", "err=\"%s\"", error->message);
		g_error_free(error);
		goto out;
	}
	app.calendar_feed = calendar_feed_create(app.rpc, app.store, app.seal);
	if (!app.calendar_feed) {
		goto out;
	}
	app.routing = portal_routing_create(app.rpc, app.store);
	if (!app.routing) {
		goto out;
	}
	app.password_helper = password_helper_path();
	struct auth_options aopts = {
		.data_dir = app.cfg.data_dir,
		.access_ttl_s = app.cfg.access_token_ttl,
		.refresh_ttl_s = app.cfg.refresh_token_ttl,
		.jwt_alg = app.cfg.jwt_alg,
		.jwt_private_key = app.cfg.jwt_private_key,
		.jwt_public_key = app.cfg.jwt_public_key,
		.login_max_failures = app.cfg.login_max_failures,
		.address_max_failures = app.cfg.address_max_failures,
		.password_queue = app.cfg.password_queue,
		.password_helper = app.password_helper,
	};
	app.auth = auth_create(app.rpc, app.store, &aopts, &error);
	if (!app.auth) {
		td_error(MOD, "cannot start accounts", "err=\"%s\"", error->message);
		g_error_free(error);
		goto out;
	}

	g_unix_signal_add(SIGINT, on_signal, &app);
	g_unix_signal_add(SIGTERM, on_signal, &app);
	g_unix_signal_add(SIGHUP, on_reload, &app);

	td_info("server", "ready", "addr=%s port=%d data_dir=\"%s\" web_root=\"%s\" tls=%s",
		app.cfg.listen_addr, server_port(app.server), app.cfg.data_dir, app.cfg.web_root,
		app.cfg.tls_cert ? "on" : "off");
	g_main_loop_run(app.loop);
	app.exit_code = 0;
	td_info(MOD, "stopped", "%s", "");

out:
	server_destroy(app.server);
	sessions_destroy(app.sessions);
	auth_destroy(app.auth);
	g_free(app.password_helper);
	rpc_destroy(app.rpc);
	portal_directory_destroy(app.directory);
	portal_routing_destroy(app.routing);
	reports_destroy(app.reports);
	cases_destroy(app.cases);
	schedule_destroy(app.schedule);
	calendar_feed_destroy(app.calendar_feed);
	files_destroy(app.files);
	td_calendar_destroy(app.calendar);
	seal_destroy(app.seal);
	store_destroy(app.store);
	metrics_destroy(app.metrics);
	g_main_loop_unref(app.loop);
	td_config_finish(&app.cfg);
	return app.exit_code;
}
