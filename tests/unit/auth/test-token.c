/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Access tokens (auth/token.c): issue and verify, every refusal path with its
 * code (-EINVAL malformed, -EPERM algorithm/key/signature, -ETIMEDOUT time,
 * -EACCES claims), key rotation and the key files. Tokens are crafted here
 * with libsodium's HMAC so that header and claims can be anything.
 */
#include "auth/token.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_BYTES 64

struct fx {
	char *dir;
	struct token_keys *k;
	char *kid;
	unsigned char key[KEY_BYTES];
	gint64 now;
};

/* ---- helpers ---- */

static char *
b64url(const void *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = g_malloc(cap);
	sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

static json_t *
b64url_json(const char *p, size_t n)
{
	unsigned char *bin = g_malloc(n + 1);
	size_t len = 0;
	json_t *j = NULL;
	if (sodium_base642bin(bin, n, p, n, NULL, &len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0) {
		j = json_loadb((const char *)bin, len, 0, NULL);
	}
	g_free(bin);
	return j;
}

/* The decoded header (part 0) or claims (part 1) of a token. */
static json_t *
token_part(const char *token, int part)
{
	char **parts = g_strsplit(token, ".", 4);
	g_assert_cmpuint(g_strv_length(parts), ==, 3);
	json_t *j = b64url_json(parts[part], strlen(parts[part]));
	g_strfreev(parts);
	g_assert_nonnull(j);
	return j;
}

static char *
token_kid(const char *token)
{
	json_t *h = token_part(token, 0);
	char *kid = g_strdup(json_string_value(json_object_get(h, "kid")));
	json_decref(h);
	return kid;
}

enum sig { SIG_HS256, SIG_HS512, SIG_NONE, SIG_GARBAGE };

/* base64url(header).base64url(claims).signature, the texts signed exactly as given. */
static char *
craft(const char *header, const char *claims, const unsigned char *key, size_t keylen,
      enum sig sig)
{
	char *h = b64url(header, strlen(header));
	char *c = b64url(claims, strlen(claims));
	char *input = g_strconcat(h, ".", c, NULL);
	char *s = NULL;
	if (sig == SIG_HS256) {
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		crypto_auth_hmacsha256_state st;
		crypto_auth_hmacsha256_init(&st, key, keylen);
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)input, strlen(input));
		crypto_auth_hmacsha256_final(&st, mac);
		s = b64url(mac, sizeof(mac));
	} else if (sig == SIG_HS512) {
		unsigned char mac[crypto_auth_hmacsha512_BYTES];
		crypto_auth_hmacsha512_state st;
		crypto_auth_hmacsha512_init(&st, key, keylen);
		crypto_auth_hmacsha512_update(&st, (const unsigned char *)input, strlen(input));
		crypto_auth_hmacsha512_final(&st, mac);
		s = b64url(mac, sizeof(mac));
	} else if (sig == SIG_GARBAGE) {
		unsigned char junk[256];
		randombytes_buf(junk, sizeof(junk));
		s = b64url(junk, sizeof(junk));
	} else {
		s = g_strdup("");
	}
	char *out = g_strconcat(input, ".", s, NULL);
	g_free(h);
	g_free(c);
	g_free(input);
	g_free(s);
	return out;
}

/* Valid claims at now with optional overrides (a JSON object text merged over them; a
 * member set to null is removed). */
static char *
claims_at(gint64 now, const char *override)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", "tiepdan", "aud",
			      "tiepdan.v1", "sub", "user-1", "sid", "sess-1", "iat",
			      (json_int_t)now, "nbf", (json_int_t)now, "exp",
			      (json_int_t)(now + 600));
	if (override) {
		json_t *o = json_loads(override, 0, NULL);
		g_assert_nonnull(o);
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v)
		{
			if (json_is_null(v)) {
				json_object_del(c, k);
			} else {
				json_object_set(c, k, v);
			}
		}
		json_decref(o);
	}
	char *s = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	char *out = g_strdup(s);
	free(s);
	return out;
}

static char *
header_with(const char *alg, const char *kid, const char *typ)
{
	json_t *h = json_object();
	if (alg) {
		json_object_set_new(h, "alg", json_string(alg));
	}
	if (kid) {
		json_object_set_new(h, "kid", json_string(kid));
	}
	if (typ) {
		json_object_set_new(h, "typ", json_string(typ));
	}
	char *s = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	char *out = g_strdup(s);
	free(s);
	return out;
}

static int
verify(struct fx *f, const char *token, gint64 now)
{
	char *sub = NULL, *sid = NULL;
	int64_t exp = 0;
	int r = token_verify(f->k, token, now, &sub, &sid, &exp);
	if (r != 0) {
		g_assert_null(sub);
		g_assert_null(sid);
	}
	g_free(sub);
	g_free(sid);
	return r;
}

/* Crafts header + claims (override) signed HS256 with the fixture's real key and verifies. */
static int
verify_crafted(struct fx *f, const char *header, const char *override)
{
	char *claims = claims_at(f->now, override);
	char *t = craft(header, claims, f->key, sizeof(f->key), SIG_HS256);
	int r = verify(f, t, f->now);
	g_free(claims);
	g_free(t);
	return r;
}

static char *
key_path(const char *dir, const char *kid)
{
	char *name = g_strdup_printf("jwt-%s.key", kid);
	char *p = g_build_filename(dir, "keys", name, NULL);
	g_free(name);
	return p;
}

static void
read_key(const char *dir, const char *kid, unsigned char out[KEY_BYTES])
{
	char *p = key_path(dir, kid);
	char *hex = NULL;
	gsize n = 0;
	g_assert_true(g_file_get_contents(p, &hex, &n, NULL));
	g_strstrip(hex);
	g_assert_cmpuint(strlen(hex), ==, KEY_BYTES * 2);
	size_t len = 0;
	g_assert_cmpint(sodium_hex2bin(out, KEY_BYTES, hex, strlen(hex), NULL, &len, NULL), ==, 0);
	g_assert_cmpuint(len, ==, KEY_BYTES);
	g_free(hex);
	g_free(p);
}

static struct token_keys *
load(const char *dir, const char *alg)
{
	struct token_options o = {.alg = alg};
	GError *error = NULL;
	struct token_keys *k = token_keys_load(dir, &o, &error);
	g_assert_no_error(error);
	g_assert_nonnull(k);
	return k;
}

static void
rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	if (d) {
		const char *name;
		while ((name = g_dir_read_name(d))) {
			char *child = g_build_filename(path, name, NULL);
			rm_rf(child);
			g_free(child);
		}
		g_dir_close(d);
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}

static void
fx_setup(struct fx *f, gconstpointer unused)
{
	GError *error = NULL;
	f->dir = g_dir_make_tmp("tiepdan-token-XXXXXX", &error);
	g_assert_no_error(error);
	f->k = load(f->dir, "HS256");
	f->now = g_get_real_time() / G_USEC_PER_SEC;
	char *t = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	g_assert_nonnull(t);
	f->kid = token_kid(t);
	g_assert_nonnull(f->kid);
	g_free(t);
	read_key(f->dir, f->kid, f->key);
}

static void
fx_teardown(struct fx *f, gconstpointer unused)
{
	token_keys_destroy(f->k);
	rm_rf(f->dir);
	g_free(f->dir);
	g_free(f->kid);
	sodium_memzero(f->key, sizeof(f->key));
}

/* ---- tests ---- */

static void
test_round_trip(struct fx *f, gconstpointer unused)
{
	char *t = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	g_assert_nonnull(t);
	g_assert_cmpuint(strlen(t), <=, TOKEN_MAX_LEN);

	char *sub = NULL, *sid = NULL;
	int64_t exp = 0;
	g_assert_cmpint(token_verify(f->k, t, f->now, &sub, &sid, &exp), ==, 0);
	g_assert_cmpstr(sub, ==, "user-1");
	g_assert_cmpstr(sid, ==, "sess-1");
	g_assert_cmpint(exp, ==, f->now + 900);
	g_free(sub);
	g_free(sid);

	/* The header names the algorithm, the key and the type. */
	json_t *h = token_part(t, 0);
	g_assert_cmpstr(json_string_value(json_object_get(h, "alg")), ==, "HS256");
	g_assert_cmpstr(json_string_value(json_object_get(h, "typ")), ==, "JWT");
	g_assert_cmpstr(json_string_value(json_object_get(h, "kid")), ==, f->kid);
	json_decref(h);

	json_t *c = token_part(t, 1);
	g_assert_cmpstr(json_string_value(json_object_get(c, "iss")), ==, "tiepdan");
	g_assert_cmpstr(json_string_value(json_object_get(c, "aud")), ==, "tiepdan.v1");
	g_assert_cmpstr(json_string_value(json_object_get(c, "sub")), ==, "user-1");
	g_assert_cmpstr(json_string_value(json_object_get(c, "sid")), ==, "sess-1");
	g_assert_cmpint(json_integer_value(json_object_get(c, "iat")), ==, f->now);
	g_assert_cmpint(json_integer_value(json_object_get(c, "nbf")), ==, f->now);
	g_assert_cmpint(json_integer_value(json_object_get(c, "exp")), ==, f->now + 900);
	json_decref(c);

	/* Valid until the last second before exp; not at exp. */
	g_assert_cmpint(verify(f, t, f->now + 899), ==, 0);
	g_assert_cmpint(verify(f, t, f->now + 900), ==, -ETIMEDOUT);
	g_free(t);

	/* The crafting helpers produce tokens the server accepts: the refusals below are real. */
	char *hdr = header_with("HS256", f->kid, "JWT");
	g_assert_cmpint(verify_crafted(f, hdr, NULL), ==, 0);
	g_free(hdr);
	/* typ is optional. */
	hdr = header_with("HS256", f->kid, NULL);
	g_assert_cmpint(verify_crafted(f, hdr, NULL), ==, 0);
	g_free(hdr);
}

static void
test_malformed(struct fx *f, gconstpointer unused)
{
	static const char *const bad[] = {
		"",
		"abc",
		"a.b",
		"a.b.c.d",
		"a.b.",
		".b.c",
		"..",
		"a..c",
		"eyJhbGciOiJIUzI1NiJ9.e30.a+b",
		"eyJhbGciOiJIUzI1NiJ9.e30.ab==",
		"eyJhbGciOiJIUzI1NiJ9 .e30.abc",
		"eyJhbGciOiJIUzI1NiJ9.e30.ab/c",
		"eyJhbGciOiJIUzI1NiJ9.e30.abc\n",
		"not-json.e30.abc",
	};
	g_assert_cmpint(verify(f, NULL, f->now), ==, -EINVAL);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_test_message("malformed: %s", bad[i]);
		g_assert_cmpint(verify(f, bad[i], f->now), ==, -EINVAL);
	}
	/* A header that is JSON but not an object. */
	char *claims = claims_at(f->now, NULL);
	char *t = craft("[\"HS256\"]", claims, f->key, sizeof(f->key), SIG_HS256);
	g_assert_cmpint(verify(f, t, f->now), ==, -EINVAL);
	g_free(t);
	/* A header with a duplicated member. */
	char *dup = g_strdup_printf("{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"%s\"}", f->kid);
	t = craft(dup, claims, f->key, sizeof(f->key), SIG_HS256);
	g_assert_cmpint(verify(f, t, f->now), ==, -EINVAL);
	g_free(t);
	g_free(dup);
	g_free(claims);

	/* Longer than TOKEN_MAX_LEN, even when otherwise well formed. */
	char *valid = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	GString *big = g_string_new(valid);
	while (big->len <= TOKEN_MAX_LEN) {
		g_string_append_c(big, 'A');
	}
	g_assert_cmpint(verify(f, big->str, f->now), ==, -EINVAL);
	g_string_free(big, TRUE);
	g_free(valid);
}

static void
test_refused_key(struct fx *f, gconstpointer unused)
{
	char *claims = claims_at(f->now, NULL);
	unsigned char other[KEY_BYTES];
	randombytes_buf(other, sizeof(other));
	static const char real_kid[] = "(the real kid)";
	const struct {
		const char *label;
		const char *alg, *kid, *typ;
		bool other_key;
		enum sig sig;
	} cases[] = {
		{"alg none, garbage signature", "none", real_kid, "JWT", false, SIG_GARBAGE},
		{"alg none, real HS256 signature", "none", real_kid, "JWT", false, SIG_HS256},
		{"alg hs256 (case)", "hs256", real_kid, "JWT", false, SIG_HS256},
		{"alg HS512 with the real key", "HS512", real_kid, "JWT", false, SIG_HS512},
		{"alg RS256, garbage signature", "RS256", real_kid, "JWT", false, SIG_GARBAGE},
		{"alg ES256, garbage signature", "ES256", real_kid, "JWT", false, SIG_GARBAGE},
		{"no alg", NULL, real_kid, "JWT", false, SIG_HS256},
		{"no kid", "HS256", NULL, "JWT", false, SIG_HS256},
		{"unknown kid", "HS256", "20200101000000-00000000", "JWT", false, SIG_HS256},
		{"kid a path", "HS256", "../keys/jwt", "JWT", false, SIG_HS256},
		{"typ JWE", "HS256", real_kid, "JWE", false, SIG_HS256},
		{"wrong key, real kid", "HS256", real_kid, "JWT", true, SIG_HS256},
		{"garbage signature", "HS256", real_kid, "JWT", false, SIG_GARBAGE},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("refused: %s", cases[i].label);
		const char *kid = cases[i].kid == real_kid ? f->kid : cases[i].kid;
		char *h = header_with(cases[i].alg, kid, cases[i].typ);
		const unsigned char *key = cases[i].other_key ? other : f->key;
		char *t = craft(h, claims, key, KEY_BYTES, cases[i].sig);
		g_assert_cmpint(verify(f, t, f->now), ==, -EPERM);
		g_free(t);
		g_free(h);
	}
	/* typ not a string. */
	char *h = g_strdup_printf("{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":1}", f->kid);
	char *t = craft(h, claims, f->key, KEY_BYTES, SIG_HS256);
	g_assert_cmpint(verify(f, t, f->now), ==, -EPERM);
	g_free(t);
	g_free(h);

	/* A real token with its claims changed, its signature kept. */
	char *real = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	char **parts = g_strsplit(real, ".", 3);
	char *forged_claims = claims_at(f->now, "{\"sub\":\"admin\"}");
	char *enc = b64url(forged_claims, strlen(forged_claims));
	char *tampered = g_strjoin(".", parts[0], enc, parts[2], NULL);
	g_assert_cmpint(verify(f, tampered, f->now), ==, -EPERM);
	/* A real signature moved onto another real token's header and claims. */
	char *real2 = token_issue(f->k, "user-2", "sess-2", f->now, 900);
	char **parts2 = g_strsplit(real2, ".", 3);
	char *swapped = g_strjoin(".", parts2[0], parts2[1], parts[2], NULL);
	g_assert_cmpint(verify(f, swapped, f->now), ==, -EPERM);
	/* Truncated signature. */
	char *cut = g_strndup(real, strlen(real) - 3);
	g_assert_cmpint(verify(f, cut, f->now), ==, -EPERM);

	/* A token of another key ring (another data directory) is refused. */
	GError *error = NULL;
	char *dir2 = g_dir_make_tmp("tiepdan-token2-XXXXXX", &error);
	g_assert_no_error(error);
	struct token_keys *k2 = load(dir2, "HS256");
	char *foreign = token_issue(k2, "user-1", "sess-1", f->now, 900);
	g_assert_cmpint(verify(f, foreign, f->now), ==, -EPERM);
	token_keys_destroy(k2);
	rm_rf(dir2);

	g_free(dir2);
	g_free(foreign);
	g_free(cut);
	g_free(swapped);
	g_strfreev(parts2);
	g_free(real2);
	g_free(tampered);
	g_free(enc);
	g_free(forged_claims);
	g_strfreev(parts);
	g_free(real);
	g_free(claims);
}

static void
test_refused_time(struct fx *f, gconstpointer unused)
{
	char *h = header_with("HS256", f->kid, "JWT");
	char *o;

	o = g_strdup_printf("{\"iat\":%" G_GINT64_FORMAT ",\"nbf\":%" G_GINT64_FORMAT
			    ",\"exp\":%" G_GINT64_FORMAT "}",
			    f->now - 7200, f->now - 7200, f->now - 3600);
	g_assert_cmpint(verify_crafted(f, h, o), ==, -ETIMEDOUT); /* expired an hour ago */
	g_free(o);
	o = g_strdup_printf("{\"exp\":%" G_GINT64_FORMAT "}", f->now);
	g_assert_cmpint(verify_crafted(f, h, o), ==, -ETIMEDOUT); /* expires this second */
	g_free(o);
	o = g_strdup_printf("{\"nbf\":%" G_GINT64_FORMAT ",\"exp\":%" G_GINT64_FORMAT "}",
			    f->now + 3600, f->now + 7200);
	g_assert_cmpint(verify_crafted(f, h, o), ==, -ETIMEDOUT); /* not valid for an hour */
	g_free(o);
	o = g_strdup_printf("{\"iat\":%" G_GINT64_FORMAT ",\"exp\":%" G_GINT64_FORMAT "}",
			    f->now + 3600, f->now + 7200);
	g_assert_cmpint(verify_crafted(f, h, o), ==, -ETIMEDOUT); /* issued in an hour */
	g_free(o);
	/* A little clock skew on nbf is tolerated, as documented (a minute). */
	o = g_strdup_printf("{\"nbf\":%" G_GINT64_FORMAT "}", f->now + 30);
	g_assert_cmpint(verify_crafted(f, h, o), ==, 0);
	g_free(o);
	/* An issued token, checked before its nbf, is refused too. */
	char *t = token_issue(f->k, "user-1", "sess-1", f->now + 3600, 900);
	g_assert_cmpint(verify(f, t, f->now), ==, -ETIMEDOUT);
	g_free(t);
	g_free(h);
}

static void
test_refused_claims(struct fx *f, gconstpointer unused)
{
	static const char *const overrides[] = {
		"{\"iss\":\"evil\"}",
		"{\"iss\":null}",
		"{\"iss\":1}",
		"{\"aud\":\"tiepdan.v2\"}",
		"{\"aud\":null}",
		"{\"aud\":[\"other\"]}",
		"{\"sub\":null}",
		"{\"sub\":\"\"}",
		"{\"sub\":42}",
		"{\"sid\":null}",
		"{\"sid\":\"\"}",
		"{\"sid\":true}",
		"{\"exp\":null}",
		"{\"exp\":\"9999999999\"}",
		"{\"exp\":9999999999.5}",
		"{\"nbf\":null}",
		"{\"nbf\":\"0\"}",
		"{\"iat\":null}",
		"{\"iat\":false}",
	};
	char *h = header_with("HS256", f->kid, "JWT");
	for (size_t i = 0; i < G_N_ELEMENTS(overrides); i++) {
		g_test_message("claims: %s", overrides[i]);
		g_assert_cmpint(verify_crafted(f, h, overrides[i]), ==, -EACCES);
	}
	/* Claims that are not an object, or not JSON, behind a valid signature. */
	static const char *const raw[] = {"[]", "\"tiepdan\"", "not json", "{}"};
	for (size_t i = 0; i < G_N_ELEMENTS(raw); i++) {
		char *t = craft(h, raw[i], f->key, KEY_BYTES, SIG_HS256);
		int r = verify(f, t, f->now);
		g_test_message("claims text %s → %d", raw[i], r);
		/* libjwt itself may refuse a body that is not a JSON object while decoding. */
		g_assert_true(r == -EACCES || r == -EPERM);
		g_free(t);
	}
	g_free(h);
}

static void
test_rotation(struct fx *f, gconstpointer unused)
{
	char *t1 = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	GError *error = NULL;
	char *prev_kid = g_strdup(f->kid);
	GPtrArray *tokens = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(tokens, g_strdup(t1));

	/* Several rotations in a row (likely within one second): each new key signs at once. */
	char *last_kid = NULL;
	for (int i = 0; i < 6; i++) {
		char *kid = token_keys_rotate(f->k, &error);
		g_assert_no_error(error);
		g_assert_nonnull(kid);
		g_assert_cmpstr(kid, !=, prev_kid);
		char *t = token_issue(f->k, "user-1", "sess-1", f->now, 900);
		char *used = token_kid(t);
		g_test_message("rotation %d: new kid %s, token kid %s", i, kid, used);
		g_assert_cmpstr(used, ==, kid);
		g_ptr_array_add(tokens, t);
		g_free(used);
		g_free(prev_kid);
		prev_kid = g_strdup(kid);
		g_free(last_kid);
		last_kid = kid;
	}
	/* Every token ever issued still verifies. */
	for (guint i = 0; i < tokens->len; i++) {
		g_assert_cmpint(verify(f, tokens->pdata[i], f->now), ==, 0);
	}

	/* After a restart (a new load of the same folder): all verify; the newest key signs. */
	token_keys_destroy(f->k);
	f->k = load(f->dir, "HS256");
	for (guint i = 0; i < tokens->len; i++) {
		g_assert_cmpint(verify(f, tokens->pdata[i], f->now), ==, 0);
	}
	char *t = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	char *used = token_kid(t);
	g_assert_cmpstr(used, ==, last_kid);
	g_free(used);
	g_free(t);

	/* Retiring the first key (deleting its file) invalidates its tokens only. */
	char *p = key_path(f->dir, f->kid);
	g_assert_cmpint(g_unlink(p), ==, 0);
	g_free(p);
	token_keys_destroy(f->k);
	f->k = load(f->dir, "HS256");
	g_assert_cmpint(verify(f, t1, f->now), ==, -EPERM);
	g_assert_cmpint(verify(f, tokens->pdata[tokens->len - 1], f->now), ==, 0);

	g_ptr_array_free(tokens, TRUE);
	g_free(last_kid);
	g_free(prev_kid);
	g_free(t1);
}

/*
 * The key a rotation adds signs from then on, whatever the names of the keys already there:
 * here one whose kid sorts after any new one (as written by a clock that ran ahead).
 */
static void
test_rotation_after_odd_kid(struct fx *f, gconstpointer unused)
{
	char *p = key_path(f->dir, "99990101000000-ffffffff");
	char hex[KEY_BYTES * 2 + 2];
	unsigned char raw[KEY_BYTES];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	g_assert_true(g_file_set_contents(p, hex, -1, NULL));
	g_assert_cmpint(g_chmod(p, 0600), ==, 0);
	token_keys_destroy(f->k);
	f->k = load(f->dir, "HS256");

	GError *error = NULL;
	char *kid = token_keys_rotate(f->k, &error);
	g_assert_no_error(error);
	char *t = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	char *used = token_kid(t);
	g_test_message("rotated to %s; a new token names %s", kid, used);
	g_assert_cmpstr(used, ==, kid);
	g_assert_cmpint(verify(f, t, f->now), ==, 0);
	g_free(used);
	g_free(t);
	g_free(kid);
	g_free(p);
}

static void
test_key_files(struct fx *f, gconstpointer unused)
{
	struct stat st;
	char *keys = g_build_filename(f->dir, "keys", NULL);
	g_assert_cmpint(g_stat(keys, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	char *p = key_path(f->dir, f->kid);
	g_assert_cmpint(g_stat(p, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* A rotated key is written 0600 too. */
	GError *error = NULL;
	char *kid2 = token_keys_rotate(f->k, &error);
	g_assert_no_error(error);
	char *p2 = key_path(f->dir, kid2);
	g_assert_cmpint(g_stat(p2, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* A key left readable by others is fixed at load. */
	g_assert_cmpint(g_chmod(p, 0644), ==, 0);
	token_keys_destroy(f->k);
	f->k = load(f->dir, "HS256");
	g_assert_cmpint(g_stat(p, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* A garbage key file is ignored, not fatal; the others keep working. */
	char *junk = g_build_filename(keys, "jwt-junk.key", NULL);
	g_assert_true(g_file_set_contents(junk, "zz not hex\n", -1, NULL));
	token_keys_destroy(f->k);
	f->k = load(f->dir, "HS256");
	char *t = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	g_assert_cmpint(verify(f, t, f->now), ==, 0);
	char *h = header_with("HS256", "junk", "JWT");
	char *claims = claims_at(f->now, NULL);
	char *forged = craft(h, claims, (const unsigned char *)"", 0, SIG_HS256);
	g_assert_cmpint(verify(f, forged, f->now), ==, -EPERM);

	g_free(forged);
	g_free(claims);
	g_free(h);
	g_free(t);
	g_free(junk);
	g_free(p2);
	g_free(kid2);
	g_free(p);
	g_free(keys);
}

static void
test_algorithms(struct fx *f, gconstpointer unused)
{
	static const char *const bad[] = {"none", "None", "HS999", "", "RS"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct token_options o = {.alg = bad[i]};
		GError *error = NULL;
		struct token_keys *k = token_keys_load(f->dir, &o, &error);
		g_test_message("alg '%s'", bad[i]);
		g_assert_null(k);
		g_assert_nonnull(error);
		g_error_free(error);
	}
	/* RS256 without key files is refused too. */
	struct token_options o = {.alg = "RS256"};
	GError *error = NULL;
	g_assert_null(token_keys_load(f->dir, &o, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);

	/* An HS512 ring over the same key files: its own tokens verify, HS256 ones do not,
	 * and the other way round — the configured algorithm is pinned. */
	struct token_keys *k512 = load(f->dir, "HS512");
	char *t512 = token_issue(k512, "user-1", "sess-1", f->now, 900);
	char *t256 = token_issue(f->k, "user-1", "sess-1", f->now, 900);
	json_t *h = token_part(t512, 0);
	g_assert_cmpstr(json_string_value(json_object_get(h, "alg")), ==, "HS512");
	json_decref(h);
	char *sub = NULL, *sid = NULL;
	int64_t exp = 0;
	g_assert_cmpint(token_verify(k512, t512, f->now, &sub, &sid, &exp), ==, 0);
	g_free(sub);
	g_free(sid);
	sub = sid = NULL;
	g_assert_cmpint(token_verify(k512, t256, f->now, &sub, &sid, &exp), ==, -EPERM);
	g_assert_cmpint(verify(f, t512, f->now), ==, -EPERM);
	token_keys_destroy(k512);
	g_free(t512);
	g_free(t256);
}

/* Whatever spelling of an algorithm the ring accepts, it verifies its own tokens. */
static void
test_alg_spelling(struct fx *f, gconstpointer unused)
{
	static const char *const names[] = {"hs256", "Hs512", "hS384"};
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		struct token_options o = {.alg = names[i]};
		GError *error = NULL;
		struct token_keys *k = token_keys_load(f->dir, &o, &error);
		if (!k) {
			g_test_message("alg '%s' refused: %s", names[i], error->message);
			g_clear_error(&error);
			continue;
		}
		char *t = token_issue(k, "user-1", "sess-1", f->now, 900);
		char *sub = NULL, *sid = NULL;
		int64_t exp = 0;
		int r = token_verify(k, t, f->now, &sub, &sid, &exp);
		g_test_message("alg '%s' accepted; its own token verifies: %d", names[i], r);
		g_assert_cmpint(r, ==, 0);
		g_free(sub);
		g_free(sid);
		g_free(t);
		token_keys_destroy(k);
	}
}

/* See tests/unit/portal/test-store.c: GLib leaks the old user dirs on purpose. */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:g_set_user_dirs\n";
}

#define FX_TEST(path, fn) g_test_add(path, struct fx, NULL, fx_setup, fn, fx_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_assert_cmpint(sodium_init(), >=, 0);
	/* A failed check marks its test failed and the others still run and report. */
	g_test_set_nonfatal_assertions();

	FX_TEST("/token/round-trip", test_round_trip);
	FX_TEST("/token/malformed", test_malformed);
	FX_TEST("/token/refused-key", test_refused_key);
	FX_TEST("/token/refused-time", test_refused_time);
	FX_TEST("/token/refused-claims", test_refused_claims);
	FX_TEST("/token/key-files", test_key_files);
	FX_TEST("/token/algorithms", test_algorithms);
	FX_TEST("/token/rotation", test_rotation);
	FX_TEST("/token/rotation-after-odd-kid", test_rotation_after_odd_kid);
	FX_TEST("/token/alg-spelling", test_alg_spelling);
	return g_test_run();
}
