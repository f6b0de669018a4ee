/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Sealed identities (PROTOCOL.md §5.2): a denouncer's identity is stored
 * encrypted with libsodium's secretbox under a key kept in
 * DATA_DIR/keys/identity.key (mode 0600), outside the database, so that a
 * copy of the database alone does not reveal it. National ids are matched
 * (a citizen's own cases, repeat petitions) through a keyed hash, never in
 * clear for sealed records.
 */

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

struct seal;

#define SEAL_MAC_HEX 65

/** (transfer full) Loads the key, creating it (0600) when absent. NULL with *error set. */
struct seal *seal_create(const char *data_dir, GError **error);
void seal_destroy(struct seal *s);

/** (transfer full) nonce ‖ ciphertext of text; *len gets its size. */
unsigned char *seal_box(struct seal *s, const char *text, size_t *len);

/** (transfer full, nullable) The text, or NULL when the blob was not sealed with this key. */
char *seal_unbox(struct seal *s, const unsigned char *blob, size_t len);

/** The keyed hash of a national id (or any identifier), lowercase hex. */
void seal_mac(struct seal *s, const char *value, char out[SEAL_MAC_HEX]);

/**
 * (transfer full) The server's Ed25519 signature (libsodium, detached) of the bytes of text,
 * base64 (standard alphabet, padded). The key pair is derived from the identity key: the
 * evidence of a recording (its SHA-256 in hex) is signed with it.
 */
char *seal_sign(struct seal *s, const char *text);
/** (transfer full) The Ed25519 public key that checks seal_sign(), base64. */
char *seal_sign_public_key(struct seal *s);
/** Whether signature (base64) is seal_sign()'s of text with this key. */
bool seal_verify(struct seal *s, const char *text, const char *signature);
