# stacksweep container image: a locked release build on the same toolchain CI uses
# (tests/cli/deploy.rs checks this file against .ci/run), run as a non-root user on a
# distroless base that carries CA certificates.
FROM rust:1.95-bookworm AS build
# etcd-client's build compiles etcd's gRPC API with protoc (and its well-known types).
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sim ./sim
COPY benches ./benches
RUN cargo build --release --locked --bin stacksweep

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/stacksweep /usr/local/bin/stacksweep
USER nonroot:nonroot
# clouds.yaml is mounted here from a Secret (see config/kubernetes/).
ENV OS_CLIENT_CONFIG_FILE=/etc/openstack/clouds.yaml
EXPOSE 9187
ENTRYPOINT ["stacksweep"]
CMD ["--help"]
