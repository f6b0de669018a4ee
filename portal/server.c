/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include <unistd.h>

#include "metrics.h"
#include "td-config.h"
#include "tiepdan/files.h"
#include "tiepdan/log.h"

/* One queued outgoing message, with the headroom lws_write() needs in front. */
struct outmsg {
	size_t len;
	unsigned char buf[];
};

struct conn {
	struct server *server;
	uint64_t id;
	struct lws *wsi;
	GQueue out; /* of struct outmsg* */
	size_t out_bytes;
	GByteArray *rx; /* a message being reassembled from fragments */
	struct rpc_client *client;
	bool closing;  /* close with 1001 once the queue is empty */
	bool close_sent; /* the close frame is on its way: wait for the client's answer */
	bool dropping; /* being killed: nothing more is queued */
};

/* Per-wsi data: an HTTP response in progress, or the WebSocket connection. */
struct pss {
	struct conn *conn;
	GString *body; /* a dynamic HTTP response body */
	size_t sent;
	bool hang_up; /* close once the response is out (a request whose body we did not read) */
	struct files_upload *upload; /* POST /api/files in progress */
	uint64_t req_id;             /* a response that will come later (the upload's commit) */
	int fd;                      /* GET /api/files/{id}: the file, pos..end to send */
	off_t pos, end;
};

struct server {
	const struct td_config *cfg;
	GMainLoop *loop;
	struct metrics *metrics;
	const struct server_hooks *hooks;
	void *hooks_data;
	struct rpc *rpc;
	struct files *files;
	GHashTable *pending_http; /* req_id → struct lws* waiting for a late response */
	uint64_t next_req;
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	lws_retry_bo_t retry;
	char *web_root_real;
	GPtrArray *own_origins;
	GHashTable *conns; /* uint64_t* id → struct conn* */
	GHashTable *sockets; /* struct lws* of WebSocket connections not yet destroyed */
	uint64_t next_id;
	bool accepting;
	bool loop_proved;
	lws_sorted_usec_list_t sul_probe;
	/* closing all */
	void (*closed_cb)(void *data);
	void *closed_data;
	guint close_timeout;
};

#define MOD "server"
/* "Bearer " and the longest access token accepted. */
#define TD_HTTP_AUTH_MAX 4112

/* ---- logging from lws ---- */

static void
lws_log_emit(int level, const char *line)
{
	/* lws lines start with a timestamp in brackets and end with a newline. */
	const char *p = line;
	if (*p == '[') {
		const char *q = strchr(p, ']');
		if (q) {
			p = q + 1;
		}
	}
	while (*p == ' ') {
		p++;
	}
	char *msg = g_strchomp(g_strdup(p));
	td_log(level & LLL_ERR ? TD_LOG_ERROR : TD_LOG_WARN, "lws", msg, "%s", "");
	g_free(msg);
}

/* ---- connections ---- */

static void
conn_free_queue(struct conn *c)
{
	struct outmsg *m;
	while ((m = g_queue_pop_head(&c->out))) {
		g_free(m);
	}
	c->out_bytes = 0;
}

/* Kills a connection that broke the rules; lws closes it from its own loop turn. */
static void
conn_drop(struct conn *c, const char *reason)
{
	if (c->dropping) {
		return;
	}
	c->dropping = true;
	conn_free_queue(c);
	td_warn(MOD, "connection dropped", "conn=%" G_GUINT64_FORMAT " reason=%s", c->id, reason);
	metrics_connection_dropped(c->server->metrics, reason);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
}

static int
server_send(void *data, uint64_t client_id, const char *text, size_t len)
{
	struct server *s = data;
	struct conn *c = g_hash_table_lookup(s->conns, &client_id);
	if (!c || c->dropping) {
		return -ENOTCONN;
	}
	if (c->out_bytes + len > s->cfg->queue_limit) {
		conn_drop(c, "queue_overflow");
		return -ENOBUFS;
	}
	struct outmsg *m = g_malloc(sizeof(*m) + LWS_PRE + len);
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	g_queue_push_tail(&c->out, m);
	c->out_bytes += len;
	if (c->out.length == 1) {
		lws_callback_on_writable(c->wsi);
	}
	return 0;
}

static const struct rpc_io server_io = {
	.version = RPC_IO_VERSION,
	.send = server_send,
};

const struct rpc_io *
server_rpc_io(void)
{
	return &server_io;
}

void
server_set_rpc(struct server *s, struct rpc *rpc)
{
	s->rpc = rpc;
}

void
server_set_files(struct server *s, struct files *files)
{
	s->files = files;
}

/*
 * Connections are gone when lws has destroyed their sockets, not merely
 * reported them closed: lws still sends the close frame and waits for the
 * client's answer after LWS_CALLBACK_CLOSED, and stopping the loop earlier
 * would reset sockets with unread data and lose the 1001.
 */
static void
maybe_all_closed(struct server *s)
{
	if (s->closed_cb && g_hash_table_size(s->conns) == 0 &&
	    g_hash_table_size(s->sockets) == 0) {
		void (*cb)(void *) = s->closed_cb;
		s->closed_cb = NULL;
		if (s->close_timeout) {
			g_source_remove(s->close_timeout);
			s->close_timeout = 0;
		}
		cb(s->closed_data);
	}
}

static struct conn *
conn_create(struct server *s, struct lws *wsi)
{
	struct conn *c = g_new0(struct conn, 1);
	c->server = s;
	c->id = ++s->next_id;
	c->wsi = wsi;
	g_queue_init(&c->out);
	g_hash_table_insert(s->conns, &c->id, c);
	c->client = rpc_client_create(s->rpc, c->id);
	char peer[64];
	if (lws_get_peer_simple(wsi, peer, sizeof(peer))) {
		rpc_client_set_peer(c->client, peer);
	}
	metrics_connection_opened(s->metrics);
	td_debug(MOD, "connection opened", "conn=%" G_GUINT64_FORMAT, c->id);
	return c;
}

static void
conn_destroy(struct conn *c)
{
	struct server *s = c->server;
	td_debug(MOD, "connection closed", "conn=%" G_GUINT64_FORMAT, c->id);
	rpc_client_destroy(c->client);
	conn_free_queue(c);
	if (c->rx) {
		g_byte_array_free(c->rx, TRUE);
	}
	g_hash_table_remove(s->conns, &c->id);
	metrics_connection_closed(s->metrics);
	g_free(c);
	maybe_all_closed(s);
}

/*
 * A message is complete when this is the final fragment and nothing of the
 * current frame is left. Fragments are gathered in c->rx; a message that
 * fits one callback is dispatched from lws's buffer without a copy. The size
 * limit counts what is buffered, what arrived and what the frame header says
 * is still to come, so an oversized message is refused before it is read.
 */
static int
ws_receive(struct conn *c, const char *in, size_t len)
{
	struct server *s = c->server;
	struct lws *wsi = c->wsi;
	size_t remaining = lws_remaining_packet_payload(wsi);
	size_t buffered = c->rx ? c->rx->len : 0;

	if (c->close_sent) {
		/* Requests that crossed our close frame: read and dropped, never reset. */
		return 0;
	}
	if (lws_frame_is_binary(wsi)) {
		static const char why[] = "text frames only";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *)why,
				 sizeof(why) - 1);
		metrics_connection_dropped(s->metrics, "binary_frame");
		return -1;
	}
	if (buffered + len + remaining > s->cfg->max_message_size) {
		static const char why[] = "message too large";
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
				 sizeof(why) - 1);
		metrics_connection_dropped(s->metrics, "message_too_large");
		td_info(MOD, "message too large", "conn=%" G_GUINT64_FORMAT " bytes=%zu",
			c->id, buffered + len + remaining);
		return -1;
	}
	bool complete = lws_is_final_fragment(wsi) && remaining == 0;
	if (complete && !c->rx) {
		if (s->accepting && !c->dropping) {
			rpc_client_receive(c->client, in, len);
		}
		return 0;
	}
	if (!c->rx) {
		c->rx = g_byte_array_sized_new((guint)MIN(buffered + len + remaining, 65536));
	}
	g_byte_array_append(c->rx, (const guint8 *)in, (guint)len);
	if (complete) {
		GByteArray *msg = c->rx;
		c->rx = NULL;
		if (s->accepting && !c->dropping) {
			rpc_client_receive(c->client, (const char *)msg->data, msg->len);
		}
		g_byte_array_free(msg, TRUE);
	}
	return 0;
}

static int
ws_writeable(struct conn *c)
{
	if (c->dropping) {
		return -1;
	}
	if (c->close_sent) {
		return 0;
	}
	struct outmsg *m = g_queue_pop_head(&c->out);
	if (m) {
		c->out_bytes -= m->len;
		int n = lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
		bool ok = n >= 0 && (size_t)n >= m->len;
		g_free(m);
		if (!ok) {
			return -1;
		}
		if (c->out.length > 0 || c->closing) {
			lws_callback_on_writable(c->wsi);
		}
		return 0;
	}
	if (c->closing) {
		static const char why[] = "server shutting down";
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)why,
				 sizeof(why) - 1);
		c->close_sent = true;
		return -1;
	}
	return 0;
}

/* ---- HTTP ---- */

static const struct {
	const char *ext;
	const char *mime;
} mime_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".htm", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".webmanifest", "application/manifest+json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".jpg", "image/jpeg"},
	{".jpeg", "image/jpeg"},
	{".gif", "image/gif"},
	{".webp", "image/webp"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
	{".woff2", "font/woff2"},
	{".woff", "font/woff"},
	{".webm", "video/webm"},
	{".pdf", "application/pdf"},
	{".map", "application/json"},
};

static const char *
mime_for(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot && !strchr(dot, '/')) {
		for (size_t i = 0; i < G_N_ELEMENTS(mime_types); i++) {
			if (g_ascii_strcasecmp(dot, mime_types[i].ext) == 0) {
				return mime_types[i].mime;
			}
		}
	}
	return "application/octet-stream";
}

static int
http_respond(struct server *s, struct lws *wsi, struct pss *pss, int status,
	     const char *content_type, GString *body /* transfer full */)
{
	unsigned char buf[LWS_PRE + 2048];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;

	metrics_http_request(s->metrics, status);
	if (lws_add_http_common_headers(wsi, (unsigned int)status, content_type, body->len, &p,
					end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end)) {
		g_string_free(body, TRUE);
		return -1;
	}
	pss->body = body;
	pss->sent = 0;
	lws_callback_on_writable(wsi);
	return 0;
}

static int
http_json(struct server *s, struct lws *wsi, struct pss *pss, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	GString *b = g_string_new(text);
	free(text);
	g_string_append_c(b, '\n');
	return http_respond(s, wsi, pss, status, "application/json", b);
}

static int
http_error(struct server *s, struct lws *wsi, struct pss *pss, int status, const char *text)
{
	GString *b = g_string_new(text);
	g_string_append_c(b, '\n');
	return http_respond(s, wsi, pss, status, "text/plain; charset=utf-8", b);
}

/* One chunk of a file download per writeable callback. */
static int
file_writeable(struct lws *wsi, struct pss *pss)
{
	unsigned char buf[LWS_PRE + 32768];
	size_t want = (size_t)MIN((off_t)(sizeof(buf) - LWS_PRE), pss->end - pss->pos);
	ssize_t n = pread(pss->fd, buf + LWS_PRE, want, pss->pos);
	if (n <= 0) {
		return -1;
	}
	pss->pos += n;
	bool final = pss->pos >= pss->end;
	if (lws_write(wsi, buf + LWS_PRE, (size_t)n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
	    (int)n) {
		return -1;
	}
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	close(pss->fd);
	pss->fd = -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
http_writeable(struct lws *wsi, struct pss *pss)
{
	unsigned char buf[LWS_PRE + 16384];
	if (!pss->body) {
		return pss->fd > 0 ? file_writeable(wsi, pss) : 0;
	}
	size_t n = MIN(pss->body->len - pss->sent, sizeof(buf) - LWS_PRE);
	bool final = pss->sent + n == pss->body->len;
	memcpy(buf + LWS_PRE, pss->body->str + pss->sent, n);
	if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
	    (int)n) {
		return -1;
	}
	pss->sent += n;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	g_string_free(pss->body, TRUE);
	pss->body = NULL;
	if (pss->hang_up) {
		return -1;
	}
	/* pss may be gone after this: nothing may touch it. */
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
serve_healthz(struct server *s, struct lws *wsi, struct pss *pss)
{
	const char *db = "ok", *media = "ok";
	if (s->hooks && s->hooks->check_db && s->hooks->check_db(s->hooks_data) < 0) {
		db = "down";
	}
	if (s->hooks && s->hooks->check_media && s->hooks->check_media(s->hooks_data) < 0) {
		media = "down";
	}
	bool ok = strcmp(db, "ok") == 0 && strcmp(media, "ok") == 0;
	GString *b = g_string_new(NULL);
	g_string_printf(b, "{\"status\":\"%s\",\"db\":\"%s\",\"media\":\"%s\"}\n",
			ok ? "ok" : "down", db, media);
	if (!ok) {
		td_warn(MOD, "health check failed", "db=%s media=%s", db, media);
	}
	return http_respond(s, wsi, pss, ok ? 200 : 503, "application/json", b);
}

/*
 * Static files of web/. lws hands over the URI already %-decoded; anything
 * with a ".." segment, a backslash or a NUL is refused outright, and the
 * resolved path must still lie inside the web root, so neither encoding
 * tricks nor symbolic links lead out of it. Directories serve their
 * index.html and are never listed.
 */
static int
serve_static(struct server *s, struct lws *wsi, struct pss *pss, const char *uri)
{
	char resolved[PATH_MAX];
	struct stat st;

	if (uri[0] != '/' || strstr(uri, "..") || strchr(uri, '\\') || strlen(uri) > 1024) {
		return http_error(s, wsi, pss, 404, "not found");
	}
	char *path = g_build_filename(s->web_root_real, uri, NULL);
	if (!realpath(path, resolved) || !g_str_has_prefix(resolved, s->web_root_real) ||
	    (resolved[strlen(s->web_root_real)] != '/' &&
	     resolved[strlen(s->web_root_real)] != '\0')) {
		g_free(path);
		return http_error(s, wsi, pss, 404, "not found");
	}
	g_free(path);
	if (stat(resolved, &st) == 0 && S_ISDIR(st.st_mode)) {
		g_strlcat(resolved, "/index.html", sizeof(resolved));
		if (stat(resolved, &st) != 0) {
			return http_error(s, wsi, pss, 404, "not found");
		}
	}
	if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode) || access(resolved, R_OK) != 0) {
		return http_error(s, wsi, pss, 404, "not found");
	}
	static const char extra[] = "cache-control: no-cache\r\n";
	metrics_http_request(s->metrics, 200);
	int n = lws_serve_http_file(wsi, resolved, mime_for(resolved), extra, sizeof(extra) - 1);
	if (n < 0) {
		return -1;
	}
	if (n > 0 && lws_http_transaction_completed(wsi)) {
		return -1;
	}
	return 0;
}

static void
upload_answered(int status, json_t *body, void *data)
{
	struct server *s = ((void **)data)[0];
	uint64_t id = (uint64_t)(uintptr_t)((void **)data)[1];
	g_free(data);
	struct lws *wsi = g_hash_table_lookup(s->pending_http, &id);
	if (!wsi) {
		json_decref(body); /* the client went away; the file is stored all the same */
		return;
	}
	g_hash_table_remove(s->pending_http, &id);
	struct pss *pss = lws_wsi_user(wsi);
	pss->req_id = 0;
	pss->upload = NULL;
	if (http_json(s, wsi, pss, status, body) < 0) {
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_REASON_BASE, LWS_TO_KILL_ASYNC);
	}
}

/* POST /api/files: the bearer token and the declared type, then the body arrives. */
static int
upload_begin(struct server *s, struct lws *wsi, struct pss *pss)
{
	char auth[TD_HTTP_AUTH_MAX], type[128], len[32];
	pss->hang_up = true;
	if (!s->files || !s->hooks || !s->hooks->identify) {
		return http_error(s, wsi, pss, 503, "uploads are not available");
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) >= (int)sizeof(auth) ||
	    lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 7 ||
	    g_ascii_strncasecmp(auth, "Bearer ", 7) != 0) {
		return http_json(s, wsi, pss, 401, json_pack("{s:s}", "error", "unauthenticated"));
	}
	char *user = s->hooks->identify(s->hooks_data, auth + 7);
	sodium_memzero(auth, sizeof(auth));
	if (!user) {
		return http_json(s, wsi, pss, 401, json_pack("{s:s}", "error", "unauthenticated"));
	}
	if (lws_hdr_copy(wsi, type, sizeof(type), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0) {
		type[0] = '\0';
	}
	int64_t length = -1;
	if (lws_hdr_copy(wsi, len, sizeof(len), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		length = g_ascii_strtoll(len, NULL, 10);
	}
	int status = 0;
	pss->upload = files_upload_begin(s->files, user, type, length, &status);
	g_free(user);
	if (!pss->upload) {
		return http_json(s, wsi, pss, status,
				 json_pack("{s:s}", "error",
					   status == 415   ? "unsupported_type"
					   : status == 413 ? "too_large"
							   : "internal"));
	}
	pss->hang_up = false;
	return 0;
}

static int
upload_body(struct server *s, struct lws *wsi, struct pss *pss, const void *in, size_t len)
{
	if (!pss->upload) {
		return 0; /* a refused upload: the answer is on its way, the rest is dropped */
	}
	int status = files_upload_write(pss->upload, in, len);
	if (status) {
		files_upload_abort(pss->upload);
		pss->upload = NULL;
		pss->hang_up = true;
		return http_json(s, wsi, pss, status,
				 json_pack("{s:s}", "error", status == 413 ? "too_large" : "internal"));
	}
	return 0;
}

static int
upload_complete(struct server *s, struct lws *wsi, struct pss *pss)
{
	if (!pss->upload) {
		return 0;
	}
	struct files_upload *u = pss->upload;
	pss->req_id = ++s->next_req;
	uint64_t *key = g_new(uint64_t, 1);
	*key = pss->req_id;
	g_hash_table_insert(s->pending_http, key, wsi);
	void **ctx = g_new(void *, 2);
	ctx[0] = s;
	ctx[1] = (void *)(uintptr_t)pss->req_id;
	files_upload_finish(u, upload_answered, ctx);
	return 0;
}

/*
 * GET /api/files/{id}?ticket=T, with one byte range (bytes=a-b, a-, -n) for
 * seeking: 206 with Content-Range, 416 when it cannot be satisfied.
 */
static int
serve_download(struct server *s, struct lws *wsi, struct pss *pss, const char *id)
{
	char ticket[96], range[64];
	const char *t = s->files ? lws_get_urlarg_by_name(wsi, "ticket=", ticket, sizeof(ticket))
				 : NULL;
	bool ranged = lws_hdr_copy(wsi, range, sizeof(range), WSI_TOKEN_HTTP_RANGE) > 0;
	char *path = NULL, *type = NULL;
	if (!t || files_open(s->files, id, t, ranged, &path, &type) < 0) {
		return http_error(s, wsi, pss, 404, "not found");
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	g_free(path);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0) {
			close(fd);
		}
		g_free(type);
		return http_error(s, wsi, pss, 404, "not found");
	}
	off_t size = st.st_size, from = 0, to = size - 1;
	int status = 200;
	if (ranged) {
		char *dash = g_str_has_prefix(range, "bytes=") ? strchr(range + 6, '-') : NULL;
		bool ok = dash && !strchr(range, ',');
		if (ok && dash == range + 6) {
			off_t n = (off_t)g_ascii_strtoll(dash + 1, NULL, 10);
			ok = n > 0;
			from = MAX(size - n, 0);
		} else if (ok) {
			from = (off_t)g_ascii_strtoll(range + 6, NULL, 10);
			if (dash[1]) {
				to = MIN((off_t)g_ascii_strtoll(dash + 1, NULL, 10), size - 1);
			}
		}
		if (!ok || from > to || from >= size) {
			close(fd);
			g_free(type);
			unsigned char buf[LWS_PRE + 512];
			unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
			char cr[64];
			g_snprintf(cr, sizeof(cr), "bytes */%lld", (long long)size);
			metrics_http_request(s->metrics, 416);
			pss->hang_up = false;
			if (lws_add_http_common_headers(wsi, 416, "text/plain", 0, &p, end) ||
			    lws_add_http_header_by_name(wsi, (const unsigned char *)"content-range:",
							(const unsigned char *)cr, (int)strlen(cr),
							&p, end) ||
			    lws_finalize_write_http_header(wsi, start, &p, end)) {
				return -1;
			}
			return lws_http_transaction_completed(wsi) ? -1 : 0;
		}
		status = 206;
	}
	unsigned char buf[LWS_PRE + 1024];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	char cr[96];
	g_snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)from, (long long)to,
		   (long long)size);
	metrics_http_request(s->metrics, status);
	int bad = lws_add_http_common_headers(wsi, (unsigned int)status, type,
					      (lws_filepos_t)(to - from + 1), &p, end) ||
		  lws_add_http_header_by_name(wsi, (const unsigned char *)"accept-ranges:",
					      (const unsigned char *)"bytes", 5, &p, end) ||
		  lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					      (const unsigned char *)"private, no-store", 17, &p,
					      end) ||
		  (status == 206 &&
		   lws_add_http_header_by_name(wsi, (const unsigned char *)"content-range:",
					       (const unsigned char *)cr, (int)strlen(cr), &p,
					       end)) ||
		  lws_finalize_write_http_header(wsi, start, &p, end);
	g_free(type);
	if (bad) {
		close(fd);
		return -1;
	}
	pss->fd = fd;
	pss->pos = from;
	pss->end = to + 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int
http_request(struct server *s, struct lws *wsi, struct pss *pss, const char *uri)
{
	if (strcmp(uri, "/api/files") == 0) {
		if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI)) {
			return upload_begin(s, wsi, pss);
		}
		pss->hang_up = !lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
		return http_error(s, wsi, pss, 405, "method not allowed");
	}
	if (g_str_has_prefix(uri, "/api/files/") && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
		return serve_download(s, wsi, pss, uri + strlen("/api/files/"));
	}
	if (g_str_has_prefix(uri, "/api/calendar/") && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
		char *ics = s->hooks && s->hooks->calendar
				    ? s->hooks->calendar(s->hooks_data, uri + strlen("/api/calendar/"))
				    : NULL;
		if (!ics) {
			return http_error(s, wsi, pss, 404, "not found");
		}
		GString *b = g_string_new(ics);
		g_free(ics);
		return http_respond(s, wsi, pss, 200, "text/calendar; charset=utf-8", b);
	}
	if (g_str_has_prefix(uri, "/api/reports/") && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
		const char *type = NULL;
		GString *b = s->hooks && s->hooks->report
				     ? s->hooks->report(s->hooks_data, uri + strlen("/api/reports/"),
							&type)
				     : NULL;
		if (!b) {
			return http_error(s, wsi, pss, 404, "not found");
		}
		return http_respond(s, wsi, pss, 200, type, b);
	}
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
		/* Only GET is served until uploads arrive; a body may follow, so hang up after. */
		pss->hang_up = true;
		return http_error(s, wsi, pss, 405, "method not allowed");
	}
	if (strcmp(uri, "/healthz") == 0) {
		return serve_healthz(s, wsi, pss);
	}
	if (strcmp(uri, "/api/keys") == 0 && s->hooks && s->hooks->keys) {
		char *keys = s->hooks->keys(s->hooks_data);
		GString *b = g_string_new(keys);
		g_free(keys);
		return http_respond(s, wsi, pss, 200, "application/json", b);
	}
	if (strcmp(uri, "/metrics") == 0) {
		return http_respond(s, wsi, pss, 200, "text/plain; version=0.0.4; charset=utf-8",
				    metrics_render(s->metrics));
	}
	if (strcmp(uri, "/ws") == 0) {
		return http_error(s, wsi, pss, 426, "upgrade to WebSocket required");
	}
	return serve_static(s, wsi, pss, uri);
}

/*
 * The Origin of a browser page is allowed when absent (not a browser), when
 * it is one of the server's own origins (its listen address, 127.0.0.1,
 * localhost or [::1] with its port), or listed in allowed_origins. The Host
 * header is never trusted for this: a DNS-rebinding page would name itself.
 * A deployment behind a public name lists that origin in allowed_origins.
 */
static bool
origin_allowed(struct server *s, struct lws *wsi)
{
	char origin[256];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0) {
		return true;
	}
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0) {
		return false;
	}
	for (char **o = s->cfg->allowed_origins; o && *o; o++) {
		if (g_ascii_strcasecmp(*o, origin) == 0) {
			return true;
		}
	}
	for (guint i = 0; i < s->own_origins->len; i++) {
		if (g_ascii_strcasecmp(s->own_origins->pdata[i], origin) == 0) {
			return true;
		}
	}
	return false;
}

static void
add_own_origins(struct server *s)
{
	const char *scheme = s->cfg->tls_cert ? "https" : "http";
	int port = server_port(s);
	bool default_port = port == (s->cfg->tls_cert ? 443 : 80);
	const char *hosts[] = {"127.0.0.1", "localhost", "[::1]", s->cfg->listen_addr};
	for (size_t i = 0; i < G_N_ELEMENTS(hosts); i++) {
		const char *h = hosts[i];
		char *bracketed = strchr(h, ':') && h[0] != '[' ? g_strdup_printf("[%s]", h)
								: g_strdup(h);
		g_ptr_array_add(s->own_origins,
				g_strdup_printf("%s://%s:%d", scheme, bracketed, port));
		if (default_port) {
			g_ptr_array_add(s->own_origins, g_strdup_printf("%s://%s", scheme, bracketed));
		}
		g_free(bracketed);
	}
}

static int
reject_upgrade(struct server *s, struct lws *wsi, int status, const char *why)
{
	td_info(MOD, "upgrade refused", "status=%d reason=%s", status, why);
	metrics_http_request(s->metrics, status);
	if (lws_return_http_status(wsi, (unsigned int)status, NULL)) {
		return -1;
	}
	return 1;
}

static int
confirm_upgrade(struct server *s, struct lws *wsi)
{
	char uri[64];
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws") != 0) {
		return reject_upgrade(s, wsi, 404, "path");
	}
	if (!origin_allowed(s, wsi)) {
		return reject_upgrade(s, wsi, 403, "origin");
	}
	if (!s->accepting) {
		return reject_upgrade(s, wsi, 503, "stopping");
	}
	if (g_hash_table_size(s->conns) >= s->cfg->max_connections) {
		return reject_upgrade(s, wsi, 503, "max_connections");
	}
	return 0;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct server *s = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return s && !s->accepting ? -1 : 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(s, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		pss->conn = conn_create(s, wsi);
		g_hash_table_add(s->sockets, wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (s && g_hash_table_remove(s->sockets, wsi)) {
			maybe_all_closed(s);
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return pss->conn ? ws_receive(pss->conn, in, len) : 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss->conn ? ws_writeable(pss->conn) : 0;
	case LWS_CALLBACK_CLOSED:
		if (pss->conn) {
			conn_destroy(pss->conn);
			pss->conn = NULL;
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		return http_request(s, wsi, pss, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writeable(wsi, pss);
	case LWS_CALLBACK_HTTP_BODY:
		return upload_body(s, wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return upload_complete(s, wsi, pss);
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss && pss->body) {
			g_string_free(pss->body, TRUE);
			pss->body = NULL;
		}
		if (pss && pss->upload) {
			files_upload_abort(pss->upload);
			pss->upload = NULL;
		}
		if (pss && pss->req_id) {
			g_hash_table_remove(s->pending_http, &pss->req_id);
			pss->req_id = 0;
		}
		if (pss && pss->fd > 0) {
			close(pss->fd);
			pss->fd = -1;
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{TD_PROTOCOL, callback, sizeof(struct pss), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- lifecycle ---- */

static void
probe_fired(lws_sorted_usec_list_t *sul)
{
	struct server *s = lws_container_of(sul, struct server, sul_probe);
	s->loop_proved = true;
}

static gboolean
probe_timeout(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

/*
 * lws on Debian loads its GLib support as a plugin; without it the context
 * either fails or quietly runs its own poll loop that nobody services. An
 * lws timer that fires while only the GLib loop runs proves the loop was
 * taken.
 */
static bool
prove_glib_loop(struct server *s)
{
	bool timed_out = false;
	GMainContext *mc = g_main_loop_get_context(s->loop);
	guint t = g_timeout_add_seconds(3, probe_timeout, &timed_out);
	lws_sul_schedule(s->ctx, 0, &s->sul_probe, probe_fired, 1);
	while (!s->loop_proved && !timed_out) {
		g_main_context_iteration(mc, TRUE);
	}
	if (!timed_out) {
		g_source_remove(t);
	}
	return s->loop_proved;
}

struct server *
server_create(const struct td_config *cfg, GMainLoop *loop, struct metrics *metrics,
	      const struct server_hooks *hooks, void *hooks_data)
{
	struct lws_context_creation_info info;
	char real[PATH_MAX];
	void *foreign[1] = {loop};

	struct server *s = g_new0(struct server, 1);
	s->cfg = cfg;
	s->loop = loop;
	s->metrics = metrics;
	s->hooks = hooks;
	s->hooks_data = hooks_data;
	s->conns = g_hash_table_new(g_int64_hash, g_int64_equal);
	s->sockets = g_hash_table_new(g_direct_hash, g_direct_equal);
	s->pending_http = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	s->own_origins = g_ptr_array_new_with_free_func(g_free);
	s->accepting = true;
	if (!realpath(cfg->web_root, real)) {
		td_warn(MOD, "web root missing; static files will answer 404", "web_root=\"%s\"",
			cfg->web_root);
		g_strlcpy(real, cfg->web_root, sizeof(real));
	}
	s->web_root_real = g_strdup(real);

	/* TIEPDAN_LWS_LOG=<lws log bitmask> shows libwebsockets' own logs (debugging only). */
	const char *lws_log = g_getenv("TIEPDAN_LWS_LOG");
	lws_set_log_level(lws_log ? atoi(lws_log) : LLL_ERR | LLL_WARN, lws_log_emit);

	/* Idle connections are pinged after ping_interval and dropped after twice that. */
	s->retry.secs_since_valid_ping = (uint16_t)MIN(cfg->ping_interval, 30000u);
	s->retry.secs_since_valid_hangup = (uint16_t)MIN(cfg->ping_interval * 2u, 60000u);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_GLIB | LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
		       LWS_SERVER_OPTION_DISABLE_IPV6;
	if (strchr(cfg->listen_addr, ':')) {
		info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
	}
	info.foreign_loops = foreign;
	info.port = cfg->listen_port;
	info.iface = cfg->listen_addr;
	info.protocols = protocols;
	info.vhost_name = "tiepdan";
	info.user = s;
	info.retry_and_idle_policy = &s->retry;
	info.timeout_secs = 10;
	info.fd_limit_per_thread = cfg->max_connections + 64;
	info.server_string = "tiepdan";
	if (cfg->tls_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
	}
	info.options |= LWS_SERVER_OPTION_EXPLICIT_VHOSTS;

	s->ctx = lws_create_context(&info);
	if (!s->ctx) {
		td_error(MOD,
			 "libwebsockets could not start on the GLib loop; install the Debian "
			 "package libwebsockets-evlib-glib",
			 "%s", "");
		goto fail;
	}
	s->vhost = lws_create_vhost(s->ctx, &info);
	if (!s->vhost) {
		td_error(MOD, "cannot listen", "addr=%s port=%d", cfg->listen_addr, cfg->listen_port);
		goto fail;
	}
	add_own_origins(s);
	if (!prove_glib_loop(s)) {
		td_error(MOD,
			 "libwebsockets is not running on the GLib main loop; install the Debian "
			 "package libwebsockets-evlib-glib",
			 "%s", "");
		goto fail;
	}
	return s;
fail:
	server_destroy(s);
	return NULL;
}

int
server_port(struct server *s)
{
	return lws_get_vhost_listen_port(s->vhost);
}

void
server_stop_accepting(struct server *s)
{
	s->accepting = false;
}

static gboolean
close_timed_out(gpointer data)
{
	struct server *s = data;
	s->close_timeout = 0;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->conns);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		conn_drop(v, "shutdown_timeout");
	}
	/* Whatever is left is killed with the context. */
	if (s->closed_cb) {
		void (*cb)(void *) = s->closed_cb;
		s->closed_cb = NULL;
		td_warn(MOD, "connections did not close in time", "left=%u",
			g_hash_table_size(s->sockets));
		cb(s->closed_data);
	}
	return G_SOURCE_REMOVE;
}

void
server_close_all(struct server *s, unsigned timeout_ms, void (*done)(void *data), void *data)
{
	s->closed_cb = done;
	s->closed_data = data;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->conns);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct conn *c = v;
		c->closing = true;
		lws_callback_on_writable(c->wsi);
	}
	if (g_hash_table_size(s->conns) > 0 || g_hash_table_size(s->sockets) > 0) {
		s->close_timeout = g_timeout_add(timeout_ms, close_timed_out, s);
	}
	maybe_all_closed(s);
}

void
server_destroy(struct server *s)
{
	if (!s) {
		return;
	}
	if (s->close_timeout) {
		g_source_remove(s->close_timeout);
	}
	s->closed_cb = NULL;
	if (s->ctx) {
		lws_context_destroy(s->ctx);
		/* Let lws's GLib sources finish closing. */
		GMainContext *mc = g_main_loop_get_context(s->loop);
		while (g_main_context_pending(mc)) {
			g_main_context_iteration(mc, FALSE);
		}
	}
	g_warn_if_fail(g_hash_table_size(s->conns) == 0);
	g_hash_table_destroy(s->conns);
	g_hash_table_destroy(s->sockets);
	g_hash_table_destroy(s->pending_http);
	g_ptr_array_free(s->own_origins, TRUE);
	g_free(s->web_root_real);
	g_free(s);
}
