# The image 02-patroni.yaml runs: Debian 12's Patroni 3.0 and PostgreSQL 15, the same packages as on machines
# (../install-debian.sh). Build and push it yourself, then set the image in 02-patroni.yaml:
#   docker build -f patroni.Dockerfile -t registry.example.com/tabula/patroni:15 . && docker push …
FROM debian:bookworm-slim
# A fixed uid/gid for postgres, so the pods' securityContext (runAsUser/fsGroup 999) matches the data it owns.
# Debian's image refuses service starts during the build (policy-rc.d), so no server runs here; the
# default cluster 15/main that postgresql-15 creates is dropped (Patroni creates its own on the volume).
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && apt-get update \
 && apt-get install -y --no-install-recommends patroni postgresql-15 ca-certificates \
 && if pg_lsclusters -h | grep -q '^15 main'; then pg_dropcluster 15 main; fi \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
USER 999:999
EXPOSE 5432 8008
ENTRYPOINT ["/usr/bin/patroni", "/etc/patroni/patroni.yml"]
