# driftwatch in a container: `docker build -t driftwatch .`, then
# `docker run --rm -v /srv/drift-state:/state -e DRIFTWATCH_CONFIG=/state/driftwatch.toml ... driftwatch run`
# (README, "Operating driftwatch"). The state repository is a volume; secrets come from the environment.
FROM python:3.11-slim

# GitPython drives the git command; ca-certificates for HTTPS remotes, openssh-client for SSH ones.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY driftwatch ./driftwatch
RUN pip install --no-cache-dir . && rm -rf /src

# A mounted state repository is owned by another user id: tell git that it is safe to use.
RUN git config --system --add safe.directory /state \
    && useradd --create-home --uid 10001 driftwatch
USER driftwatch
WORKDIR /state
ENV DRIFTWATCH_CONFIG=/state/driftwatch.toml

ENTRYPOINT ["driftwatch"]
CMD ["run"]
