#!/usr/bin/python3
"""validate.py SCHEMA DOCUMENT - checks a JSON document against a JSON
schema (draft 4, as SARIF 2.1.0's is) with Debian's python3-jsonschema.

Prints each problem as "PATH: MESSAGE" and exits 1 if there is any, 2 if a
file cannot be read or jsonschema is missing, 0 if the document is valid.
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("validate.py: python3-jsonschema is not installed "
          "(apt-get install python3-jsonschema, or make deps)",
          file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) != 3:
        print("usage: validate.py SCHEMA DOCUMENT", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            schema = json.load(f)
        with open(sys.argv[2], encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError) as e:
        print(f"validate.py: {e}", file=sys.stderr)
        return 2
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.FormatChecker())
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    for e in problems:
        where = "/".join(str(p) for p in e.path) or "(root)"
        print(f"{where}: {e.message}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
