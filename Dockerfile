# Multi-stage build of the `lagesbild` binary. Untested here (no Docker engine on the
# development machines); see the README.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src
COPY src src
COPY migrations migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/lagesbild --create-home lagesbild
COPY --from=build /src/target/release/lagesbild /usr/local/bin/lagesbild
USER lagesbild
WORKDIR /var/lib/lagesbild
ENV LAGESBILD_BIND=0.0.0.0:8080 \
    LAGESBILD_DATA_DIR=/var/lib/lagesbild \
    LAGESBILD_LOG_FORMAT=json
# The access-token key is generated once into $LAGESBILD_DATA_DIR/jwt-signing.key: mount a
# volume here (docker-compose.yml does), or give LAGESBILD_JWT_SECRET_FILE, or every new
# container gets a new key and signs everyone out.
EXPOSE 8080
# No curl in this image: the binary asks /health/ready itself (at LAGESBILD_BIND, with
# 0.0.0.0 meaning 127.0.0.1) and exits 0 on 200, 1 otherwise.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["lagesbild", "healthcheck"]
# SIGTERM drains in-flight requests (LAGESBILD_SHUTDOWN_TIMEOUT_SECS, default 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["lagesbild"]
CMD ["serve"]
