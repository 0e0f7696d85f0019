#!/bin/sh
# The tools tests/e2e/test_k8s_manifests.sh checks k8s/ with, installed only
# when missing (needs root for apt):
#   kubectl               renders k8s/ (`kubectl kustomize`, offline)
#   kubernetes-models     (npm) Kubernetes' OpenAPI schemas compiled to
#                         validators: types, required fields, formats
#   python3-kubernetes    (Debian) the API's models: their attribute maps
#                         name every known field, so an unknown or misplaced
#                         field is caught (the schemas above allow them)
# The npm package goes to $K8S_TOOLS (default /var/cache/edgemesh-c/k8s-validate),
# outside the checkout.  Prints that directory.
set -e
D=${K8S_TOOLS:-/var/cache/edgemesh-c/k8s-validate}
# only what is missing: a Node.js from elsewhere (NodeSource's bundles npm)
# conflicts with Debian's npm package, so asking for both would fail
pkgs=
/usr/bin/python3 -c 'import kubernetes.client, yaml' 2>/dev/null ||
	pkgs="python3-kubernetes python3-yaml"
command -v node >/dev/null || pkgs="$pkgs nodejs"
command -v npm >/dev/null || pkgs="$pkgs npm"
if [ -n "$pkgs" ]; then
	# shellcheck disable=SC2086 # a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$pkgs >/dev/null
fi
if [ ! -f "$D/node_modules/kubernetes-models/apps/v1/DaemonSet.js" ]; then
	mkdir -p "$D"
	(cd "$D" && npm install --silent --no-audit --no-fund \
		kubernetes-models@4.5.1 @kubernetes-models/validate@4.0.0 >/dev/null)
fi
command -v kubectl >/dev/null || { echo "k8s-tools.sh: kubectl missing" >&2; exit 1; }
echo "$D"
