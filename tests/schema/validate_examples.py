#!/usr/bin/env python3
"""Check the example manifests with tools independent of appreg's own loader.

Each top-level file of examples/ is one manifest, and each subdirectory of examples/ is one manifest made
of the *.yaml / *.yml files directly inside it (as appreg reads a directory). Paths given on the command
line are taken the same way: a file alone, or a directory's files together. For every file:
- it parses as YAML without duplicate keys;
- it validates against schemas/appreg.schema.json (jsonschema, the schema's own draft);
- its first line is the yaml-language-server modeline and the schema path in it resolves;
- it holds no `${var:...}` (or refused `${env:...}`) reference (the examples must run without any environment);
- every certificate file it names exists and holds no private key.
The files of one manifest also get the merge rules: an app key appears in one file only, and `name`,
`tenant` and `prune` agree where several files state them.

Needs jsonschema and PyYAML:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install jsonschema pyyaml
    /tmp/venv/bin/python tests/schema/validate_examples.py
Exit status 0 when everything passes, 1 otherwise.
"""

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "appreg.schema.json"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys, as appreg's loader does."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def yaml_files(directory):
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def manifests(args):
    """Lists of files, one list per manifest."""
    if not args:
        examples = ROOT / "examples"
        for path in sorted(examples.iterdir()):
            if path.is_dir() and yaml_files(path):
                yield yaml_files(path)
            elif path.suffix in (".yaml", ".yml"):
                yield [path]
        return
    for arg in map(Path, args):
        yield yaml_files(arg) if arg.is_dir() else [arg]


def strings(node, where=""):
    """(path, value) of every string in a parsed document, keys included."""
    if isinstance(node, str):
        yield where or "(top)", node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key, where)
            yield from strings(value, f"{where}/{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings(value, f"{where}/{i}")


def leaf_errors(error):
    """(path, message) of the errors that explain `error`. Under an anyOf/oneOf the `null` branch is
    dropped (`Option<T>` fields are `anyOf: [T, null]`), and an enum written as one `const` per variant
    is reported as a single "not one of"."""
    path = "/".join(str(p) for p in error.absolute_path) or "(top)"
    if not error.context:
        return [(path, error.message)]
    inner = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
    if inner and all(e.validator == "const" for e in inner):
        allowed = ", ".join(repr(e.validator_value) for e in inner)
        return [(path, f"{error.instance!r} is not one of {allowed}")]
    return [leaf for e in inner for leaf in leaf_errors(e)] or [(path, error.message)]


def check_file(path, validator):
    """Problems of one file, and its parsed content (None when it does not parse)."""
    problems = []
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    match = MODELINE.match(first)
    if not match:
        problems.append("first line is not the yaml-language-server $schema modeline")
    elif (path.parent / match.group(1)).resolve() != SCHEMA:
        problems.append(f"modeline points to {match.group(1)}, not to {SCHEMA.relative_to(ROOT)}")
    try:
        doc = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as e:
        return problems + [f"YAML: {e}"], None
    for where, value in strings(doc):
        unescaped = value.replace("$${", "")
        if "${env:" in unescaped or "${var:" in unescaped:
            problems.append(f"{where}: uses ${{var:...}} or ${{env:...}}: an example must run without environment variables")
    errors = {leaf for error in validator.iter_errors(doc) for leaf in leaf_errors(error)}
    for where, message in sorted(errors):
        problems.append(f"schema: {where}: {message}")
    if isinstance(doc, dict):
        for key, app in (doc.get("apps") or {}).items():
            for cert in (app or {}).get("certificates", []) or []:
                cert_path = path.parent / cert.get("file", "")
                if not cert_path.is_file():
                    problems.append(f"apps/{key}: certificate file {cert_path} does not exist")
                elif b"PRIVATE KEY" in cert_path.read_bytes():
                    problems.append(f"apps/{key}: {cert_path} contains a private key")
    return problems, doc


def check_merge(files):
    """Merge rules for the files of one directory."""
    problems = []
    owners = {}
    stated = defaultdict(dict)
    for path, doc in files:
        for field in ("name", "tenant", "prune"):
            if field in doc:
                stated[field][path] = doc[field]
        for key in doc.get("apps") or {}:
            if key in owners:
                problems.append(f"app {key!r} is in both {owners[key]} and {path}")
            else:
                owners[key] = path
    for field, values in stated.items():
        if len(set(map(json.dumps, values.values()))) > 1:
            listed = ", ".join(f"{p}: {v!r}" for p, v in values.items())
            problems.append(f"`{field}` disagrees across files: {listed}")
    return problems


def main(argv):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    failed = False
    count = 0
    for files in manifests(argv):
        parsed = []
        for path in files:
            count += 1
            rel = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
            problems, doc = check_file(path, validator)
            for problem in problems:
                print(f"{rel}: {problem}")
            failed |= bool(problems)
            if isinstance(doc, dict):
                parsed.append((rel, doc))
        for problem in check_merge(parsed):
            print(problem)
            failed = True
    if count == 0:
        print("no manifest files found")
        return 1
    print(f"{count} manifest files checked against {SCHEMA.relative_to(ROOT)}: "
          + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
