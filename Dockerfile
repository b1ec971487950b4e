# syntax=docker/dockerfile:1
# The `portway` server as a container image: the gateway, the SQLite store and the admin API.
#
#   docker build -t portway .
#   printf '%s' "$(openssl rand -hex 32)" > admin-token
#   docker run -d --name portway -p 8080:8080 -p 127.0.0.1:9090:9090 \
#       -v portway-data:/var/lib/portway \
#       -v "$PWD/admin-token:/run/secrets/portway-admin-token:ro" \
#       -e PORTWAY_ADMIN_TOKEN_FILE=/run/secrets/portway-admin-token \
#       -e PORTWAY_DOMAIN=preview.example.com \
#       portway
#
# Both listeners bind 0.0.0.0 inside the container, and the server refuses to start an admin
# API on a non-loopback address without a token: give one with PORTWAY_ADMIN_TOKEN_FILE (a
# mounted secret, as above, readable by uid 10001) or PORTWAY_ADMIN_TOKEN, not both. Every
# other setting of `portway serve` is a PORTWAY_* variable too (docs/spec/server.md), and
# docs/install.md says more. Needs BuildKit (Docker 23 or newer uses it by default). Nothing
# in `make test` builds this image: it has not been built in this repository's CI.

# ---- build -------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: cargo reads every member's manifest (.dockerignore keeps build output,
# dependencies and dist/ out of the context).
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p portway-cli \
    && install -D -m 0755 target/release/portway /out/portway \
    && strip /out/portway

# ---- run ---------------------------------------------------------------------------------
FROM debian:bookworm-slim
# curl for the health check, and nothing else (Debian's current curl: not pinned).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 portway \
    && useradd --uid 10001 --gid portway --no-create-home --home-dir /var/lib/portway \
        --shell /usr/sbin/nologin portway \
    && install -d -o portway -g portway -m 0750 /var/lib/portway
COPY --from=build /out/portway /usr/local/bin/portway
COPY LICENSE README.md CHANGELOG.md /usr/share/doc/portway/

# The settings `portway serve` reads from the environment (flags, a --config file and the
# rest of PORTWAY_* work as anywhere). The defaults outside a container are 127.0.0.1:8080,
# 127.0.0.1:9090 and ./portway.db.
ENV PORTWAY_LISTEN=0.0.0.0:8080 \
    PORTWAY_ADMIN_LISTEN=0.0.0.0:9090 \
    PORTWAY_DOMAIN=localhost \
    PORTWAY_STORE=/var/lib/portway/portway.db \
    PORTWAY_ACCESS_LOG=stdout

USER 10001:10001
WORKDIR /var/lib/portway
# The store (portway.db and its -wal and -shm files): exposures survive the container.
VOLUME ["/var/lib/portway"]
# 8080: the gateway (preview URLs); 9090: the admin API (publish it only where it is needed).
EXPOSE 8080 9090

# GET /healthz on the admin listener needs no token. The port is the one PORTWAY_ADMIN_LISTEN
# names, so the check follows it when it is changed at `docker run` (hence the shell form).
# hadolint ignore=DL3025
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORTWAY_ADMIN_LISTEN##*:}/healthz" || exit 1

# SIGTERM (docker stop) shuts down gracefully: in-flight requests get --shutdown-timeout
# (10s by default, docker stop's own default grace period).
ENTRYPOINT ["portway"]
CMD ["serve"]
