#!/usr/bin/env python3
"""Checks that the JSON Schema, the samples and the decoder agree.

  tests/schema_conformance.py [PATH/TO/ccpulse]

1. schemas/interaction-event.v1.schema.json is a valid JSON Schema 2020-12.
2. Every valid sample (schemas/samples/valid/*.json and each line of
   schemas/samples/interactions.jsonl) passes the schema, and every invalid
   sample (schemas/samples/invalid/<reason>[.<variant>].json) fails it, except
   the ones listed in BEYOND_SCHEMA, which a JSON Schema cannot express.
3. With the ccpulse binary: `ccpulse validate` accepts every valid sample and
   rejects every invalid one with the reason its file name starts with (it
   prints "FILE:LINE: reason: message" on stdout and exits 1), also when the
   invalid samples are joined into one JSON Lines file, and for a generated
   record over the 1 MiB size limit.

Needs Python 3 and python3-jsonschema only. Exits 1 on any mismatch.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema

REPO = pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "schemas"
SCHEMA_PATH = SCHEMAS / "interaction-event.v1.schema.json"
VALID_DIR = SCHEMAS / "samples" / "valid"
INVALID_DIR = SCHEMAS / "samples" / "invalid"
JSONL_SAMPLE = SCHEMAS / "samples" / "interactions.jsonl"

# Every DecodeError reason of ccpulse.v1 but "none" (schemas/json_decoder.h; unmapped_team and
# malformed_record come only from the platform adapters and are tested with them).
REASONS = {
    "empty_record", "too_large", "invalid_utf8", "invalid_json", "truncated", "not_object",
    "missing_field", "wrong_type", "unknown_type", "unknown_channel", "field_too_long",
    "empty_field", "bad_time", "time_out_of_range", "duplicate_field",
}

# Reasons whose samples are not JSON texts at all: they must fail to parse before any schema.
NOT_JSON = {"empty_record", "invalid_json", "truncated"}

# Invalid samples a JSON Schema cannot reject, by file name, and why. The decoder rejects them.
BEYOND_SCHEMA = {
    "invalid_utf8.json": "the bytes are not UTF-8, so there is no JSON text to validate",
    "duplicate_field.json": "a schema sees one value per key (JSON parsers keep the last one)",
    "time_out_of_range.json": "'far in the future' is relative to the consumer's wall clock",
}
# The too_large case is generated (a 1 MiB sample would bloat the repository); a schema cannot
# express a size in bytes either.
TOO_LARGE_BYTES = (1 << 20) + 4096


class Checker:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failures.append(what)
        return condition


def reason_of(path):
    """invalid/<reason>[.<variant>].json -> reason."""
    return path.name.split(".")[0]


def reject_duplicates(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys {duplicates}")
    return dict(pairs)


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_strict(data):
    """Parses bytes as one JSON text the way RFC 8259 does (UTF-8, no NaN, unique keys)."""
    text = data.decode("utf-8")
    return json.loads(text, object_pairs_hook=reject_duplicates, parse_constant=reject_constant)


def schema_errors(validator, instance):
    return sorted(error.message for error in validator.iter_errors(instance))


def check_schema_side(checker, validator):
    valid_files = sorted(VALID_DIR.glob("*.json"))
    invalid_files = sorted(INVALID_DIR.glob("*.json"))
    checker.check(len(valid_files) >= 8, f"{VALID_DIR}: expected at least 8 valid samples")
    checker.check(invalid_files, f"{INVALID_DIR}: no invalid samples")

    for path in valid_files:
        data = path.read_bytes()
        checker.check(data.count(b"\n") == 1 and data.endswith(b"\n"),
                      f"{path}: a sample must be exactly one line")
        try:
            instance = parse_strict(data)
        except ValueError as error:
            checker.check(False, f"{path}: valid sample is not strict JSON: {error}")
            continue
        errors = schema_errors(validator, instance)
        checker.check(not errors, f"{path}: valid sample fails the schema: {errors}")

    for number, line in enumerate(JSONL_SAMPLE.read_bytes().splitlines(), start=1):
        where = f"{JSONL_SAMPLE}:{number}"
        try:
            instance = parse_strict(line)
        except ValueError as error:
            checker.check(False, f"{where}: not strict JSON: {error}")
            continue
        errors = schema_errors(validator, instance)
        checker.check(not errors, f"{where}: fails the schema: {errors}")

    for path in invalid_files:
        reason = reason_of(path)
        if not checker.check(reason in REASONS, f"{path}: '{reason}' is not a decode error reason"):
            continue
        data = path.read_bytes()
        checker.check(data.count(b"\n") == 1 and data.endswith(b"\n"),
                      f"{path}: a sample must be exactly one line")
        if path.name == "invalid_utf8.json":
            try:
                data.decode("utf-8")
                checker.check(False, f"{path}: expected bytes that are not UTF-8")
            except UnicodeDecodeError:
                checker.check(True, "")
            continue
        if reason in NOT_JSON:
            try:
                parse_strict(data)
                checker.check(False, f"{path}: expected a text that is not JSON")
            except ValueError:
                checker.check(True, "")
            continue
        # Parsed like a schema validator would see it (last duplicate key wins).
        instance = json.loads(data.decode("utf-8"))
        errors = schema_errors(validator, instance)
        if path.name in BEYOND_SCHEMA:
            checker.check(not errors,
                          f"{path}: listed in BEYOND_SCHEMA ({BEYOND_SCHEMA[path.name]}) but the "
                          f"schema rejects it; remove it from the list: {errors}")
        else:
            checker.check(errors, f"{path}: invalid sample ({reason}) passes the schema")

    missing = REASONS - {reason_of(path) for path in invalid_files} - {"too_large"}
    checker.check(not missing, f"{INVALID_DIR}: no sample for reasons {sorted(missing)}")


def run_validate(binary, path):
    result = subprocess.run([str(binary), "validate", str(path)], capture_output=True, timeout=60)
    return result.returncode, result.stdout.decode("utf-8", "replace").splitlines()


def check_reported(checker, path, lines, expected):
    """expected: {line number: reason}; each report line is "PATH:LINE: reason: message"."""
    reported = {}
    for line in lines:
        fields = line[len(f"{path}:"):].split(": ", 2) if line.startswith(f"{path}:") else []
        if not checker.check(len(fields) == 3 and fields[0].isdigit() and fields[2],
                             f"{path}: report line not 'FILE:LINE: reason: message': '{line}'"):
            continue
        reported[int(fields[0])] = fields[1]
    for number, reason in sorted(expected.items()):
        got = reported.get(number, "nothing")
        checker.check(got == reason, f"{path}:{number}: expected reason {reason}, reported {got}")
    for number in sorted(set(reported) - set(expected)):
        checker.check(False, f"{path}:{number}: unexpected report {reported[number]}")


def check_binary_side(checker, binary):
    for path in sorted(VALID_DIR.glob("*.json")) + [JSONL_SAMPLE]:
        code, lines = run_validate(binary, path)
        checker.check(code == 0 and not lines,
                      f"{path}: ccpulse validate should accept it; exit {code}, output {lines}")

    invalid_files = sorted(INVALID_DIR.glob("*.json"))
    for path in invalid_files:
        code, lines = run_validate(binary, path)
        checker.check(code == 1, f"{path}: ccpulse validate should exit 1, got {code}")
        check_reported(checker, path, lines, {1: reason_of(path)})

    with tempfile.TemporaryDirectory() as tmp:
        # All invalid samples and all valid ones interleaved in one file: line numbers count.
        joined = pathlib.Path(tmp) / "joined.jsonl"
        valid_line = (VALID_DIR / "minimal.json").read_bytes()
        expected = {}
        with joined.open("wb") as out:
            for index, path in enumerate(invalid_files):
                out.write(path.read_bytes())  # line 2 * index + 1
                out.write(valid_line)  # line 2 * index + 2
                expected[2 * index + 1] = reason_of(path)
        code, lines = run_validate(binary, joined)
        checker.check(code == 1, f"{joined}: ccpulse validate should exit 1, got {code}")
        check_reported(checker, joined, lines, expected)

        too_large = pathlib.Path(tmp) / "too_large.json"
        padding = "p" * TOO_LARGE_BYTES
        too_large.write_text(
            '{"event_id": "ev-9001", "type": "queued", "time": "2026-03-02T09:15:00Z", '
            f'"interaction_id": "i-9001", "team": "care", "padding": "{padding}"}}\n')
        code, lines = run_validate(binary, too_large)
        checker.check(code == 1, f"{too_large}: ccpulse validate should exit 1, got {code}")
        check_reported(checker, too_large, lines, {1: "too_large"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ccpulse", nargs="?", help="path to the ccpulse binary; without it only "
                        "the schema side is checked")
    args = parser.parse_args()

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())

    checker = Checker()
    check_schema_side(checker, validator)
    if args.ccpulse:
        binary = pathlib.Path(args.ccpulse).resolve()
        if not binary.is_file():
            print(f"schema_conformance: no ccpulse binary at {binary}", file=sys.stderr)
            return 2
        check_binary_side(checker, binary)
    else:
        print("schema_conformance: no ccpulse binary given; decoder checks skipped",
              file=sys.stderr)

    for failure in checker.failures:
        print(f"FAIL {failure}")
    print(f"schema_conformance: {checker.passed} checks passed, {len(checker.failures)} failed")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
