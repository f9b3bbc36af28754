# syntax=docker/dockerfile:1
# Wendy daemon image: `docker build -t wendy:0.1.0 .` then run with the WENDY_* variables of
# docs/configuration.md. Runs as a non-root user and writes nothing to its root filesystem, so it works with
# readOnlyRootFilesystem (the Helm chart mounts an emptyDir on /tmp for libraries that want scratch space).

# The active LTS line of Node.js (26 since October 2026; 24 and 22 are in maintenance), the newest line CI
# tests (scripts/node-lines.sh). Any supported line works: --build-arg NODE_IMAGE=node:24-slim.
ARG NODE_IMAGE=node:26-slim

# Stage 1: compile TypeScript to dist/, and bundle the program (scripts/bundle.ts), with the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
COPY bin ./bin
COPY scripts/bundle.ts ./scripts/bundle.ts
RUN npm run build

# Stage 2: production dependencies only.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 3: the runtime image.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The .proto sources are read at run time (gRPC server reflection).
COPY proto ./proto
# A numeric, non-root user: the kubelet can only verify runAsNonRoot against a numeric UID.
USER 10001:10001
# Peer gRPC, client gRPC, metrics and health over HTTP.
EXPOSE 7070 7071 9464
# Node.js flags of a daemon: src/server/daemon/node-flags.ts says why (one V8 worker thread).
ENTRYPOINT ["node", "--v8-pool-size=1", "/app/bin/wendy.js"]
CMD ["start"]
