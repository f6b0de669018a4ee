/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tiepdan/log.h"

#define MOD "token"
#define HS_KEY_BYTES 64

struct key {
	char *kid;
	unsigned char *bytes; /* sodium_malloc'd for HS keys */
	size_t len;
	unsigned char *sign; /* (nullable) PEM private key for RS/ES */
	size_t sign_len;
};

struct token_keys {
	jwt_alg_t alg;
	char *alg_name;
	char *issuer;
	char *audience;
	char *dir;
	GPtrArray *keys; /* of struct key*, sorted by kid */
	struct key *signing; /* the one keys/current names, else the last */
};

static void
key_free(gpointer p)
{
	struct key *k = p;
	g_free(k->kid);
	if (k->bytes) {
		sodium_free(k->bytes);
	}
	if (k->sign) {
		sodium_memzero(k->sign, k->sign_len);
		g_free(k->sign);
	}
	g_free(k);
}

static bool
alg_is_hmac(jwt_alg_t a)
{
	return a == JWT_ALG_HS256 || a == JWT_ALG_HS384 || a == JWT_ALG_HS512;
}

static struct key *
hs_key_read(const char *path, const char *kid)
{
	char *hex = NULL;
	gsize n = 0;
	struct key *k = NULL;
	if (!g_file_get_contents(path, &hex, &n, NULL)) {
		return NULL;
	}
	g_strstrip(hex);
	unsigned char *bytes = sodium_malloc(HS_KEY_BYTES);
	size_t len = 0;
	if (bytes && sodium_hex2bin(bytes, HS_KEY_BYTES, hex, strlen(hex), NULL, &len, NULL) == 0 &&
	    len == HS_KEY_BYTES) {
		k = g_new0(struct key, 1);
		k->kid = g_strdup(kid);
		k->bytes = bytes;
		k->len = len;
	} else if (bytes) {
		sodium_free(bytes);
	}
	sodium_memzero(hex, n);
	g_free(hex);
	return k;
}

/* Writes a new key with O_EXCL and mode 0600, fsynced, so a crash never leaves half a key. */
static struct key *
hs_key_create(const char *dir, GError **error)
{
	unsigned char raw[HS_KEY_BYTES];
	char hex[HS_KEY_BYTES * 2 + 2];
	unsigned char rnd[4];
	char kid[64];

	/* The kid sorts by creation time (to the microsecond): the newest key signs. */
	GDateTime *now = g_date_time_new_now_utc();
	char *stamp = g_date_time_format(now, "%Y%m%d%H%M%S");
	int usec = g_date_time_get_microsecond(now);
	g_date_time_unref(now);
	randombytes_buf(rnd, sizeof(rnd));
	g_snprintf(kid, sizeof(kid), "%s%06d-%02x%02x%02x%02x", stamp, usec, rnd[0], rnd[1],
		   rnd[2], rnd[3]);
	g_free(stamp);

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	size_t hexlen = strlen(hex);
	hex[hexlen++] = '\n';

	char *path = g_strdup_printf("%s/jwt-%s.key", dir, kid);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, hex, hexlen) == (ssize_t)hexlen && fsync(fd) == 0;
	if (fd >= 0) {
		close(fd);
	}
	sodium_memzero(hex, sizeof(hex));
	if (!ok) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot write the token key %s: %s", path, g_strerror(errno));
		g_unlink(path);
		g_free(path);
		return NULL;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	struct key *k = hs_key_read(path, kid);
	td_info(MOD, "token key created", "kid=%s", kid);
	g_free(path);
	return k;
}

static struct key *find_key(struct token_keys *k, const char *kid);

static gint
cmp_kid(gconstpointer a, gconstpointer b)
{
	const struct key *x = *(const struct key *const *)a, *y = *(const struct key *const *)b;
	return strcmp(x->kid, y->kid);
}

static int
load_hs_keys(struct token_keys *k, GError **error)
{
	if (g_mkdir_with_parents(k->dir, 0700) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot create %s: %s", k->dir, g_strerror(errno));
		return -1;
	}
	GDir *d = g_dir_open(k->dir, 0, error);
	if (!d) {
		return -1;
	}
	const char *name;
	while ((name = g_dir_read_name(d))) {
		if (!g_str_has_prefix(name, "jwt-") || !g_str_has_suffix(name, ".key")) {
			continue;
		}
		char *kid = g_strndup(name + 4, strlen(name) - 8);
		char *path = g_build_filename(k->dir, name, NULL);
		struct stat st;
		if (stat(path, &st) == 0 && (st.st_mode & 077)) {
			td_warn(MOD, "token key readable by others; fixing its mode", "kid=%s", kid);
			chmod(path, 0600);
		}
		struct key *key = hs_key_read(path, kid);
		if (key) {
			g_ptr_array_add(k->keys, key);
		} else {
			td_warn(MOD, "ignoring an unreadable token key", "kid=%s", kid);
		}
		g_free(path);
		g_free(kid);
	}
	g_dir_close(d);
	g_ptr_array_sort(k->keys, cmp_kid);
	if (k->keys->len == 0) {
		struct key *key = hs_key_create(k->dir, error);
		if (!key) {
			return -1;
		}
		g_ptr_array_add(k->keys, key);
	}
	return 0;
}

static int
load_pem_keys(struct token_keys *k, const struct token_options *o, GError **error)
{
	char *priv = NULL, *pub = NULL;
	gsize priv_len = 0, pub_len = 0;
	if (!o->private_key || !o->public_key) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
			    "the %s algorithm needs a private and a public key file", k->alg_name);
		return -1;
	}
	if (!g_file_get_contents(o->private_key, &priv, &priv_len, error) ||
	    !g_file_get_contents(o->public_key, &pub, &pub_len, error)) {
		g_free(priv);
		return -1;
	}
	unsigned char h[crypto_generichash_BYTES];
	char hex[sizeof(h) * 2 + 1];
	crypto_generichash(h, sizeof(h), (unsigned char *)pub, pub_len, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, 8);
	struct key *key = g_new0(struct key, 1);
	key->kid = g_strdup(hex);
	key->bytes = sodium_malloc(pub_len + 1);
	memcpy(key->bytes, pub, pub_len + 1);
	key->len = pub_len;
	key->sign = (unsigned char *)priv;
	key->sign_len = priv_len;
	g_free(pub);
	g_ptr_array_add(k->keys, key);
	return 0;
}

struct token_keys *
token_keys_load(const char *data_dir, const struct token_options *opts, GError **error)
{
	if (sodium_init() < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "libsodium failed to start");
		return NULL;
	}
	struct token_keys *k = g_new0(struct token_keys, 1);
	k->alg = jwt_str_alg(opts->alg ? opts->alg : "HS256");
	/* The canonical spelling: headers are compared with it exactly. */
	k->alg_name = g_strdup(k->alg != JWT_ALG_INVAL ? jwt_alg_str(k->alg) : "?");
	k->issuer = g_strdup(opts->issuer ? opts->issuer : "tiepdan");
	k->audience = g_strdup(opts->audience ? opts->audience : "tiepdan.v1");
	k->dir = g_build_filename(data_dir, "keys", NULL);
	k->keys = g_ptr_array_new_with_free_func(key_free);
	if (k->alg == JWT_ALG_INVAL || k->alg == JWT_ALG_NONE) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "unsupported token algorithm '%s'", k->alg_name);
		goto fail;
	}
	if ((alg_is_hmac(k->alg) ? load_hs_keys(k, error) : load_pem_keys(k, opts, error)) < 0) {
		goto fail;
	}
	k->signing = g_ptr_array_index(k->keys, k->keys->len - 1);
	if (alg_is_hmac(k->alg)) {
		char *path = g_build_filename(k->dir, "current", NULL);
		char *kid = NULL;
		if (g_file_get_contents(path, &kid, NULL, NULL)) {
			struct key *named = find_key(k, g_strstrip(kid));
			if (named) {
				k->signing = named;
			} else {
				td_warn(MOD, "keys/current names no key; the newest signs", "%s", "");
			}
		}
		g_free(kid);
		g_free(path);
	}
	return k;
fail:
	token_keys_destroy(k);
	return NULL;
}

void
token_keys_destroy(struct token_keys *k)
{
	if (!k) {
		return;
	}
	g_ptr_array_free(k->keys, TRUE);
	g_free(k->alg_name);
	g_free(k->issuer);
	g_free(k->audience);
	g_free(k->dir);
	g_free(k);
}

const char *
token_keys_signing_kid(struct token_keys *k)
{
	return k->signing->kid;
}

void
token_keys_foreach(struct token_keys *k, void (*fn)(const char *kid, void *data), void *data)
{
	for (guint i = 0; i < k->keys->len; i++) {
		fn(((struct key *)g_ptr_array_index(k->keys, i))->kid, data);
	}
}

char *
token_keys_rotate(struct token_keys *k, GError **error)
{
	if (!alg_is_hmac(k->alg)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "keys for %s are configured files; replace them instead", k->alg_name);
		return NULL;
	}
	struct key *key = hs_key_create(k->dir, error);
	if (!key) {
		return NULL;
	}
	/* keys/current names the signing key, whatever the clocks did to the kids' order. */
	char *path = g_build_filename(k->dir, "current", NULL);
	char *text = g_strconcat(key->kid, "\n", NULL);
	gboolean ok = g_file_set_contents_full(path, text, -1,
					       G_FILE_SET_CONTENTS_CONSISTENT |
						       G_FILE_SET_CONTENTS_DURABLE,
					       0600, error);
	g_free(text);
	g_free(path);
	if (!ok) {
		key_free(key);
		return NULL;
	}
	g_ptr_array_add(k->keys, key);
	g_ptr_array_sort(k->keys, cmp_kid);
	k->signing = key;
	return g_strdup(key->kid);
}

char *
token_issue(struct token_keys *k, const char *sub, const char *sid, int64_t now_s, unsigned ttl_s)
{
	jwt_t *jwt = NULL;
	char *out = NULL;
	struct key *key = k->signing;
	unsigned char jti_raw[12];
	char jti[32];

	randombytes_buf(jti_raw, sizeof(jti_raw));
	sodium_bin2base64(jti, sizeof(jti), jti_raw, sizeof(jti_raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (jwt_new(&jwt) != 0) {
		return NULL;
	}
	const unsigned char *sk = key->sign ? key->sign : key->bytes;
	int sk_len = (int)(key->sign ? key->sign_len : key->len);
	if (jwt_set_alg(jwt, k->alg, sk, sk_len) != 0 || jwt_add_header(jwt, "kid", key->kid) != 0 ||
	    jwt_add_grant(jwt, "iss", k->issuer) != 0 ||
	    jwt_add_grant(jwt, "aud", k->audience) != 0 || jwt_add_grant(jwt, "sub", sub) != 0 ||
	    jwt_add_grant(jwt, "sid", sid) != 0 ||
	    jwt_add_grant(jwt, "jti", jti) != 0 || jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
	    jwt_add_grant_int(jwt, "nbf", (long)now_s) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) != 0) {
		goto out;
	}
	char *s = jwt_encode_str(jwt);
	if (s) {
		out = g_strdup(s);
		free(s);
	}
out:
	jwt_free(jwt);
	return out;
}

static json_t *
b64url_json(const char *p, size_t len)
{
	size_t cap = len * 3 / 4 + 3, n = 0;
	unsigned char *bin = g_malloc(cap + 1);
	json_t *j = NULL;
	if (sodium_base642bin(bin, cap, p, len, NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0) {
		j = json_loadb((const char *)bin, n, JSON_REJECT_DUPLICATES, NULL);
	}
	g_free(bin);
	return j;
}

static struct key *
find_key(struct token_keys *k, const char *kid)
{
	for (guint i = 0; i < k->keys->len; i++) {
		struct key *key = g_ptr_array_index(k->keys, i);
		if (strcmp(key->kid, kid) == 0) {
			return key;
		}
	}
	return NULL;
}

static bool
claim_int(json_t *claims, const char *name, json_int_t *out)
{
	json_t *v = json_object_get(claims, name);
	if (!json_is_integer(v)) {
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

int
token_verify(struct token_keys *k, const char *token, int64_t now_s, char **sub, char **sid,
	     int64_t *exp_s)
{
	jwt_t *jwt = NULL;
	json_t *header = NULL, *claims = NULL;
	int rc = -EINVAL;
	size_t len = token ? strnlen(token, TOKEN_MAX_LEN + 1) : 0;

	if (len == 0 || len > TOKEN_MAX_LEN) {
		return -EINVAL;
	}
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0' || dot1 == token) {
		return -EINVAL;
	}
	for (const char *p = token; *p; p++) {
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.') {
			return -EINVAL;
		}
	}
	/* The header decides nothing: it must name our algorithm and one of our keys. */
	header = b64url_json(token, (size_t)(dot1 - token));
	if (!json_is_object(header)) {
		goto out;
	}
	const char *alg = json_string_value(json_object_get(header, "alg"));
	const char *kid = json_string_value(json_object_get(header, "kid"));
	json_t *typ = json_object_get(header, "typ");
	rc = -EPERM;
	if (!alg || strcmp(alg, k->alg_name) != 0 || !kid ||
	    (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))) {
		goto out;
	}
	struct key *key = find_key(k, kid);
	if (!key || jwt_decode(&jwt, token, key->bytes, (int)key->len) != 0 ||
	    jwt_get_alg(jwt) != k->alg) {
		goto out;
	}
	/* libjwt checked the signature; the claims are checked here with their types. */
	rc = -EACCES;
	claims = b64url_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	json_int_t exp, nbf, iat;
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const char *aud = json_string_value(json_object_get(claims, "aud"));
	const char *s = json_string_value(json_object_get(claims, "sub"));
	const char *session = json_string_value(json_object_get(claims, "sid"));
	if (!json_is_object(claims) || !iss || strcmp(iss, k->issuer) != 0 || !aud ||
	    strcmp(aud, k->audience) != 0 || !s || !*s || !session || !*session ||
	    !claim_int(claims, "exp", &exp) ||
	    !claim_int(claims, "nbf", &nbf) || !claim_int(claims, "iat", &iat)) {
		goto out;
	}
	rc = -ETIMEDOUT;
	/* A minute of leeway for clocks, never for expiry. */
	if (exp <= now_s || nbf > now_s + 60 || iat > now_s + 60) {
		goto out;
	}
	*sub = g_strdup(s);
	*sid = g_strdup(session);
	*exp_s = exp;
	rc = 0;
out:
	if (jwt) {
		jwt_free(jwt);
	}
	json_decref(header);
	json_decref(claims);
	return rc;
}
