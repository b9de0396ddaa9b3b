# Orchestrator: a Slack chat-ops bot. Runs TypeScript directly with tsx (no build output to keep in sync).
FROM node:20-bookworm-slim AS check
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run typecheck

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data ORCH_CONFIG=/app/orchestrator.yaml
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=check /app/src ./src
COPY tsconfig.json ./
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
CMD ["node", "--import", "tsx", "src/main.ts"]
