#!/bin/sh
# Demo deploy: waits a moment and says what it would deploy. Replace with your real deploy.
# A version containing "fail" (e.g. 1.4.1-fail.1) fails, to show a failed deploy and its Roll back button.
set -eu
environment="$1"
version="$2"
echo "Deploying pea-forecast ${version} to ${environment} (demo: nothing is changed)"
sleep 1
case "$version" in
  *fail*) echo "error: rollout of ${version} to ${environment} timed out waiting for pods (demo failure)" >&2; exit 3 ;;
esac
echo "helm upgrade --install pea-forecast ./infrastructure/helm/pea-re-forecast -f values-${environment}.yaml --set image.tag=${version}"
echo "Rollout of ${version} to ${environment} complete"
