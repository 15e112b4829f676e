# synthreid farm worker image: Python 3.11 slim + the system libraries bpy needs + synthreid[render,farm].
FROM python:3.11-slim

# bpy (Blender as a Python module) links against X11/GL/xkb libraries even when headless.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libx11-6 libxi6 libxxf86vm1 libxfixes3 libxrender1 libxkbcommon0 libsm6 libice6 \
        libgl1 libegl1 libglu1-mesa libgomp1 libxext6 libdbus-1-3 \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 SYNTHREID_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY synthreid ./synthreid
ARG EXTRAS=render,farm
RUN pip install ".[${EXTRAS}]"

RUN useradd --create-home --uid 1000 synthreid && mkdir -p /data && chown synthreid:synthreid /data
USER synthreid
VOLUME ["/data"]
ENTRYPOINT []
CMD ["synthreid", "worker", "--queues", "render"]
