# Sourced by scripts/test: what tests/tests/deploy.rs needs to check the deployment offline.
# - kubernetes-validate (PyPI) with its bundled Kubernetes API schemas, installed once into the
#   git-ignored .pytools/deploy and exported as GFN_KUBERNETES_VALIDATE (a PYTHONPATH);
# - kubectl, for `kubectl kustomize` (kustomize v5). Used from PATH; this project's machines have
#   it (package kubectl). Without it the deploy tests fail and say so.
deploy_tools="$PWD/.pytools/deploy"
if [ ! -f "$deploy_tools/.installed-1" ]; then
  echo "gfn: installing kubernetes-validate into $deploy_tools" >&2
  rm -rf "$deploy_tools"
  python3 -m pip install --quiet --disable-pip-version-check --target "$deploy_tools" \
    kubernetes-validate==1.37.0 >&2
  touch "$deploy_tools/.installed-1"
fi
export GFN_KUBERNETES_VALIDATE="$deploy_tools"
if ! command -v "${GFN_KUBECTL:-kubectl}" >/dev/null; then
  echo "gfn: kubectl not found (needed for 'kubectl kustomize' in tests/tests/deploy.rs);" \
    "install the kubectl package or set GFN_KUBECTL" >&2
fi
