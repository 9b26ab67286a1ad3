# shellcheck shell=bash
# Source this file (`source scripts/libtorch.sh`) to make libtorch available to cargo.
#
# - If LIBTORCH is already set (for example a CUDA build of libtorch), it is used as is.
# - If LIBTORCH_USE_PYTORCH=1 is set, tch finds libtorch through the active Python's torch.
# - Otherwise the CPU build of PyTorch 2.13.0 (what tch 0.26 expects) is installed once from PyPI
#   into the git-ignored directory .libtorch/ of this checkout; later calls reuse it (no download).
#
# Exports LIBTORCH, LIBTORCH_CXX11_ABI and LD_LIBRARY_PATH.

GFN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GFN_TORCH_VERSION="2.13.0"
GFN_LIBTORCH_DIR="${GFN_LIBTORCH_DIR:-$GFN_ROOT/.libtorch}"

gfn_install_libtorch() {
  local target="$GFN_LIBTORCH_DIR/py"
  local stamp="$GFN_LIBTORCH_DIR/installed-$GFN_TORCH_VERSION"
  if [ -f "$stamp" ] && [ -f "$target/torch/lib/libtorch_cpu.so" ]; then
    return 0
  fi
  echo "gfn: installing libtorch $GFN_TORCH_VERSION (CPU) into $GFN_LIBTORCH_DIR (one time, ~540 MB)" >&2
  rm -rf "$target"
  mkdir -p "$GFN_LIBTORCH_DIR"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$target" \
    "torch==$GFN_TORCH_VERSION" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 >&2 || {
    echo "gfn: libtorch installation failed (needs python3 with pip and access to PyPI)" >&2
    return 1
  }
  touch "$stamp"
}

if [ -n "${LIBTORCH:-}" ]; then
  echo "gfn: using LIBTORCH=$LIBTORCH" >&2
  export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
elif [ "${LIBTORCH_USE_PYTORCH:-}" = "1" ]; then
  GFN_PY_TORCH_LIB="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" || return 1
  export LD_LIBRARY_PATH="$GFN_PY_TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  gfn_install_libtorch || return 1
  export LIBTORCH="$GFN_LIBTORCH_DIR/py/torch"
  export LIBTORCH_CXX11_ABI=1
  export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
