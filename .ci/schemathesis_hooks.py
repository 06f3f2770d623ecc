"""Lägesbild's own schemathesis check (loaded by .ci/schemathesis.sh via SCHEMATHESIS_HOOKS).

The OpenAPI document states every rule about the *shape* of a request: lengths, patterns,
enums, ranges, control characters. Some refusals depend on data or on other fields and
cannot be written into a schema: an area code that does not exist, a week outside the
correction window, a password that is easy to guess, a permission the token's owner does
not hold. For those the service answers 422 with a machine-readable `code` per error.

`positive_data_acceptance` is therefore told (in .ci/schemathesis.toml) that 422 may
answer schema-valid input, and this check makes sure every such 422 names only one of
the rules below. A 422 for anything else — a length, a pattern, a type — means the spec
and the code disagree, and fails the run.
"""

import uuid

import schemathesis

# Every error code a schema-valid request can still earn, and why no schema states it.
RULES = {
    # Reference data: which codes, areas and users exist, and which are active.
    "unknown_code": "the code is not in the vocabulary (admins change it at run time)",
    "unknown_area": "no such area inside the caller's own",
    "unknown_user": "no such user inside the caller's area",
    "outside_scope": "the area lies outside the caller's own",
    "inactive": "the code or area is deactivated",
    "not_a_district": "signals are filed on districts, and the tree says which areas those are",
    "is_district": "an area cannot be created under a district",
    "below_area": "area_level is coarser than the area asked for",
    # The calendar, relative to today.
    "future": "the observation lies in the future",
    "in_future": "the week lies in the future",
    "too_old": "the week is older than the correction window",
    "invalid_week": "the year has no such week or the month no such day (2026-W53, 2026-02-30)",
    # Relations between fields.
    "after_to": "from lies after to",
    "before_start": "end_week lies before start_week",
    "ambiguous": "both observed_on and observed_week given",
    "required": "a field is required by the value of another (a person account's password; "
    "current_password when creating an admin or setting an admin's password)",
    "not_allowed": "a field is refused by the value of another (a service account's password)",
    "own_account": "one's own password is changed through PUT /v1/me/password",
    # Size of the answer.
    "too_many_series": "the request would return more than 1,000 series",
    "too_many_periods": "the request would span more than 520 periods",
    "too_many_points": "the request would return more than 100,000 points",
    "too_many_cells": "points summed from lists of codes would read more than 1,000,000 cells",
    # Credentials and permissions.
    "mismatch": "the current password is not correct",
    "weak_password": "the new password is easy to guess (zxcvbn)",
    "not_held": "the token's owner does not hold that permission",
    "over_quota": "the batch is larger than the submitter's whole quota",
    # Free text that looks like personal data (domain::rules::personal_data): a Luhn-checked
    # personnummer, a phone number or an e-mail address is text a schema cannot tell apart.
    "personal_data": "a name, label or description holds what looks like personal data",
    # Contents of a CSV upload, which the spec describes only as text/csv.
    "duplicate": "the upload names one area, age band and year twice",
    "empty": "the CSV holds no rows",
    "missing_column": "the CSV header lacks a column",
    "too_many_columns": "the CSV header has too many columns",
    "too_many_rows": "the CSV has too many rows",
    "wrong_field_count": "a CSV line has another number of fields than the header",
    "mixed_separators": "a CSV line is split by `,` where the header uses `;`, or the reverse",
    "not_an_integer": "a CSV field is not a whole number",
    "out_of_range": "a CSV number lies outside its range",
}


@schemathesis.check
def refusals_of_valid_input_name_a_rule(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    unexplained = [e for e in errors if e.get("code") not in RULES]
    if not errors or unexplained:
        raise AssertionError(
            "Schema-valid input was refused for a reason the spec could state: "
            f"{unexplained or 'no errors listed'}"
        )
    return None


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Give every valid `Idempotency-Key` of the stateful phase a fresh value.

    A reused key replays the first answer by design: the 201 of a signal that a later
    DELETE may already have retracted, which the stateful phase reports as "created
    resource not found". Replays are the HTTP tests' business (tests/api/signals.rs); the
    fuzzer keeps its invalid keys, so their refusals are still checked.
    """
    meta = case.meta
    if meta is None or meta.phase.name != "stateful":
        return
    headers = case.headers or {}
    for name in list(headers):
        value = headers[name]
        if (
            name.lower() == "idempotency-key"
            and isinstance(value, str)
            and 1 <= len(value) <= 128
            and all(0x20 <= ord(c) <= 0x7E for c in value)
        ):
            headers[name] = str(uuid.uuid4())
