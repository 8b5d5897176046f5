# Prometheus from Debian's package, on the same base as the relay's image,
# scraping the compose demo's relays (docker/prometheus.yml).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir /prometheus && chown prometheus:prometheus /prometheus
COPY docker/prometheus.yml /etc/prometheus/relay-demo.yml
VOLUME /prometheus
USER prometheus
EXPOSE 9090
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /-/ready HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
CMD ["prometheus", "--config.file=/etc/prometheus/relay-demo.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=0.0.0.0:9090"]
