# One image for every Docket process role; the role is the command: docket api | projector | relay.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY domain ./domain
COPY commands ./commands
COPY projections ./projections
COPY api ./api
COPY workers ./workers
RUN pip install . && rm -rf /src

# Not root. The data dir holds uploaded attachments (mount a volume there); the database, NATS
# and the secrets come from the environment (see compose.yaml and deploy/README.md).
RUN useradd --system --create-home --home-dir /var/lib/docket docket
USER docket
WORKDIR /var/lib/docket
ENV DOCKET_DATA_DIR=/var/lib/docket \
    DOCKET_HTTP_HOST=0.0.0.0 \
    DOCKET_HTTP_PORT=8000
EXPOSE 8000

ENTRYPOINT ["docket"]
CMD ["--help"]
