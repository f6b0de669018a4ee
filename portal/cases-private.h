/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* What portal/cases.c shares with its unit test. */

#include <stdbool.h>
#include <stdint.h>

enum {
	KIND_COMPLAINT = 1u << 0,
	KIND_DENUNCIATION = 1u << 1,
	KIND_RECOMMENDATION = 1u << 2,
	KIND_FEEDBACK = 1u << 3,
	KINDS_ALL = 0xf,
	KINDS_NOT_COMPLAINT = KIND_DENUNCIATION | KIND_RECOMMENDATION | KIND_FEEDBACK,
};

/* Who may make a move, besides the method's roles. */
enum actor_rule {
	ACT_HANDLER, /* an official or leader of the responsible agency */
	ACT_LEADER,  /* a leader of the responsible agency */
	ACT_OWNER,   /* the citizen who filed (or co-signed) the petition */
};

struct transition {
	const char *method;
	const char *from[4];
	const char *to; /* NULL: the status stays (a change of data only) */
	uint32_t kinds;
	enum actor_rule actor;
};

const struct transition *case_transition_for(const char *method);
bool case_transition_allowed(const struct transition *t, const char *status, const char *kind);
uint32_t case_kind_bit(const char *kind);
