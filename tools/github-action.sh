#!/usr/bin/env bash
# The step of the appreg GitHub Action (action.yml at the repository root): runs one appreg command
# and hands its results to the workflow. Inputs arrive as environment variables (never expanded
# into this script's text, so a path or branch name cannot inject shell):
#   APPREG          the program to run (default: appreg on PATH)
#   APPREG_COMMAND  plan | apply | drift
#   APPREG_PATHS    manifest files or directories, separated by spaces (default: .)
#   APPREG_PLAN     plan: where to save the plan; apply: a saved plan to apply instead of PATHS
#   APPREG_PRUNE    true to delete apps of the set that left the manifest
# Writes the Markdown report to $GITHUB_STEP_SUMMARY and the outputs exit-code, changes,
# markdown-file, plan-file (plan) and outputs-file (apply) to $GITHUB_OUTPUT. Secret values never
# pass through here: a `github` sink masks and writes them itself, on appreg's own stdout.
set -uo pipefail

appreg="${APPREG:-appreg}"
command="${APPREG_COMMAND:-plan}"
read -r -a paths <<< "${APPREG_PATHS:-.}"
prune=()
if [[ "${APPREG_PRUNE:-false}" == "true" ]]; then
  prune=(--prune)
fi
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
markdown="$work/appreg-$command.md"
: > "$markdown"

case "$command" in
  plan)
    plan="${APPREG_PLAN:-$work/appreg-plan.json}"
    "$appreg" plan --detailed-exitcode --markdown "${prune[@]}" --out "$plan" "${paths[@]}" > "$markdown"
    code=$?
    ;;
  drift)
    "$appreg" drift --markdown "${paths[@]}" > "$markdown"
    code=$?
    ;;
  apply)
    outputs="$work/appreg-outputs.json"
    target=("${paths[@]}")
    if [[ -n "${APPREG_PLAN:-}" ]]; then
      target=("$APPREG_PLAN")
    fi
    # stdout stays the step's own: `::add-mask::` lines of a github sink must reach the runner.
    "$appreg" apply --auto-approve "${prune[@]}" --outputs "$outputs" "${target[@]}"
    code=$?
    {
      echo "### appreg apply"
      echo
      if [[ $code -eq 0 ]]; then
        echo "Apply complete; each app's ids and consent URLs are in the step output \`outputs-file\`."
      else
        echo "Apply failed (exit $code); the job log says why."
      fi
    } > "$markdown"
    ;;
  *)
    echo "appreg action: command must be plan, apply or drift" >&2
    exit 1
    ;;
esac

cat "$markdown" >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
{
  echo "exit-code=$code"
  if [[ $code -eq 2 ]]; then echo "changes=true"; else echo "changes=false"; fi
  echo "markdown-file=$markdown"
  if [[ "$command" == "plan" ]]; then echo "plan-file=$plan"; fi
  if [[ "$command" == "apply" ]]; then echo "outputs-file=$outputs"; fi
} >> "${GITHUB_OUTPUT:-/dev/null}"

# Exit 2 (changes, drift) is the workflow's to act on through the outputs, not a failed step.
if [[ $code -eq 1 ]]; then
  exit 1
fi
exit 0
