/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Settings: defaults, file, environment and flags, in that order of strength. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tiepdan/config.h"

static int
load(struct td_config *cfg, const char *const *args, char **env, GError **err)
{
	GPtrArray *a = g_ptr_array_new();
	g_ptr_array_add(a, (char *)"tiepdan");
	for (const char *const *p = args; p && *p; p++) {
		g_ptr_array_add(a, (char *)*p);
	}
	int argc = (int)a->len;
	char **argv = (char **)a->pdata;
	bool help = false;
	int r = td_config_load(cfg, &argc, &argv, env, &help, err);
	g_ptr_array_free(a, TRUE);
	g_assert_false(help);
	return r;
}

static void
test_defaults(void)
{
	struct td_config cfg;
	char *env[] = {NULL};
	g_assert_cmpint(load(&cfg, NULL, env, NULL), ==, 0);
	g_assert_cmpstr(cfg.listen_addr, ==, "127.0.0.1");
	g_assert_cmpint(cfg.listen_port, ==, 8080);
	g_assert_cmpstr(cfg.data_dir, ==, "./data");
	g_assert_cmpuint(cfg.max_message_size, ==, 65536);
	g_assert_cmpuint(cfg.ping_interval, ==, 30);
	g_assert_true(cfg.db_sync_full);
	g_assert_false(cfg.demo);
	g_assert_nonnull(cfg.web_root);
	g_assert_nonnull(cfg.allowed_origins);
	g_assert_null(cfg.allowed_origins[0]);
	g_assert_cmpuint(cfg.reconnect_window, ==, 30);
	g_assert_cmpuint(cfg.max_sessions, ==, 20);
	g_assert_null(cfg.stun_server);
	g_assert_null(cfg.turn_servers && cfg.turn_servers[0] ? cfg.turn_servers[0] : NULL);
	g_assert_null(cfg.ice_addresses && cfg.ice_addresses[0] ? cfg.ice_addresses[0] : NULL);
	td_config_finish(&cfg);
}

static char *
write_ini(const char *text)
{
	GError *err = NULL;
	char *path = NULL;
	int fd = g_file_open_tmp("tiepdan-XXXXXX.ini", &path, &err);
	g_assert_no_error(err);
	close(fd);
	g_assert_true(g_file_set_contents(path, text, -1, &err));
	return path;
}

static void
test_precedence(void)
{
	struct td_config cfg;
	char *ini = write_ini("[server]\nlisten = 127.0.0.1:1111\nmax_message_size = 1000\n"
			      "allowed_origins = https://a.example, https://b.example\n"
			      "[store]\ndata_dir = /file\n[log]\nlevel = warn\n");
	char *cf = g_strconcat("--config=", ini, NULL);
	char *env[] = {"TIEPDAN_LISTEN=127.0.0.1:2222", "TIEPDAN_DATA_DIR=/env", NULL};
	const char *args[] = {cf, "--data-dir", "/flag", NULL};
	GError *err = NULL;
	load(&cfg, args, env, &err);
	g_assert_no_error(err);
	g_assert_cmpint(cfg.listen_port, ==, 2222);     /* env beats file */
	g_assert_cmpstr(cfg.data_dir, ==, "/flag");      /* flag beats env */
	g_assert_cmpuint(cfg.max_message_size, ==, 1000); /* file beats default */
	g_assert_cmpint(cfg.log_level, ==, TD_LOG_WARN);
	g_assert_cmpstr(cfg.allowed_origins[0], ==, "https://a.example");
	g_assert_cmpstr(cfg.allowed_origins[1], ==, "https://b.example");
	g_assert_null(cfg.allowed_origins[2]);
	td_config_finish(&cfg);
	g_unlink(ini);
	g_free(ini);
	g_free(cf);
}

static void
test_bad_values(void)
{
	const char *bad[][3] = {
		{"--listen", "nonsense", NULL},
		{"--listen", "127.0.0.1:70000", NULL},
		{"--max-message-size", "12abc", NULL},
		{"--ping-interval", "0", NULL},
		{"--log-level", "loud", NULL},
		{"--synchronous", "off", NULL},
		{"--allowed-origins", "evil.example", NULL},
		{"--tls-cert", "/x.pem", NULL},
		{"--reconnect-window", "0", NULL},
		{"--max-sessions", "1001", NULL},
		{"--stun-server", "turn://x:3478", NULL},
		{"--turn-servers", "turn://u:p@h:1, stun://h:2", NULL},
		{"--ice-addresses", "127.0.0.1, localhost", NULL},
		{"--no-such-flag", NULL, NULL},
		{"stray", NULL, NULL},
	};
	char *env[] = {NULL};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct td_config cfg;
		GError *err = NULL;
		g_assert_cmpint(load(&cfg, bad[i], env, &err), <, 0);
		g_assert_nonnull(err);
		g_error_free(err);
	}
	/* A bad value in the environment names where it came from. */
	struct td_config cfg;
	GError *err = NULL;
	char *env2[] = {"TIEPDAN_QUEUE_LIMIT=-5", NULL};
	g_assert_cmpint(load(&cfg, NULL, env2, &err), <, 0);
	g_assert_nonnull(strstr(err->message, "environment"));
	g_error_free(err);
}

static void
test_unknown_file_key(void)
{
	struct td_config cfg;
	GError *err = NULL;
	char *ini = write_ini("[server]\nlisten = 127.0.0.1:1\nlisten_port = 3\n");
	char *cf = g_strconcat("--config=", ini, NULL);
	const char *args[] = {cf, NULL};
	char *env[] = {NULL};
	g_assert_cmpint(load(&cfg, args, env, &err), <, 0);
	g_assert_nonnull(strstr(err->message, "listen_port"));
	g_error_free(err);
	g_unlink(ini);
	g_free(ini);
	g_free(cf);
}

static void
test_help_lists_everything(void)
{
	char *h = td_config_help();
	const char *flags[] = {"--config",           "--demo",          "--listen",
			       "--data-dir",         "--web-root",      "--allowed-origins",
			       "--max-message-size", "--ping-interval", "--queue-limit",
			       "--tls-cert",         "--tls-key",       "--log-level",
			       "--synchronous",      "default: 65536",  "TIEPDAN_LISTEN"};
	for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
		g_assert_nonnull(strstr(h, flags[i]));
	}
	g_free(h);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/precedence", test_precedence);
	g_test_add_func("/config/bad-values", test_bad_values);
	g_test_add_func("/config/unknown-file-key", test_unknown_file_key);
	g_test_add_func("/config/help", test_help_lists_everything);
	return g_test_run();
}
