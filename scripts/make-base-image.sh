#!/usr/bin/env bash
# A local Debian 12 base image with Python 3.11, built without any container registry:
# debootstrap (minbase) into a temporary folder, then `podman import`. Python lives in a venv
# at /opt/python that is first on PATH, so `python` and `pip` behave as in python:3.11-slim.
# Usage: bash scripts/make-base-image.sh [TAG]      (root; default TAG localhost/synthreid-base:bookworm)
# Needs debootstrap and podman (Debian: apt-get install debootstrap podman).
set -euo pipefail
TAG=${1:-localhost/synthreid-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/synthreid-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$MIRROR" >/dev/null
chroot "$root" python3 -m venv /opt/python
chroot "$root" /opt/python/bin/python -m pip --version >/dev/null
# A container image needs no apt lists, caches or docs (the Dockerfile runs apt-get update).
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
echo "deb $MIRROR bookworm main" >"$root/etc/apt/sources.list"
tar -C "$root" -c . | podman import --quiet \
    --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python"]' \
    - "$TAG" >/dev/null
echo "$TAG"
