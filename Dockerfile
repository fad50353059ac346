# keysift's own image: built on Debian bookworm, run on bookworm-slim with
# only the libraries the binary links, as an unprivileged user.
#
#   docker build -t keysift .
#   docker run --rm -v "$PWD:/src:ro" keysift scan /src
#
# The run-time package list below must name the package of every library
# the binary needs; tests/e2e/suite_slurm.sh checks it against the build.

FROM debian:bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make deps-build \
 && make -j"$(nproc)" \
 && make install PREFIX=/usr/local DESTDIR=/out

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends \
        libhyperscan5 libarchive13 libjansson4 libyaml-0-2 libpcre2-8-0 \
        libzstd1 libcurl4 libisal2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent \
        --shell /usr/sbin/nologin keysift
COPY --from=build /out/usr/local/bin/keysift /usr/local/bin/keysift
USER 10001:10001
# The compiled rules are cached here; mount a volume to keep them.
ENV KEYSIFT_CACHE_DIR=/tmp/keysift-cache
ENTRYPOINT ["keysift"]
CMD ["--help"]
