# Sourced by scripts/test and scripts/bench-seh-frag: installs the Python helpers once into the
# git-ignored .pytools/ — examples/reward-server/requirements.txt: grpcio + grpcio-tools for the
# Python client test and the reference reward server, RDKit for its QED, numpy to convert the
# proxy weights; scripts/reference/requirements.txt: pymoo, a reference for the tests — and
# converts the published sEH proxy weights (../shared/data, never copied into the repository)
# once from their pickle into .cache/seh_proxy.safetensors.
pytools="$PWD/.pytools"
requirements="$PWD/examples/reward-server/requirements.txt"
references="$PWD/scripts/reference/requirements.txt"
marker="$pytools/.installed-$(cat "$requirements" "$references" | sha256sum | cut -c1-12)"
if [ ! -f "$marker" ]; then
  echo "gfn: installing $requirements and $references into $pytools" >&2
  rm -rf "$pytools"
  python3 -m pip install --quiet --disable-pip-version-check --target "$pytools" -r "$requirements" -r "$references" >&2
  touch "$marker"
fi
export GFN_PYTHONPATH="$pytools"

export GFN_SHARED_DATA="${GFN_SHARED_DATA:-$PWD/../shared/data}"
export GFN_SEH_PROXY_WEIGHTS="${GFN_SEH_PROXY_WEIGHTS:-$PWD/.cache/seh_proxy.safetensors}"
# RDKit's SA fragment table (in the rdkit package installed above), for `gfn score` and the SA objective.
export GFN_SA_FRAGMENT_SCORES="${GFN_SA_FRAGMENT_SCORES:-$pytools/rdkit/Contrib/SA_Score/fpscores.pkl.gz}"
if [ ! -f "$GFN_SEH_PROXY_WEIGHTS" ]; then
  if [ ! -f "$GFN_SHARED_DATA/seh/seh_proxy_bengio2021.pkl.gz" ]; then
    echo "gfn: $GFN_SHARED_DATA/seh/seh_proxy_bengio2021.pkl.gz not found: set GFN_SHARED_DATA to the" \
      "folder holding seh/ and fragments/ (see README, Molecule data)" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$GFN_SEH_PROXY_WEIGHTS")"
  PYTHONPATH="$pytools" python3 scripts/convert_seh_proxy.py \
    "$GFN_SHARED_DATA/seh/seh_proxy_bengio2021.pkl.gz" "$GFN_SEH_PROXY_WEIGHTS"
fi
