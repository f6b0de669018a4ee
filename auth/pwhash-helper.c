/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * tiepdan-pwhash: the password helper process.
 *
 * The server's password worker (auth/worker.c) starts this program with a
 * SOCK_SEQPACKET socket as its standard input and sends it one job per
 * message; it answers one message per job. It exists so that argon2 runs in
 * another address space: libsodium maps 64 MiB with MAP_POPULATE for every
 * hash, and while the kernel fills that mapping it holds the process's
 * mmap_lock for tens of milliseconds, so every thread of the same process that
 * maps, unmaps or grows its heap (the event loop, for one) waited for it.
 *
 * Messages (see pwhash-proto.h):
 *   request  'H' len16 password            hash the password
 *            'V' len16 password hash       verify the password against hash
 *   answer   'Y' [hash]   made / matches
 *            'N'          does not match
 *            'E'          bad request or no memory
 *
 * The helper exits when its socket reaches end of file: when the server closes
 * it or dies. It ignores SIGINT and SIGTERM so that a signal to the whole
 * process group lets the server finish the job in flight and close it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/pwhash-proto.h"
#include "tiepdan/password.h"

static ssize_t
answer(const void *buf, size_t len)
{
	ssize_t n;
	do {
		n = send(STDIN_FILENO, buf, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* One job: req[0..len) → out; returns the answer's length. */
static size_t
handle(const unsigned char *req, size_t len, char *out)
{
	char pw[AUTH_PASSWORD_MAX_BYTES + 1];
	char hash[crypto_pwhash_STRBYTES];
	size_t n = 0;

	out[0] = PWHASH_ERROR;
	if (len < PWHASH_HEADER) {
		return 1;
	}
	size_t pw_len = (size_t)req[1] << 8 | req[2];
	if (pw_len > AUTH_PASSWORD_MAX_BYTES || PWHASH_HEADER + pw_len > len) {
		return 1;
	}
	memcpy(pw, req + PWHASH_HEADER, pw_len);
	pw[pw_len] = '\0';
	size_t rest = len - PWHASH_HEADER - pw_len;

	if (req[0] == PWHASH_OP_HASH && rest == 0) {
		if (auth_password_hash(pw, hash) == 0) {
			out[0] = PWHASH_YES;
			n = strlen(hash);
			memcpy(out + 1, hash, n);
		}
		n += 1;
	} else if (req[0] == PWHASH_OP_VERIFY && rest > 0 && rest < crypto_pwhash_STRBYTES) {
		memcpy(hash, req + PWHASH_HEADER + pw_len, rest);
		hash[rest] = '\0';
		out[0] = auth_password_verify(hash, pw) ? PWHASH_YES : PWHASH_NO;
		n = 1;
	} else {
		n = 1;
	}
	sodium_memzero(pw, sizeof(pw));
	return n;
}

int
main(int argc, char **argv)
{
	int type = 0;
	socklen_t tl = sizeof(type);
	if (argc > 1 || getsockopt(STDIN_FILENO, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr, "%s: the password helper of tiepdan; the server starts it\n",
			argv[0]);
		return 2;
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	/* No core file with a password in it; argon2 gives way to everything else. */
	prctl(PR_SET_DUMPABLE, 0);
	if (setpriority(PRIO_PROCESS, 0, 19) != 0) {
		fprintf(stderr, "tiepdan-pwhash: keeps the normal priority\n");
	}
	if (sodium_init() < 0) {
		return 1;
	}

	unsigned char req[PWHASH_REQUEST_MAX];
	char out[PWHASH_ANSWER_MAX];
	for (;;) {
		ssize_t n = recv(STDIN_FILENO, req, sizeof(req), MSG_TRUNC);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return n == 0 ? 0 : 1; /* the server closed the socket, or it broke */
		}
		size_t len = (size_t)n > sizeof(req) ? 0 : (size_t)n; /* truncated: bad request */
		size_t m = handle(req, len, out);
		sodium_memzero(req, sizeof(req));
		if (answer(out, m) < 0) {
			return 1;
		}
		sodium_memzero(out, sizeof(out));
	}
}
