#!/bin/sh
# Demo security scan: prints a small Trivy-shaped JSON report instead of scanning.
cat <<'JSON'
{"SchemaVersion":2,"ArtifactName":".","ArtifactType":"filesystem","Results":[{"Target":"package-lock.json","Class":"lang-pkgs","Type":"npm","Vulnerabilities":[{"VulnerabilityID":"CVE-2026-0001","PkgName":"example-lib","InstalledVersion":"1.2.3","FixedVersion":"1.2.4","Severity":"MEDIUM","Title":"Example moderate issue (demo data)"}]}]}
JSON
