# agentrun's two images, from one build context that `./dev image` prepares on the host
# (.data/images/context: the Node 24 binary, production node_modules, the sources), so
# the build itself reaches no package registry:
#
#   --target app     the API (`node src/api/main.ts`, the default command) and the worker
#                    (`node src/worker/main.ts`), with the workflow bundle prebuilt
#   --target runner  a tool Job's entrypoint (`node src/runner/main.ts pull|exec|push`):
#                    only the runner's own modules and the npm packages they import
#   --target runner-browser  the same runner with Debian's Chromium: the browser tool's
#                    Jobs (K8S_BROWSER_IMAGE)
#
# BASE_IMAGE is a pinned public Debian for real builds; `./dev image` passes its local
# Debian base (mmdebstrap) instead: buildah bud --build-arg BASE_IMAGE=… --target app …
ARG BASE_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
# The browser runner's base: BASE_IMAGE unless given one that has Chromium (`./dev image` does).
ARG BROWSER_BASE_IMAGE=${BASE_IMAGE}

# hadolint cannot see through the ARG: BASE_IMAGE is pinned by digest above.
# hadolint ignore=DL3006
FROM ${BASE_IMAGE} AS base

# tini reaps children and forwards signals (PID 1); from the base if it has it, else apt.
FROM base AS tini
RUN if ! command -v tini >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 && rm -rf /var/lib/apt/lists/*; \
    fi && cp "$(command -v tini)" /tini

# The workflow bundle, built once here so workers do not run webpack at start.
FROM base AS bundle
COPY node/bin/node /usr/local/bin/node
WORKDIR /app
COPY app/ ./
RUN node src/worker/bundle.ts /app/workflow-bundle.js

FROM base AS node
COPY --from=tini /tini /usr/bin/tini
COPY node/bin/node /usr/local/bin/node
ENV NODE_ENV=production HOME=/tmp
WORKDIR /app
ENTRYPOINT ["/usr/bin/tini", "--"]

# The app image: API by default; `node src/worker/main.ts` runs the worker.
FROM node AS app
COPY app/ ./
COPY --from=bundle /app/workflow-bundle.js /app/workflow-bundle.js
# API_HOST is the deployment's to set (k8s/base/api.yaml: 0.0.0.0, with auth): the worker, from the
# same image, then needs no API settings.
ENV WORKFLOW_BUNDLE_PATH=/app/workflow-bundle.js
USER 10001:10001
EXPOSE 18080
# The API's /healthz, or the worker's /metrics when WORKER_METRICS_PORT is fixed (scripts/healthcheck.js).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.js"]
CMD ["node", "src/api/main.ts"]

# The runner image: no API, worker, activity or workflow code.
FROM node AS runner
COPY runner/ ./
# The uid the Job manifest runs tool pods as (src/sandbox/kubernetes/manifest.ts RUNNER_UID).
USER 65532:65532
CMD ["node", "src/runner/main.ts"]

# The browser runner: the runner plus Debian's Chromium (from the base when it has it, else apt).
# hadolint ignore=DL3006
FROM ${BROWSER_BASE_IMAGE} AS runner-browser
RUN if ! command -v chromium >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends chromium=156.0.8078.114-1~deb12u1 fonts-dejavu-core=2.37-6 && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=tini /tini /usr/bin/tini
COPY node/bin/node /usr/local/bin/node
ENV NODE_ENV=production HOME=/tmp
WORKDIR /app
COPY runner/ ./
USER 65532:65532
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "src/runner/main.ts"]
