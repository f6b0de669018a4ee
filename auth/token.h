/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Access tokens: JWTs the server both issues and verifies (libjwt).
 *
 * The algorithm is fixed by configuration. For HS256/HS384/HS512 the keys
 * are generated: DATA_DIR/keys/jwt-<kid>.key, 64 random bytes, mode 0600 in
 * a 0700 folder; the key named by keys/current (else the last kid) signs,
 * every key present verifies, so a key can be rotated (token_keys_rotate)
 * without logging anyone out, and an old one retired by deleting its file. For RS and ES algorithms a configured PEM key pair is
 * used, with the kid derived from the public key.
 *
 * Verification never lets the token choose: the header must name exactly
 * the configured algorithm and a known kid before libjwt sees the token;
 * then libjwt checks the signature with that key, and the claims iss, aud,
 * sub, exp, nbf and iat are checked here, with their JSON types.
 */

#include <glib.h>
#include <stdint.h>

struct token_keys;

struct token_options {
	const char *alg;         /* "HS256" (default), HS384, HS512, RS256…, ES256… */
	const char *issuer;      /* "tiepdan" */
	const char *audience;    /* "tiepdan.v1" */
	const char *private_key; /* (nullable) PEM file for RS and ES */
	const char *public_key;  /* (nullable) PEM file for RS and ES */
};

/** Loads (creating the first HS key when none exists) the keys. NULL with *error set. */
struct token_keys *token_keys_load(const char *data_dir, const struct token_options *opts,
				   GError **error);
void token_keys_destroy(struct token_keys *k);

/** Calls fn with every kid, sorted; the signing one is token_keys_signing_kid(). */
void token_keys_foreach(struct token_keys *k, void (*fn)(const char *kid, void *data), void *data);

/** (transfer none) The kid new tokens are signed with. */
const char *token_keys_signing_kid(struct token_keys *k);

/** Adds a new HS key that signs from now on; returns its kid (transfer full) or NULL. */
char *token_keys_rotate(struct token_keys *k, GError **error);

/** (transfer full) A signed token for sub in session sid, valid from now_s for ttl_s seconds. */
char *token_issue(struct token_keys *k, const char *sub, const char *sid, int64_t now_s,
		  unsigned ttl_s);

/* The most bytes a token may have before it is even looked at. */
#define TOKEN_MAX_LEN 4096

/**
 * 0 and *sub, *sid (transfer full), *exp_s when the token is ours and valid at now_s;
 * -EINVAL (malformed), -EPERM (algorithm, key or signature), -ETIMEDOUT
 * (expired or not yet valid), -EACCES (a claim is wrong) otherwise.
 */
int token_verify(struct token_keys *k, const char *token, int64_t now_s, char **sub, char **sid,
		 int64_t *exp_s);
