/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/password.h"

#include <errno.h>
#include <string.h>

/*
 * sodium_init() is idempotent and thread-safe; it is called here too so that
 * the functions work before (or without) store_open().
 */
static bool
sodium_ready(void)
{
	return sodium_init() >= 0;
}

int
auth_password_hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
	if (!pw || !out) {
		return -EINVAL;
	}
	size_t len = strnlen(pw, AUTH_PASSWORD_MAX_BYTES + 1);
	if (len > AUTH_PASSWORD_MAX_BYTES) {
		return -EINVAL;
	}
	if (!sodium_ready()) {
		return -ENOMEM;
	}
	if (crypto_pwhash_str_alg(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                          crypto_pwhash_MEMLIMIT_INTERACTIVE,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
		return -ENOMEM;
	}
	return 0;
}

/*
 * The hash comes from the database: it must be NUL-terminated within
 * crypto_pwhash_STRBYTES before libsodium reads it as a fixed-size array.
 */
bool
auth_password_verify(const char *hash, const char *pw)
{
	if (!hash || !pw || !sodium_ready()) {
		return false;
	}
	if (strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES) {
		return false;
	}
	size_t len = strnlen(pw, AUTH_PASSWORD_MAX_BYTES + 1);
	if (len > AUTH_PASSWORD_MAX_BYTES) {
		return false;
	}
	return crypto_pwhash_str_verify(hash, pw, len) == 0;
}
