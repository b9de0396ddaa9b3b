#!/bin/sh
# Demo deploy: waits a moment and says what it would deploy. Replace with your real deploy.
set -eu
environment="$1"
version="$2"
echo "Deploying pea-forecast ${version} to ${environment} (demo: nothing is changed)"
sleep 1
echo "helm upgrade --install pea-forecast ./infrastructure/helm/pea-re-forecast -f values-${environment}.yaml --set image.tag=${version}"
echo "Rollout of ${version} to ${environment} complete"
