/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* The messages between the password worker and tiepdan-pwhash (auth/pwhash-helper.c). */

#include <sodium.h>

#include "tiepdan/password.h"

enum {
	PWHASH_OP_HASH = 'H',
	PWHASH_OP_VERIFY = 'V',
	PWHASH_YES = 'Y',
	PWHASH_NO = 'N',
	PWHASH_ERROR = 'E',
};

/* op, then the password's length in two bytes, big-endian. */
#define PWHASH_HEADER 3
#define PWHASH_REQUEST_MAX (PWHASH_HEADER + AUTH_PASSWORD_MAX_BYTES + crypto_pwhash_STRBYTES)
#define PWHASH_ANSWER_MAX (1 + crypto_pwhash_STRBYTES)
