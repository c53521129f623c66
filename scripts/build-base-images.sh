#!/usr/bin/env bash
# Build the center's base images (aicc/services/jobs/devenvs.yaml) from Debian's packages, as OCI
# images, and optionally push them to the center registry.
#
# Why from Debian: a center without outside registries still needs base images, and each
# catalog entry's `build:` says how to make one here. The CPU Python base is real (bookworm's
# python3 and python3-numpy); the vendor families (CUDA, CANN, Neuware, DTK) are the same
# Debian base labelled with the runtime they stand for (`org.aicc.family`,
# `org.aicc.runtime`, `org.aicc.needs.<label>`), so matching images to nodes is testable
# here. A site pulls the real vendor bases (`vendor_image`) from its vendors instead.
#
#   scripts/build-base-images.sh [--catalog FILE] [--out DIR] [--mirror URL]
#                                [--only NAME]... [--load] [--push REGISTRY]
#
# --out DIR        where the OCI layout goes (DIR/oci, one tag per catalog name) and the rootfs
#                  tarballs (DIR/rootfs-*.tar); default ./build/images
# --mirror URL     Debian mirror; default the first URIs line of apt's own sources
# --only NAME      build only these catalog entries (repeatable)
# --load           also copy each image into local containers-storage (podman) as
#                  localhost/<image>
# --push REGISTRY  `skopeo copy` each image to docker://REGISTRY/<image>, with
#                  --dest-creds aicc:$AICC_TOKEN when AICC_TOKEN is set; --dest-tls-verify=false
#                  when AICC_REGISTRY_INSECURE=1
# Needs: mmdebstrap, umoci, skopeo, python3 with PyYAML (Debian: python3-yaml); root, or an
# unprivileged user where mmdebstrap's unshare mode works.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
catalog="$here/aicc/services/jobs/devenvs.yaml"
out="$PWD/build/images"
mirror=""
push=""
load=0
only=()

while [ $# -gt 0 ]; do
    case "$1" in
        --catalog) catalog=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --mirror) mirror=$2; shift 2 ;;
        --only) only+=("$2"); shift 2 ;;
        --push) push=$2; shift 2 ;;
        --load) load=1; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in mmdebstrap umoci skopeo python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 1; }
done

if [ -z "$mirror" ]; then
    mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | head -n1 | sed 's/^URIs: *//')
    if [ -z "$mirror" ]; then
        mirror=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null \
            | head -n1 | awk '{print $2}')
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
fi

# The plan, one line per image: name, image, family, runtime, runtime version, build key,
# suite, variant, packages (comma-separated), needs labels (label=version, space-separated).
plan=$(ONLY="${only[*]:-}" python3 - "$catalog" <<'PY'
import os, re, sys
import yaml

doc = yaml.safe_load(open(sys.argv[1])) or {}
entries = {e["name"]: e for e in doc.get("images") or []}
only = set(os.environ.get("ONLY", "").split())
unknown = only - set(entries)
if unknown:
    sys.exit(f"--only: no catalog entry named {', '.join(sorted(unknown))}")
safe = re.compile(r"^[A-Za-z0-9._/:=+,-]+$")
for name, e in entries.items():
    if only and name not in only:
        continue
    build = e.get("build") or {}
    seen = {name}
    while "like" in build:  # a vendor stand-in: the base it is built like
        base = build["like"]
        if base in seen or base not in entries:
            sys.exit(f"{name}: build.like {base!r} is not another catalog entry")
        seen.add(base)
        build = entries[base].get("build") or {}
    if not build:
        print(f"{name}: no build: section, skipped", file=sys.stderr)
        continue
    packages = ",".join(build.get("packages") or [])
    suite, variant = build.get("suite", "bookworm"), build.get("variant", "apt")
    runtime = e.get("runtime") or {}
    needs = " ".join(f"{k}={v}" for k, v in (e.get("needs") or {}).items())
    fields = [name, e["image"], e["family"], str(runtime.get("name", "")),
              str(runtime.get("version", "")), f"{suite}-{variant}-{packages}", suite,
              variant, packages or "-", needs or "-"]
    for f in fields[:9]:
        if not safe.match(f):
            sys.exit(f"{name}: {f!r} has characters this script does not pass to a shell")
    print("\t".join(fields))
PY
)
[ -n "$plan" ] || { echo "nothing to build" >&2; exit 1; }

mkdir -p "$out"
layout="$out/oci"
[ -d "$layout" ] || umoci init --layout "$layout"

declare -A rootfs_of=()  # build key -> tarball, one debootstrap per distinct base
while IFS=$'\t' read -r name image family rt_name rt_version key suite variant packages needs; do
    started=$EPOCHREALTIME
    tarball=${rootfs_of[$key]:-}
    if [ -z "$tarball" ]; then
        tarball="$out/rootfs-$(echo "$key" | sha256sum | cut -c1-12).tar"
        include=()
        [ "$packages" != "-" ] && include=(--include="$packages")
        echo "== $name: mmdebstrap $suite ($variant) $packages from $mirror"
        # No docs, man pages or locales in an image; no apt lists either (a job does not
        # apt-get, and they are most of a minimal system's size).
        mmdebstrap --variant="$variant" "${include[@]}" --format=tar \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-exclude=/usr/share/info/*' \
            --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
            --skip=output/dev \
            "$suite" "$tarball" "$mirror"
        rootfs_of[$key]=$tarball
        base_tag="base-$(basename "$tarball" .tar)"
        umoci new --image "$layout:$base_tag"
        umoci raw add-layer --image "$layout:$base_tag" \
            --history.created_by "mmdebstrap $suite $variant $packages" "$tarball"
    fi
    base_tag="base-$(basename "$tarball" .tar)"
    labels=(--config.label "org.aicc.family=$family" --config.label "org.aicc.catalog=$name")
    [ -n "$rt_name" ] && labels+=(--config.label "org.aicc.runtime=$rt_name $rt_version")
    if [ "$needs" != "-" ]; then
        for need in $needs; do labels+=(--config.label "org.aicc.needs.$need"); done
    fi
    umoci config --image "$layout:$base_tag" --tag "$name" "${labels[@]}" \
        --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --config.env 'LANG=C.UTF-8' --config.cmd /usr/bin/python3 --config.workingdir /
    umoci gc --layout "$layout"
    took=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
    echo "== $name: built $layout:$name in ${took}s"
    if [ "$load" = 1 ]; then
        skopeo copy --quiet "oci:$layout:$name" "containers-storage:localhost/$image"
        echo "== $name: loaded as localhost/$image"
    fi
    if [ -n "$push" ]; then
        creds=()
        [ -n "${AICC_TOKEN:-}" ] && creds=(--dest-creds "aicc:$AICC_TOKEN")
        tls=()
        [ "${AICC_REGISTRY_INSECURE:-0}" = 1 ] && tls=(--dest-tls-verify=false)
        skopeo copy --quiet "${creds[@]}" "${tls[@]}" "oci:$layout:$name" "docker://$push/$image"
        echo "== $name: pushed to $push/$image"
    fi
done <<< "$plan"

du -sh "$layout" | awk '{print "== OCI layout: " $1 " (layers shared between tags)"}'
