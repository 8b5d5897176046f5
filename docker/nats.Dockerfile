# NATS with JetStream, from Debian's nats-server package, on the same base as
# the relay's image (no registry needed).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nats-server \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin natsd \
 && mkdir /data && chown natsd:natsd /data
# A new named volume takes this folder's owner, so the store is writable.
VOLUME /data
USER natsd
EXPOSE 4222 8222
# /healthz answers ok once JetStream is ready; bash's /dev/tcp saves an HTTP
# client in the image.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8222 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '\"ok\"' <&3"]
CMD ["nats-server", "--jetstream", "--store_dir", "/data", "--http_port", "8222"]
