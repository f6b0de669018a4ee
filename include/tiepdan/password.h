/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Password hashing: argon2id (libsodium's crypto_pwhash_str_alg with
 * crypto_pwhash_ALG_ARGON2ID13) at the interactive limits, which cost about
 * 100 ms and 64 MiB per call. Both functions are synchronous and
 * thread-safe; do not call them on the main loop in the server (the auth
 * worker runs them off the loop).
 *
 * The encoded hash is a NUL-terminated ASCII string that carries the
 * algorithm, its parameters and the salt ("$argon2id$v=19$m=65536,t=2,p=1$...").
 */

#include <sodium.h>
#include <stdbool.h>

#ifndef TD_WUR
#define TD_WUR __attribute__((warn_unused_result))
#endif

/* Passwords longer than this many bytes are refused (hashing cost stays bounded). */
#define AUTH_PASSWORD_MAX_BYTES 1024

/**
 * Hashes the NUL-terminated password pw into out (a NUL-terminated string).
 * Returns 0, -EINVAL when pw is NULL or longer than AUTH_PASSWORD_MAX_BYTES,
 * or -ENOMEM when libsodium cannot get the memory the hash needs.
 * Length and content rules (at least 10 characters...) are the caller's.
 */
int auth_password_hash(const char *pw, char out[crypto_pwhash_STRBYTES]) TD_WUR;

/**
 * True when pw matches the encoded hash. False for a wrong password, a NULL
 * argument, a password over AUTH_PASSWORD_MAX_BYTES or a hash that is not a
 * NUL-terminated libsodium argon2id/argon2i string.
 */
bool auth_password_verify(const char *hash, const char *pw);
