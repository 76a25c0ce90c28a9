#!/usr/bin/env python3
"""Generate appreg's offline permission catalogue (src/catalogue/data/*.tsv).

Usage: python3 tools/catalogue/generate.py [REFERENCE_DIR] [--check]

REFERENCE_DIR defaults to ../shared/reference relative to the repository root. It must hold
msgraph-permissions/permissions-descriptions.json, msgraph-permissions/provisioningInfo.json and
well-known-ids.json. The hand-maintained inputs beside this script (exchange-online.tsv,
sharepoint-online.tsv, azure-ad-graph.tsv) are merged in.

Only facts are written: permission name, id, kind and the admin-consent flag. Microsoft's
display names and descriptions are never read into the output.

With --check nothing is written; the exit status is 1 when a data file is out of date.
Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DATA_DIR = REPO_ROOT / "src" / "catalogue" / "data"
DEFAULT_REFERENCE = REPO_ROOT.parent / "shared" / "reference"

KINDS = ("delegated", "application")
COLUMNS = ("kind", "name", "id", "admin_consent_required", "graph_equivalent")
# Names that must be present in the Microsoft Graph list (OpenID Connect scopes live there).
REQUIRED_GRAPH_DELEGATED = ("openid", "profile", "email", "offline_access", "User.Read")


class InputError(Exception):
    """A reference or hand-maintained input is malformed."""


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    id: str
    admin_consent_required: bool
    graph_equivalent: str = "-"

    def line(self) -> str:
        flag = "true" if self.admin_consent_required else "false"
        return "\t".join((self.kind, self.name, self.id, flag, self.graph_equivalent))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def canonical_uuid(text: str, where: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError as err:
        raise InputError(f"{where}: {text!r} is not a GUID") from err


def check_name(name: str, where: str) -> str:
    if not name or any(ch.isspace() for ch in name):
        raise InputError(f"{where}: permission name {name!r} is empty or contains whitespace")
    return name


def graph_rows(reference: Path) -> list[Row]:
    path = reference / "msgraph-permissions" / "permissions-descriptions.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows: list[Row] = []
    for list_name, kind in (("delegatedScopesList", "delegated"), ("applicationScopesList", "application")):
        for index, entry in enumerate(doc[list_name]):
            if not entry.get("isEnabled", False):
                continue
            where = f"{path.name} {list_name}[{index}]"
            rows.append(
                Row(
                    kind=kind,
                    name=check_name(entry["value"], where),
                    id=canonical_uuid(entry["id"], where),
                    # Application permissions always need admin consent, whatever isAdmin says.
                    admin_consent_required=True if kind == "application" else bool(entry["isAdmin"]),
                )
            )
    names = {r.name for r in rows if r.kind == "delegated"}
    missing = [n for n in REQUIRED_GRAPH_DELEGATED if n not in names]
    if missing:
        raise InputError(f"{path.name}: expected delegated permissions missing: {', '.join(missing)}")
    return rows


def provisioning_mismatches(reference: Path, rows: list[Row]) -> tuple[int, list[str]]:
    """Compare ids with provisioningInfo.json (DelegatedWork / Application deployments that carry an id)."""
    path = reference / "msgraph-permissions" / "provisioningInfo.json"
    deployments = json.loads(path.read_text(encoding="utf-8"))["permissionDeployments"]
    scheme_of = {"delegated": "DelegatedWork", "application": "Application"}
    compared = 0
    notes: list[str] = []
    for row in rows:
        for dep in deployments.get(row.name, []):
            if dep.get("scheme") != scheme_of[row.kind] or not dep.get("id"):
                continue
            compared += 1
            other = canonical_uuid(dep["id"], f"{path.name} {row.name}")
            if other != row.id:
                env = dep.get("environment") or "(no environment)"
                notes.append(f"{row.kind} {row.name}: catalogue {row.id}, provisioningInfo {other} [{env}]")
    return compared, notes


def hand_rows(path: Path, with_equivalent: bool) -> tuple[list[Row], int]:
    """Read a hand-maintained input. Returns the rows and how many had an unknown admin flag."""
    expected = ["kind", "name", "id", "admin_consent"] + (["graph_equivalent"] if with_equivalent else []) + ["source"]
    rows: list[Row] = []
    unknown = 0
    header_seen = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        fields = raw.split("\t")
        where = f"{path.name}:{number}"
        if not header_seen:
            if fields != expected:
                raise InputError(f"{where}: header must be {expected}, found {fields}")
            header_seen = True
            continue
        if len(fields) != len(expected):
            raise InputError(f"{where}: expected {len(expected)} columns, found {len(fields)}")
        record = dict(zip(expected, fields))
        if record["kind"] not in KINDS:
            raise InputError(f"{where}: kind must be one of {KINDS}")
        if not record["source"].strip():
            raise InputError(f"{where}: source is required")
        flag = record["admin_consent"]
        if flag not in ("true", "false", "unknown"):
            raise InputError(f"{where}: admin_consent must be true, false or unknown")
        if record["kind"] == "application" and flag != "true":
            raise InputError(f"{where}: application permissions always require admin consent")
        if flag == "unknown":
            unknown += 1
        rows.append(
            Row(
                kind=record["kind"],
                name=check_name(record["name"], where),
                id=canonical_uuid(record["id"], where),
                # An unknown flag is emitted as true: claiming consent is needed is the cautious error.
                admin_consent_required=flag != "false",
                graph_equivalent=check_name(record["graph_equivalent"], where) if with_equivalent else "-",
            )
        )
    if not header_seen:
        raise InputError(f"{path.name}: no header line")
    return rows, unknown


def check_unique(rows: list[Row], label: str) -> None:
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.kind, row.name)
        if key in seen:
            raise InputError(f"{label}: duplicate {row.kind} permission {row.name}")
        seen.add(key)


def check_equivalents(rows: list[Row], graph: list[Row]) -> None:
    graph_keys = {(r.kind, r.name) for r in graph}
    per_name: dict[str, str] = {}
    for row in rows:
        if (row.kind, row.graph_equivalent) not in graph_keys:
            raise InputError(
                f"azure-ad-graph.tsv: {row.kind} {row.name} maps to {row.graph_equivalent}, "
                f"which is not a {row.kind} Microsoft Graph permission"
            )
        # Resource::graph_equivalent looks names up without a kind, so both kinds must agree.
        if per_name.setdefault(row.name, row.graph_equivalent) != row.graph_equivalent:
            raise InputError(f"azure-ad-graph.tsv: {row.name} maps to different names per kind")


def cross_check_well_known(reference: Path, section: str, rows: list[Row]) -> list[str]:
    """Compare hand-maintained ids with well-known-ids.json; return readable mismatches."""
    doc = json.loads((reference / "well-known-ids.json").read_text(encoding="utf-8"))
    by_key = {(r.kind, r.name): r.id for r in rows}
    notes: list[str] = []
    for name, ids in doc.get(section, {}).items():
        for field, kind in (("delegatedScopeId", "delegated"), ("applicationRoleId", "application")):
            if field not in ids:
                continue
            expected = canonical_uuid(ids[field], f"well-known-ids.json {section}.{name}")
            actual = by_key.get((kind, name))
            if actual is None:
                notes.append(f"{kind} {name}: in well-known-ids.json ({expected}) but not in the catalogue")
            elif actual != expected:
                notes.append(f"{kind} {name}: catalogue {actual}, well-known-ids.json {expected}")
    return notes


def render(header: list[str], rows: list[Row]) -> str:
    ordered = sorted(rows, key=lambda r: (r.kind, r.name))
    lines = [f"# {h}" for h in header] + ["\t".join(COLUMNS)] + [r.line() for r in ordered]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", nargs="?", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--check", action="store_true", help="fail when a data file is out of date")
    args = parser.parse_args(argv)
    reference: Path = args.reference.resolve()

    regenerate = "Regenerate: python3 tools/catalogue/generate.py [REFERENCE_DIR]; do not edit by hand."
    columns = "Columns: kind, name, id, admin_consent_required, graph_equivalent ('-' when none). Enabled permissions only."

    graph = graph_rows(reference)
    check_unique(graph, "Microsoft Graph")
    descriptions = reference / "msgraph-permissions" / "permissions-descriptions.json"
    provisioning = reference / "msgraph-permissions" / "provisioningInfo.json"
    compared, mismatches = provisioning_mismatches(reference, graph)

    outputs: dict[str, str] = {}
    outputs["microsoft-graph.tsv"] = render(
        [
            "Microsoft Graph (00000003-0000-0000-c000-000000000000): generated by tools/catalogue/generate.py from",
            "microsoftgraph/microsoft-graph-devx-content permissions/permissions-descriptions.json",
            f"(sha256 {sha256(descriptions)}); ids cross-checked against provisioningInfo.json",
            f"(sha256 {sha256(provisioning)}): {compared} compared, {len(mismatches)} differ; this file keeps",
            "the permissions-descriptions.json id. Delegated admin flag = isAdmin; application permissions always require admin consent.",
            columns,
            regenerate,
        ],
        graph,
    )

    notes: list[str] = []
    unknown_counts: dict[str, int] = {}
    hand_inputs = (
        ("exchange-online.tsv", "Office 365 Exchange Online (00000002-0000-0ff1-ce00-000000000000)", False, "exchangeOnline"),
        ("sharepoint-online.tsv", "Office 365 SharePoint Online (00000003-0000-0ff1-ce00-000000000000)", False, None),
        ("azure-ad-graph.tsv", "Windows Azure Active Directory / Azure AD Graph (00000002-0000-0000-c000-000000000000), retired 2025-07-01", True, None),
    )
    for file_name, title, with_equivalent, section in hand_inputs:
        source = HERE / file_name
        rows, unknown = hand_rows(source, with_equivalent)
        check_unique(rows, file_name)
        if with_equivalent:
            check_equivalents(rows, graph)
        if section:
            notes += [f"{file_name}: {n}" for n in cross_check_well_known(reference, section, rows)]
        unknown_counts[file_name] = unknown
        outputs[file_name] = render(
            [
                f"{title}: generated by tools/catalogue/generate.py from the hand-maintained",
                f"tools/catalogue/{file_name} (sha256 {sha256(source)}), which names the public source of every id.",
                f"{unknown} admin flag(s) had no source and are emitted as true (the cautious reading).",
                columns,
                regenerate,
            ],
            rows,
        )
    notes += [f"microsoft-graph.tsv: {n}" for n in cross_check_well_known(reference, "microsoftGraph", graph)]

    stale: list[str] = []
    for file_name, text in outputs.items():
        target = DATA_DIR / file_name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(file_name)
        if not args.check:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    counts = {name: (text.count("\ndelegated\t"), text.count("\napplication\t")) for name, text in outputs.items()}
    for name, (delegated, application) in counts.items():
        print(f"{name}: {delegated} delegated, {application} application", file=sys.stderr)
    print(
        f"note: provisioningInfo.json cross-check: {compared} ids compared, {len(mismatches)} differ "
        "(permissions-descriptions.json id kept):",
        file=sys.stderr,
    )
    for line in mismatches:
        print(f"  {line}", file=sys.stderr)
    for name, unknown in unknown_counts.items():
        if unknown:
            print(f"note: {name}: {unknown} admin flag(s) unknown, emitted as true", file=sys.stderr)
    for line in notes:
        print(f"note: well-known-ids.json cross-check: {line}", file=sys.stderr)
    if args.check:
        if stale:
            print(f"out of date: {', '.join(stale)}", file=sys.stderr)
            return 1
        print("catalogue data is up to date", file=sys.stderr)
    else:
        print(f"wrote {len(stale)} file(s) under {DATA_DIR.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
