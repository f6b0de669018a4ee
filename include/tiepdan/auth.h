/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Accounts and sessions (PROTOCOL.md §3): registration, login with argon2id
 * off the loop, JWT access tokens, rotating refresh tokens with reuse
 * detection, logout, password change, and the admin methods that create
 * officials and grant roles. Registers its methods with the dispatcher.
 */

#include <glib.h>

#include "tiepdan/rpc.h"
#include "tiepdan/store.h"

struct auth;

struct auth_options {
	const char *data_dir;        /* keys/ lives here */
	unsigned access_ttl_s;       /* 900 */
	unsigned refresh_ttl_s;      /* 30 days */
	const char *jwt_alg;         /* "HS256" */
	const char *jwt_private_key; /* (nullable) */
	const char *jwt_public_key;  /* (nullable) */
	unsigned login_max_failures;   /* 5 */
	unsigned address_max_failures; /* 20 */
	unsigned password_queue;       /* 32 */
	const char *password_helper;   /* path of tiepdan-pwhash */
};

/** (transfer full) Loads the token keys and registers auth.* and admin.user.*. NULL + error. */
struct auth *auth_create(struct rpc *rpc, struct store *store, const struct auth_options *opts,
			 GError **error);

/** Cancels waiting password jobs and joins the worker. NULL is fine. */
void auth_destroy(struct auth *a);

/** Stops taking password jobs and calls cb once the running ones have answered. */
void auth_quiesce(struct auth *a, void (*cb)(void *data), void *data);

/** Reads the token keys again (after `tiepdan-admin keys rotate`); the old set stays on error. */
int auth_reload_keys(struct auth *a, GError **error);

/**
 * (transfer full, nullable) The user id an access token names when it is valid and its
 * session open (for Authorization: Bearer on HTTP).
 */
char *auth_identify(struct auth *a, const char *access_token);

/** Whether pw is in the shipped list of common passwords (case-insensitive). */
bool auth_password_is_common(const char *pw);
