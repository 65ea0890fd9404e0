#!/usr/bin/env bash
# Fill the git-ignored folder .gpu/ that travels with the GPU check (carry it: `.gpu`). Run on the
# CPU machine, from anywhere, before asking for a GPU; nothing here is committed.
#
#   benchmarks/gpu/prepare.sh OFFICIAL_HRM   # a checkout or a bare git directory of sapientinc/HRM
#
# .gpu/wheels/   what the GPU image lacks, for its CPython 3.12 x86-64: pydantic (the official model's
#                config class) and its needs; setuptools and wheel new enough to install this
#                package in editable mode there (PEP 639 license field)
# .gpu/official/HRM/  the official code's models/ folder (read and timed, never committed)
# .gpu/prepared.json  what was prepared from which commits
set -euo pipefail
cd "$(dirname "$0")/../.."
official="${1:-}"
G=.gpu
rm -rf "$G/wheels" "$G/official"
mkdir -p "$G/wheels" "$G/official"

platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download --quiet --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
    -d "$G/wheels" pydantic "setuptools>=77" wheel

official_commit=null
if [ -n "$official" ]; then
    mkdir -p "$G/official/HRM"
    if git --git-dir "$official" rev-parse --verify HEAD >/dev/null 2>&1; then
        git --git-dir "$official" archive HEAD models | tar -x -C "$G/official/HRM"
        official_commit="\"$(git --git-dir "$official" rev-parse HEAD)\""
    elif [ -d "$official/models/hrm" ]; then
        cp -r "$official/models" "$G/official/HRM/"
        official_commit="\"$(git -C "$official" rev-parse HEAD 2>/dev/null || echo unknown)\""
    else
        echo "prepare.sh: $official is neither a git directory nor a checkout of sapientinc/HRM" >&2
        exit 2
    fi
fi

commit=$(git rev-parse HEAD)
dirty=$([ -z "$(git status --porcelain --untracked-files=no)" ] && echo false || echo true)
wheels=$(cd "$G/wheels" && ls *.whl | sed 's/.*/"&"/' | paste -sd, -)
cat > "$G/prepared.json" <<JSON
{"prepared_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "commit": "$commit", "dirty": $dirty,
 "official_hrm_commit": $official_commit, "wheels": [$wheels]}
JSON
du -sh "$G"
cat "$G/prepared.json"
