# The same locked release binary the tests use, on a slim runtime image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gatehouse

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 gatehouse && install -d -o gatehouse /var/lib/gatehouse
# Tenant resources (SQLite) unless the configuration names another store.
ENV GATEHOUSE_DATA_DIR=/var/lib/gatehouse
VOLUME /var/lib/gatehouse
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
COPY config/ /etc/gatehouse/
USER gatehouse
# The embedded default binds loopback; in a container pass a configuration whose routes bind
# 0.0.0.0 (bindHost) and advertise a host clients can reach.
ENTRYPOINT ["gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
