# The control services (ingest, scheduler, janitor), the dashboard and the CLI in one image.
# hostd runs on metal (systemd), not in a container: it needs KVM, taps and nftables.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY proto proto
COPY packages packages
COPY services services
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app /app
# Non-root: the control services need no privileges at all.
USER node
EXPOSE 8080 9102 9104 9110
# compose.yaml picks the service: node services/<name>/dist/main.js
CMD ["node", "packages/cli/dist/main.js", "--help"]
