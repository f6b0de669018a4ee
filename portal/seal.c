/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "tiepdan/log.h"

struct seal {
	unsigned char *box_key; /* sodium_malloc'd, crypto_secretbox_KEYBYTES */
	unsigned char *mac_key; /* sodium_malloc'd, crypto_generichash_KEYBYTES */
	unsigned char *sign_sk; /* sodium_malloc'd, crypto_sign_SECRETKEYBYTES (Ed25519) */
	unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
};

static int
read_or_create_master(const char *path, unsigned char master[crypto_kdf_KEYBYTES], GError **error)
{
	char *hex = NULL;
	gsize n = 0;
	if (g_file_get_contents(path, &hex, &n, NULL)) {
		size_t len = 0;
		g_strstrip(hex);
		int r = sodium_hex2bin(master, crypto_kdf_KEYBYTES, hex, strlen(hex), NULL, &len, NULL);
		sodium_memzero(hex, n);
		g_free(hex);
		if (r != 0 || len != crypto_kdf_KEYBYTES) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s is not a key", path);
			return -1;
		}
		return 0;
	}
	char buf[crypto_kdf_KEYBYTES * 2 + 2];
	crypto_kdf_keygen(master);
	sodium_bin2hex(buf, sizeof(buf), master, crypto_kdf_KEYBYTES);
	size_t len = strlen(buf);
	buf[len++] = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0;
	int err = errno;
	if (fd >= 0) {
		close(fd);
	}
	sodium_memzero(buf, sizeof(buf));
	if (!ok) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "cannot write %s: %s",
			    path, g_strerror(err));
		return -1;
	}
	td_info("seal", "identity key created", "%s", "");
	return 0;
}

struct seal *
seal_create(const char *data_dir, GError **error)
{
	unsigned char master[crypto_kdf_KEYBYTES];
	if (sodium_init() < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "libsodium failed to start");
		return NULL;
	}
	char *dir = g_build_filename(data_dir, "keys", NULL);
	char *path = g_build_filename(dir, "identity.key", NULL);
	struct seal *s = NULL;
	if (g_mkdir_with_parents(dir, 0700) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot create %s: %s", dir, g_strerror(errno));
	} else if (read_or_create_master(path, master, error) == 0) {
		s = g_new0(struct seal, 1);
		s->box_key = sodium_malloc(crypto_secretbox_KEYBYTES);
		s->mac_key = sodium_malloc(crypto_generichash_KEYBYTES);
		crypto_kdf_derive_from_key(s->box_key, crypto_secretbox_KEYBYTES, 1, "tdident",
					   master);
		crypto_kdf_derive_from_key(s->mac_key, crypto_generichash_KEYBYTES, 2, "tdident",
					   master);
		/* The signing key is derived too: one secret file holds every key. */
		unsigned char seed[crypto_sign_SEEDBYTES];
		s->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
		crypto_kdf_derive_from_key(seed, sizeof(seed), 3, "tdident", master);
		crypto_sign_seed_keypair(s->sign_pk, s->sign_sk, seed);
		sodium_memzero(seed, sizeof(seed));
		sodium_memzero(master, sizeof(master));
	}
	g_free(path);
	g_free(dir);
	return s;
}

void
seal_destroy(struct seal *s)
{
	if (!s) {
		return;
	}
	sodium_free(s->box_key);
	sodium_free(s->mac_key);
	sodium_free(s->sign_sk);
	g_free(s);
}

unsigned char *
seal_box(struct seal *s, const char *text, size_t *len)
{
	size_t n = strlen(text);
	unsigned char *out = g_malloc(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n);
	randombytes_buf(out, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, (const unsigned char *)text, n, out,
			      s->box_key);
	*len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
	return out;
}

char *
seal_unbox(struct seal *s, const unsigned char *blob, size_t len)
{
	if (!blob || len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
		return NULL;
	}
	size_t n = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	char *out = g_malloc(n + 1);
	if (crypto_secretbox_open_easy((unsigned char *)out, blob + crypto_secretbox_NONCEBYTES,
				       len - crypto_secretbox_NONCEBYTES, blob, s->box_key) != 0) {
		g_free(out);
		return NULL;
	}
	out[n] = '\0';
	return out;
}

void
seal_mac(struct seal *s, const char *value, char out[SEAL_MAC_HEX])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof(h), (const unsigned char *)value, strlen(value), s->mac_key,
			   crypto_generichash_KEYBYTES);
	sodium_bin2hex(out, SEAL_MAC_HEX, h, sizeof(h));
}

static char *
base64(const unsigned char *b, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *out = g_malloc(len);
	sodium_bin2base64(out, len, b, n, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

char *
seal_sign(struct seal *s, const char *text)
{
	unsigned char sig[crypto_sign_BYTES];
	crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), s->sign_sk);
	return base64(sig, sizeof(sig));
}

char *
seal_sign_public_key(struct seal *s)
{
	return base64(s->sign_pk, sizeof(s->sign_pk));
}

bool
seal_verify(struct seal *s, const char *text, const char *signature)
{
	unsigned char sig[crypto_sign_BYTES];
	size_t len = 0;
	if (!signature ||
	    sodium_base642bin(sig, sizeof(sig), signature, strlen(signature), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != sizeof(sig)) {
		return false;
	}
	return crypto_sign_verify_detached(sig, (const unsigned char *)text, strlen(text),
					   s->sign_pk) == 0;
}
