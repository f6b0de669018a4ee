/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Settings of the `tiepdan` server. Every setting has a default, a key in the
 * INI file (GKeyFile: `[group] key = value`), an environment variable
 * `TIEPDAN_<KEY>` and a command-line flag `--<key-with-dashes>`; the flag
 * overrides the environment, which overrides the file, which overrides the
 * default. `--help` lists every setting with its default.
 */

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "tiepdan/log.h"

struct td_config {
	char *config_file;   /* (nullable) */
	char *listen_addr;   /* "127.0.0.1" */
	int listen_port;     /* 8080; 0 = an ephemeral port */
	char *data_dir;      /* "./data" */
	char *web_root;      /* the web/ folder */
	bool demo;           /* load the demo city into an empty database */
	char **allowed_origins; /* NULL-terminated; the server's own origin is always allowed */
	size_t max_message_size; /* bytes, 65536 */
	size_t max_upload_size;  /* bytes of one attachment, 10 MiB */
	unsigned ping_interval;  /* seconds, 30 */
	size_t queue_limit;      /* bytes of outgoing messages queued per connection, 1 MiB */
	unsigned max_batch;      /* requests in one batch, 100 */
	unsigned max_connections; /* 10000 */
	char *tls_cert;          /* (nullable) PEM */
	char *tls_key;           /* (nullable) PEM */
	enum td_log_level log_level;
	bool db_sync_full;       /* synchronous=FULL (default) or NORMAL */
	unsigned db_cache_mb;    /* SQLite page cache per connection, MiB, 64 */
	char *timezone;          /* "Asia/Ho_Chi_Minh" */
	/* [auth] */
	unsigned access_token_ttl;  /* seconds, 900 */
	unsigned refresh_token_ttl; /* seconds, 30 days */
	char *jwt_alg;              /* "HS256" */
	char *jwt_private_key;      /* (nullable) PEM, for RS and ES algorithms */
	char *jwt_public_key;       /* (nullable) PEM */
	unsigned login_max_failures;   /* failures of one login before it is throttled, 5 */
	unsigned address_max_failures; /* failures from one address before it is throttled, 20 */
	unsigned password_queue;    /* password jobs waiting before -32029, 32 */
	/* [cases] */
	unsigned sweep_interval;    /* seconds between deadline sweeps, 3600 */
	/* [schedule] */
	unsigned max_active_bookings;   /* active bookings one citizen may hold, 3 */
	unsigned cancel_before_minutes; /* a citizen cancels up to this long before a slot, 60 */
	char *reminder_offsets;         /* minutes before a slot, comma-separated, "1440,60" */
	unsigned dialogue_notice_days;  /* a dialogue is scheduled this many days ahead, 5 */
	/* [reports] */
	unsigned hotspot_count;       /* petitions that make a hot spot, 5 */
	unsigned hotspot_window_days; /* ... received within this many days, 30 */
	bool hotspot_mass;            /* a mass petition is a hot spot of its own, true */
	unsigned prolonged_days;      /* pending longer than this is prolonged, 90 */
	/* [session] */
	unsigned reconnect_window; /* seconds a dropped participant may rejoin, 30 */
	unsigned max_sessions;     /* live sessions at once, 20 */
	char *stun_server;         /* (nullable) stun://host:port */
	char **turn_servers;       /* NULL-terminated turn(s)://user:password@host:port */
	char **ice_addresses;      /* NULL-terminated; empty: every interface */
};

/**
 * Fills cfg from the defaults, the file named by --config (or TIEPDAN_CONFIG),
 * the environment `envp` (nullable: the process environment) and argv, which
 * loses the options it consumed. Returns 0, or -1 with *error set; when
 * `--help` was asked, prints the help and sets *help_shown.
 */
int td_config_load(struct td_config *cfg, int *argc, char ***argv, char **envp,
		   bool *help_shown, GError **error);

/** Releases what td_config_load() allocated. */
void td_config_finish(struct td_config *cfg);

/** The help text listing every setting (transfer full). */
char *td_config_help(void);
