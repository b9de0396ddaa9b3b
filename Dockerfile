# Orchestrator: a Slack chat-ops bot. The build stage type-checks and bundles the code (scripts/build.mjs);
# the final stage runs the bundle with production dependencies only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run typecheck && npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data ORCH_CONFIG=/app/orchestrator.yaml
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY src/sandbox/console ./src/sandbox/console
COPY migrations ./migrations
COPY prompts ./prompts
COPY scripts ./scripts
COPY orchestrator.yaml ./
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Migrations from migrations/ are applied at start-up, on PostgreSQL (DATABASE_URL) or embedded PGlite (DATA_DIR).
CMD ["node", "--enable-source-maps", "dist/main.js"]
