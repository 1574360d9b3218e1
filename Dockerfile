# syntax=docker/dockerfile:1
# One image for every role of the site (web, worker, realtime, all), and the NGINX edge:
#   docker build -t imageboard .                       the site (the default, last stage)
#   docker build -t imageboard-edge --target edge .    NGINX with deploy/nginx and the static files
ARG PYTHON_VERSION=3.11

# --- build: install the package and its dependencies into a virtual environment ---------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/imageboard
COPY pyproject.toml README.md ./
COPY src ./src
# Every dependency ships wheels (libvips in pyvips-binary, ffmpeg in imageio-ffmpeg): no
# compiler and no system libraries are needed. Bytecode is compiled here because the
# running container's file system is read-only.
RUN /opt/imageboard/bin/pip install . \
    && /opt/imageboard/bin/python -m compileall -q /opt/imageboard/lib

# --- edge: NGINX in front (unprivileged: uid 101, port 8080) ------------------------------
FROM nginxinc/nginx-unprivileged:1.27-alpine AS edge
USER root
RUN rm -f /etc/nginx/conf.d/default.conf
COPY deploy/nginx/nginx.conf /etc/nginx/nginx.conf
COPY deploy/nginx/snippets/ /etc/nginx/snippets/
COPY deploy/nginx/templates/ /etc/nginx/templates/
COPY src/imageboard/web/static/ /srv/imageboard/static/
# The entrypoint renders templates/*.template into conf.d/ with these (override at run time).
ENV IMAGEBOARD_WEB_UPSTREAM=web:8080 \
    IMAGEBOARD_REALTIME_UPSTREAM=realtime:8080 \
    IMAGEBOARD_MEDIA_UPSTREAM=web:8080 \
    IMAGEBOARD_STATIC_ROOT=/srv/imageboard/static \
    IMAGEBOARD_MAX_BODY_BYTES=33554432 \
    NGINX_STATE_DIR=/var/cache/nginx \
    NGINX_HTTP_LISTEN=8080 \
    NGINX_TRUSTED_PROXY=127.0.0.1/32
USER 101
EXPOSE 8080

# --- runtime: the site -------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 imageboard \
    && useradd --system --uid 10001 --gid imageboard --home-dir /data --shell /usr/sbin/nologin imageboard \
    && mkdir -p /data \
    && chown imageboard:imageboard /data
COPY --from=build /opt/imageboard /opt/imageboard
ENV PATH=/opt/imageboard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IMAGEBOARD_DATA_DIR=/data \
    IMAGEBOARD_HOST=0.0.0.0 \
    IMAGEBOARD_PORT=8080 \
    IMAGEBOARD_ENVIRONMENT=production \
    IMAGEBOARD_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IMAGEBOARD_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["imageboard"]
CMD ["serve", "--role", "all"]
