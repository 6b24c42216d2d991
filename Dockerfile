# callcenter: SIP front + media workers + API in one container.
# docker build -t callcenter . && docker run --network host -v cc-data:/srv/callcenter/data callcenter
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/callcenter
COPY setup.cfg pyproject.toml README.md ./
COPY callcenter ./callcenter
RUN pip install --no-cache-dir .
COPY ivr_flows ./ivr_flows
RUN mkdir -p data recordings && useradd --system --home /srv/callcenter callcenter \
 && chown -R callcenter data recordings
USER callcenter

# SIP (UDP+TCP), HTTP API; RTP uses 20000+ (40 ports per media worker).
EXPOSE 5060/udp 5060/tcp 8080/tcp
VOLUME ["/srv/callcenter/data", "/srv/callcenter/recordings"]
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1
ENTRYPOINT ["callcenter"]
CMD ["serve"]
