# synthreid farm worker image: Python 3.11 + the system libraries bpy needs + synthreid[EXTRAS].
#   BASE    any Debian 12 image with Python 3.11 first on PATH as `python`/`pip` (default: the
#           official python:3.11-slim; CI builds from a debootstrapped one, scripts/make-base-image.sh)
#   EXTRAS  the extras installed: render,farm (render worker, ~1.3 GB) or render,farm,ml (gpu-worker:
#           adds torch; a CUDA torch from PyPI is several GB)
# Wheels found in .wheelhouse/ of the build context are preferred; PIP_NO_INDEX=1 builds offline
# from them alone. Needs BuildKit (Docker 23+ default) or podman/buildah for `RUN --mount`.
ARG BASE=python:3.11-slim
FROM ${BASE}

# bpy (Blender as a Python module) links against X11/GL/xkb libraries even when headless.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libx11-6 libxi6 libxxf86vm1 libxfixes3 libxrender1 libxkbcommon0 libsm6 libice6 \
        libgl1 libegl1 libglu1-mesa libgomp1 libxext6 libdbus-1-3 \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 SYNTHREID_DATA_DIR=/data
WORKDIR /app
ARG EXTRAS=render,farm
ARG PIP_NO_INDEX=0
# Third-party dependencies first, in their own layer: a change of synthreid's code reuses it.
COPY pyproject.toml README.md ./
COPY scripts/pyproject-requirements.py /tmp/
RUN --mount=type=bind,target=/ctx \
    python /tmp/pyproject-requirements.py pyproject.toml "${EXTRAS}" >/tmp/requirements.txt \
    && pip install --find-links /ctx/.wheelhouse -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt /tmp/pyproject-requirements.py
COPY synthreid ./synthreid
RUN --mount=type=bind,target=/ctx pip install --find-links /ctx/.wheelhouse --no-deps . && rm -rf build

RUN useradd --create-home --uid 1000 synthreid && mkdir -p /data && chown synthreid:synthreid /data
USER synthreid
VOLUME ["/data"]
ENTRYPOINT []
CMD ["synthreid", "worker", "--queues", "render"]
