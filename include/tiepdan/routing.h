/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Competence routing (DOMAIN.md §4): which agency settles a petition, and
 * why. The rules are rows of the `routing_rules` table (migration 3), not
 * code: each row has a priority, match columns (NULL = any), a target and an
 * explanation in Vietnamese and English with its legal basis. The engine
 * takes the enabled rules in order of priority (then code) and answers with
 * the first one whose match columns all hold and whose target resolves:
 *
 *   respondent_agency      the agency named by respondent.agency_id
 *   respondent_parent      that agency's parent
 *   first_resolver_parent  the parent of the agency that settled instance 1
 *   city                   the agency of level city
 *   field_department       fields.managing_agency_id of the petition's field
 *   locality               the ward or commune whose code is locality_code
 *   outside                no agency: the competent body is outside the portal
 *
 * A rule whose target does not resolve (a field without a managing
 * department, a city without a parent) is passed over, so the next rule, in
 * the end the catch-all `fallback.city`, answers.
 *
 * Everything here is a plain function over a SQLite connection (the
 * reader on the loop, or the writer inside a store_write() job): no state,
 * no statement kept between calls.
 */

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "tiepdan/store.h"

/* NULL-terminated value lists, e.g. for rpc_param.enum_values. */
extern const char *const routing_kinds[];  /* complaint, denunciation, recommendation, feedback */
extern const char *const routing_levels[]; /* city, department, inspectorate, ward, commune */
extern const char *const routing_resp_types[]; /* agency, official, decision */
extern const char *const routing_positions[];  /* staff, leader */
extern const char *const routing_targets[];    /* respondent_agency … outside, as above */

/*
 * The facts of a petition that decide competence. Every string is borrowed
 * (transfer none) and may be NULL unless said otherwise.
 */
struct routing_request {
	const char *kind;                 /* required: one of routing_kinds */
	const char *field;                /* a fields.code; NULL: field_department never resolves */
	const char *locality_code;        /* the ward or commune code where the matter arose */
	int instance;                     /* 1 or 2 (2: a second-instance complaint); 0 means 1 */
	const char *respondent_type;      /* agency, official, decision; NULL: no respondent */
	const char *respondent_agency_id; /* agencies.id */
	const char *respondent_position;  /* staff, leader */
	/* Instance 2: the agency that settled instance 1. NULL: the engine routes the same
	 * request at instance 1 and takes that agency (when that route is outside the portal,
	 * so is this one). */
	const char *first_resolver_id;
};

/* A route: the rule that matched and where it leads. */
struct routing_route {
	char *rule_id;   /* routing_rules.id */
	char *rule_code; /* routing_rules.code, e.g. "complaint.ward" */
	char *target;    /* the rule's target */
	char *agency_id; /* (nullable) NULL when the target is outside the portal */
	json_t *agency;  /* (nullable) {id, code, name, name_en, level, parent_id} */
	/* {rule, text_vi, text_en, legal_basis, target, matched: {column: value, …}}; the texts
	 * have "{agency}" replaced by the competent agency's name (English name in text_en). */
	json_t *explanation;
};

/**
 * Reads a petition's routing facts from params (transfer none): the members
 * `kind`, `field`, `locality_code`, `instance` (optional integer 1|2, 2 for
 * complaints only) and `respondent` (optional object {type, agency_id?,
 * position?, name?, decision_no?, decision_date?}; other members refused).
 * Checks them against the database: the kind and field exist, locality_code
 * is the code of a ward or commune, respondent.agency_id exists; a complaint
 * needs a respondent with an agency_id, and so does a denunciation of an
 * official. Members other than these are ignored (the caller's table checks
 * them). Fills *req with strings borrowed from params.
 *
 * Returns 0; -EINVAL with *pointer (transfer full, g_free) and *reason (a
 * static word) set for a -32602 answer; -EIO when the database failed (both
 * NULL).
 */
int routing_request_from_json(sqlite3 *db, json_t *params, struct routing_request *req,
                              char **pointer, const char **reason) TD_WUR;

/**
 * Routes req. On 0, *out holds the route (release it with routing_route_finish()).
 * -ENOENT when no enabled rule matches; -EINVAL when req lacks a valid kind;
 * -EIO when the database failed. *out is zeroed on failure.
 */
int routing_route(sqlite3 *db, const struct routing_request *req, struct routing_route *out) TD_WUR;

/** Releases the contents of a route (not the struct itself). Zeroed; NULL is fine. */
void routing_route_finish(struct routing_route *r);

/**
 * True when the rules route req to exactly agency_id (outside the portal is
 * never competent). explanation (nullable) receives (transfer full) the
 * explanation of the route the rules give, with an extra member
 * `agency_id` (string, or null when outside) so a refusal can name the
 * competent agency; it is NULL when the rules could not be evaluated (no rule
 * matches, or a database error), and then the answer is false.
 */
bool routing_is_competent(sqlite3 *db, const struct routing_request *req, const char *agency_id,
                          json_t **explanation);

/** (transfer full, nullable) {id, code, name, name_en, level, parent_id} of an agency, or NULL. */
json_t *routing_agency_json(sqlite3 *db, const char *agency_id);

/** True when value is one of the NULL-terminated list. */
bool routing_in_list(const char *const *list, const char *value);
