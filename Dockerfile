# syntax=docker/dockerfile:1

# Build a static binary: SQLite is pure Go, so CGO is off.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git stays out of the context, so the version comes from the build
# argument: docker build --build-arg VERSION="$(git describe --always --dirty)"
ARG VERSION
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/latch ./cmd/latch \
 && mkdir -p /out/data

# Run as the distroless non-root user (uid 65532), with CA certificates.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/latch /latch
# An empty /data owned by nonroot, so that a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data

# Listening on all interfaces is not loopback, so Latch refuses to start with
# the default http:// issuer. The operator sets LATCH_ISSUER to the public
# https URL (TLS ends at a proxy or load balancer), for example
#   docker run -e LATCH_ISSUER=https://auth.example.com -e LATCH_SECRET=... latch
# or sets LATCH_TLS_CERT and LATCH_TLS_KEY to serve TLS itself.
# Without LATCH_SECRET, the key is generated into /data/latch.db.secret.
ENV LATCH_ADDR=0.0.0.0:8080 \
    LATCH_DATABASE_URL=sqlite:/data/latch.db
# The SQLite database and its secret live here.
VOLUME /data
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/latch"]
CMD ["serve"]
