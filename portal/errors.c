/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/errors.h"

const char *
td_rpc_error_message(int code)
{
	switch (code) {
	case TD_ERR_PARSE:
		return "Parse error";
	case TD_ERR_INVALID_REQUEST:
		return "Invalid Request";
	case TD_ERR_METHOD_NOT_FOUND:
		return "Method not found";
	case TD_ERR_INVALID_PARAMS:
		return "Invalid params";
	case TD_ERR_INTERNAL:
		return "Internal error";
	case TD_ERR_UNAUTHENTICATED:
		return "Unauthenticated";
	case TD_ERR_FORBIDDEN:
		return "Forbidden";
	case TD_ERR_NOT_FOUND:
		return "Not found";
	case TD_ERR_CONFLICT:
		return "Conflict";
	case TD_ERR_RATE_LIMITED:
		return "Rate limited";
	default:
		return "Server error";
	}
}
