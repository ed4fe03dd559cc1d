# syntax=docker/dockerfile:1
#
# One image for every topofit command; the container arguments pick it:
#   serve (the default), agent, explain, validate-policy, version.
#
#   docker build -t topofit:0.1.0 .
#   docker run --rm topofit:0.1.0 version
#
# The runtime stage is a Debian slim Node.js image rather than distroless: the
# topology agent runs nvidia-smi, which the NVIDIA container toolkit mounts into
# the container and registers with the image's ldconfig. The process writes
# nothing outside /tmp, so it runs with a read-only root filesystem.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The image's own unprivileged "node" user, by number so that the kubelet can
# check runAsNonRoot without reading /etc/passwd.
USER 1000:1000
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["serve"]
