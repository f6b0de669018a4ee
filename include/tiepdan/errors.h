/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* Wire error codes (PROTOCOL.md §2). The only place they are written. */
enum td_rpc_error {
	TD_ERR_PARSE = -32700,
	TD_ERR_INVALID_REQUEST = -32600,
	TD_ERR_METHOD_NOT_FOUND = -32601,
	TD_ERR_INVALID_PARAMS = -32602,
	TD_ERR_INTERNAL = -32603,
	TD_ERR_UNAUTHENTICATED = -32001,
	TD_ERR_FORBIDDEN = -32002,
	TD_ERR_NOT_FOUND = -32004,
	TD_ERR_CONFLICT = -32009,
	TD_ERR_RATE_LIMITED = -32029,
};

/** The standard message for a code ("Parse error", ...). Never NULL. */
const char *td_rpc_error_message(int code);
